"""Sampling plans: a request checked in full, its frame drawn from PostGIS, targets selected,
stored and returned (issue 6, items 1 and 3).

The modules: `request` (the pydantic request, `parse_request`), `create` (drawing and storing
a plan), `read` (plans, targets, area, the terminal text), `targets` (target status),
`access` (who may plan, read and change what), `vocab` (labels). Callers use the names
re-exported here (`plans.create_plan`, `plans.ROLE_LABELS`, ...).

How a plan is drawn (documented for users in README.md):

1. The request is checked completely before anything is written: area parts (area.py),
   commodities, test kind, risk factors, strata. One transaction writes the plan and its
   targets; a rejected request leaves no row behind.
2. The frame (candidates.py): entities growing a requested commodity whose main plot for it
   lies in the area, as numbers, ordered by (entity, commodity). Entities sampled in the last
   `exclude_sampled_days` days (a plan target marked sampled, or a rapid or lab test recorded)
   leave the frame; so do buyers.
3. Risk weight per unit: the product of the factors that apply (key-supervision list, a failed
   sampling in the last 12 months, the credit grade as of today), each with a zh-CN reason.
   Inclusion probabilities are proportional to the weight within a stratum (capped at 1).
4. Strata (township, grid or commodity, or none) get their sample sizes by the allocation
   (proportional, equal, or given numbers). Each stratum is then split into smallholders and
   the others: the smallholder part gets its proportional share but at least
   ceil(share x n_stratum) when the stratum has that many, and strata with smallholders to
   spare make up for strata without, so the base sample holds at least ceil(share x n)
   smallholders whenever the frame has enough. When it cannot, the plan is still drawn and
   says so (`smallholder.met` false and a message), unless the request sets
   `smallholder_strict`: then it is refused (422, field `smallholder_share`).
5. georeg.sampling.select draws the base targets and the ordered replacements with the seed;
   the same request, seed and data give the same plan. The seed is generated and stored when
   the request has none.

Who: county supervisors and administrators anywhere; a township supervisor's plan is clipped
to the township (and may name only that township and its grids). Reading: every signed-in
account; township accounts see the plans that touch their township, with only their
township's targets. Status changes: the roles that write to the registry, within their scope.
"""

from georeg.sampling.area import build_area  # callers (tests) reach it as plans.build_area
from georeg.sampling.plans.access import PLAN_ROLES, planning_scope, township_scope
from georeg.sampling.plans.create import (
    NO_RISK,
    Risk,
    SmallholderPlan,
    create_plan,
    smallholder_allocation,
)
from georeg.sampling.plans.read import (
    area_geojson,
    get_plan,
    links,
    list_plans,
    plan_text,
    target_rows,
)
from georeg.sampling.plans.request import (
    DEFAULT_SHARE,
    MAX_N,
    MAX_REPLACEMENTS,
    MAX_SEED,
    AreaIn,
    CircleIn,
    PlanRequest,
    RiskIn,
    parse_request,
)
from georeg.sampling.plans.targets import next_replacement, update_target
from georeg.sampling.plans.vocab import (
    NO_GRID,
    ROLE_LABELS,
    STATUS_LABELS,
    STRATIFY_LABELS,
    TEST_KIND_CATEGORIES,
    TEST_KIND_LABELS,
    TEST_KINDS,
)

__all__ = [
    "DEFAULT_SHARE", "MAX_N", "MAX_REPLACEMENTS", "MAX_SEED", "NO_GRID", "NO_RISK", "PLAN_ROLES",
    "ROLE_LABELS", "STATUS_LABELS", "STRATIFY_LABELS", "TEST_KINDS", "TEST_KIND_CATEGORIES",
    "TEST_KIND_LABELS", "AreaIn", "CircleIn", "PlanRequest", "Risk", "RiskIn", "SmallholderPlan",
    "area_geojson", "build_area", "create_plan", "get_plan", "links", "list_plans",
    "next_replacement", "parse_request", "plan_text", "planning_scope", "smallholder_allocation",
    "target_rows", "township_scope", "update_target",
]
