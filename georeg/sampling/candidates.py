"""The candidate frame of a sampling plan: one spatial query, numbers only.

The sampling unit is an entity that grows or raises the commodity, placed at its MAIN plot for
that commodity: the largest by area_mu (a tie goes to the lowest plot id), over all its plots
of the commodity, not only those in the area. So an owner of many plots counts once, and an
entity belongs to one place per commodity whatever area is drawn: it is in the frame when that
main plot's point (ST_PointOnSurface) lies in the area. With several commodities the unit is
(entity, commodity). Buyers are not growers and never enter a frame.

The query returns ids, projected x/y in metres and small codes, ordered by (entity, commodity),
so that the same request on the same data gives the same frame in the same order; no geometry
object leaves the database. Credit figures (the grade's score and failed samplings in the last
12 months) come from georeg.credit.rating's own SQL, so a plan weighs an entity by the grade the
credit record shows: read from the entity's stored standing (sql/012) when it is current for
the plan's day and rules (the normal case after the daily refresh), computed from its events
otherwise. The choice is per entity, inside the one query: an entity whose events changed
today was refreshed with them, so only the rest fall back when the daily refresh has not run;
a plan dated in the past computes every entity. An entity without a standing has no events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy import Connection, text

from georeg.credit.rating import (
    DEFAULT_RULES,
    FAILED_RECENT_MONTHS,
    STANDING_COLUMNS,
    RatingRules,
    counted_cte,
    standing_params,
)

FAILED_SAMPLE_MONTHS = FAILED_RECENT_MONTHS

# The {placeholders} take the fixed fragments below (frame_sql), never values.
_FRAME = """
WITH {counted}
hit AS (
    SELECT DISTINCT p.entity_id, p.commodity
    FROM plot p
    WHERE p.commodity = ANY(CAST(:commodities AS text[]))
      AND ST_Intersects(p.geom, ST_GeomFromEWKB(:area))),
unit AS (
    -- the entity is read here, inside the LIMIT 1 subquery, so that it is looked up by id
    -- for each unit (a merge join read the whole entity index instead: 0.25 s at 1M)
    SELECT h.entity_id, h.commodity, m.id AS plot_id, m.pt, m.township_code, m.grid_id,
           m.smallholder, m.key_supervision
    FROM hit h
    CROSS JOIN LATERAL (
        SELECT q.id, ST_PointOnSurface(q.geom) AS pt, q.township_code, q.grid_id,
               e.kind = 'smallholder' AS smallholder, e.key_supervision
        FROM plot q JOIN entity e ON e.id = q.entity_id
        WHERE q.entity_id = h.entity_id AND q.commodity = h.commodity AND e.kind <> 'buyer'
        ORDER BY q.area_mu DESC NULLS LAST, q.id
        LIMIT 1) m
    WHERE ST_Intersects(m.pt, ST_GeomFromEWKB(:area)))
SELECT u.entity_id, u.plot_id,
       ST_X(xy.g) AS x, ST_Y(xy.g) AS y,
       array_position(CAST(:commodities AS text[]), u.commodity) - 1 AS commodity,
       CAST(u.township_code AS bigint) AS township,
       coalesce(u.grid_id, -1) AS grid,
       u.smallholder,
       u.key_supervision,
       {credit_columns},
       {recent} AS recently_sampled
FROM unit u
CROSS JOIN LATERAL (SELECT ST_Transform(u.pt, CAST(:srid AS integer)) AS g) xy
{credit_join}
ORDER BY u.entity_id, u.commodity
"""

# A current standing is read as is; a stale or out-of-date one (another day, other rules) is
# recomputed from the entity's `counted` rows (the rating's CTE, inlined by the planner and
# read through credit_event's (entity_id, occurred_on) index). The lateral's WHERE on the
# standing alone becomes a one-time filter: current entities read no events at all.
_CREDIT_COLUMNS = """CASE WHEN cs.entity_id IS NULL THEN NULL
            WHEN cs.as_of = :day AND cs.rules = :rules_key THEN cs.score
            ELSE c.score END AS score,
       CASE WHEN cs.entity_id IS NULL THEN 0
            WHEN cs.as_of = :day AND cs.rules = :rules_key THEN cs.failed_recent
            ELSE c.failed END AS failed"""
_CREDIT_JOIN = f"""
LEFT JOIN credit_standing cs ON cs.entity_id = u.entity_id
LEFT JOIN LATERAL (
    SELECT {STANDING_COLUMNS}
    FROM counted k
    WHERE k.entity_id = u.entity_id AND cs.entity_id IS NOT NULL
      AND (cs.as_of IS DISTINCT FROM CAST(:day AS date)
           OR cs.rules IS DISTINCT FROM CAST(:rules_key AS text))) c ON true
"""
_NO_CREDIT = "NULL AS score, 0 AS failed"
# Sampled lately: a plan target marked sampled, or a rapid or lab test recorded (sql/009),
# on a day in (today - D, today], China Standard Time.
_RECENT = """(EXISTS (SELECT 1 FROM sampling_plan_target s
                WHERE s.entity_id = u.entity_id AND s.status = 'sampled'
                  AND s.status_on > :sampled_after)
        OR EXISTS (SELECT 1 FROM rapid_test r
                   WHERE r.entity_id = u.entity_id AND r.sampled_on > :sampled_after)
        OR EXISTS (SELECT 1 FROM lab_sample l
                   WHERE l.entity_id = u.entity_id AND l.sampled_on > :sampled_after))"""


@dataclass(frozen=True)
class Frame:
    """One row per unit, aligned arrays, ordered by (entity_id, commodity)."""
    entity_id: np.ndarray  # int64
    plot_id: np.ndarray  # int64
    x: np.ndarray  # metres, in the plan's Gauss-Kruger zone
    y: np.ndarray
    commodity: np.ndarray  # int: index into the requested commodity list
    township: np.ndarray  # int64: the 12-digit code as a number
    grid: np.ndarray  # int64; -1 outside every grid
    smallholder: np.ndarray  # bool
    key_supervision: np.ndarray  # bool
    score: np.ndarray  # float: credit score as of today (base when no events)
    grade: np.ndarray  # str: credit grade
    failed: np.ndarray  # int: failed samplings in the last 12 months
    recently_sampled: np.ndarray  # bool: inside the exclusion window

    def __len__(self) -> int:
        return len(self.entity_id)

    def take(self, keep: np.ndarray) -> Frame:
        return Frame(**{name: getattr(self, name)[keep]
                        for name in self.__dataclass_fields__})


def frame_sql(*, with_credit: bool, exclude: bool) -> str:
    return _FRAME.format(
        counted=counted_cte(filtered=False) + "," if with_credit else "",
        credit_columns=_CREDIT_COLUMNS if with_credit else _NO_CREDIT,
        credit_join=_CREDIT_JOIN if with_credit else "",
        recent=_RECENT if exclude else "false")


def frame_params(*, area_ewkb: bytes, commodities: Sequence[str], srid: int, today: date,
                 exclude_days: int, with_credit: bool,
                 rules: RatingRules = DEFAULT_RULES) -> dict[str, object]:
    params: dict[str, object] = {
        "area": area_ewkb, "commodities": list(commodities), "srid": srid}
    if exclude_days > 0:
        params["sampled_after"] = today - timedelta(days=exclude_days)
    if with_credit:
        params |= standing_params(rules, today)
    return params


def fetch_frame(conn: Connection, *, area_ewkb: bytes, commodities: Sequence[str], srid: int,
                today: date, exclude_days: int, with_credit: bool,
                rules: RatingRules = DEFAULT_RULES) -> Frame:
    """The frame in one round trip; `with_credit` False skips the credit record (no weights
    depend on it), which is the costly part on a large frame."""
    params = frame_params(area_ewkb=area_ewkb, commodities=commodities, srid=srid, today=today,
                          exclude_days=exclude_days, with_credit=with_credit, rules=rules)
    sql = frame_sql(with_credit=with_credit, exclude=exclude_days > 0)
    rows = conn.execute(text(sql), params).all()
    n = len(rows)
    cols = list(zip(*rows, strict=True)) if n else [()] * 12
    # no credit record (or not asked for): the base score
    base = float(rules.clamp(Decimal(rules.base)))
    score = np.array([base if v is None else float(v) for v in cols[9]], dtype=float)
    return Frame(
        entity_id=np.array(cols[0], dtype=np.int64),
        plot_id=np.array(cols[1], dtype=np.int64),
        x=np.array(cols[2], dtype=float),
        y=np.array(cols[3], dtype=float),
        commodity=np.array(cols[4], dtype=np.int64),
        township=np.array(cols[5], dtype=np.int64),
        grid=np.array(cols[6], dtype=np.int64),
        smallholder=np.array(cols[7], dtype=bool),
        key_supervision=np.array(cols[8], dtype=bool),
        score=score,
        grade=grades_of(score, rules),
        failed=np.array(cols[10], dtype=np.int64),
        recently_sampled=np.array(cols[11], dtype=bool))


def grades_of(score: np.ndarray, rules: RatingRules = DEFAULT_RULES) -> np.ndarray:
    """RatingRules.grade_of over an array: the first threshold (highest first) reached."""
    out = np.full(len(score), rules.lowest_grade, dtype=object)
    for grade, threshold in reversed(rules.grades):
        out[score >= threshold] = grade
    return out
