"""Drawing a plan and storing it: the frame, risk weights, strata and the smallholder split,
the draw, then one INSERT for the plan and one for its targets (the steps are in the package
docstring, georeg/sampling/plans/__init__.py)."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from georeg.accounts import Account
from georeg.credit.rating import DEFAULT_RULES, RatingRules
from georeg.crs import normalize_crs
from georeg.sampling import allocate, select, srs_balance_mean
from georeg.sampling.area import Circle, PlanArea, build_area, gauss_kruger_srid
from georeg.sampling.candidates import FAILED_SAMPLE_MONTHS, Frame, fetch_frame
from georeg.sampling.plans.access import planning_scope
from georeg.sampling.plans.read import get_plan
from georeg.sampling.plans.request import PlanRequest, RiskIn
from georeg.sampling.plans.vocab import NO_GRID, TEST_KIND_CATEGORIES, TEST_KIND_LABELS
from georeg.validation import invalid


@dataclass(frozen=True)
class Risk:
    key_supervision: float
    failed_sample: float
    grade: Mapping[str, float]

    @property
    def needs_credit(self) -> bool:
        return self.failed_sample != 1 or any(f != 1 for f in self.grade.values())

    def weights(self, frame: Frame) -> np.ndarray:
        w = np.where(frame.key_supervision, self.key_supervision, 1.0)
        w = w * np.where(frame.failed > 0, self.failed_sample, 1.0)
        factors = np.array([self.grade.get(g, 1.0) for g in frame.grade], dtype=float)
        return w * factors if len(frame) else w

    def reasons(self, frame: Frame, i: int) -> list[str]:
        out = []
        if frame.key_supervision[i] and self.key_supervision != 1:
            out.append(f"重点监管名单（×{self.key_supervision:g}）")
        if frame.failed[i] > 0 and self.failed_sample != 1:
            out.append(f"近 {FAILED_SAMPLE_MONTHS} 个月抽检不合格 {int(frame.failed[i])} 次"
                       f"（×{self.failed_sample:g}）")
        factor = self.grade.get(str(frame.grade[i]), 1.0)
        if factor != 1:
            out.append(f"信用等级 {frame.grade[i]}（×{factor:g}）")
        return out


NO_RISK = Risk(1.0, 1.0, {})


def _risk(r: RiskIn | None) -> Risk:
    if r is None:
        return NO_RISK
    return Risk(r.key_supervision, r.failed_sample, dict(r.grade))
def _check_commodities(conn: Connection, req: PlanRequest) -> list[str]:
    slugs = list(dict.fromkeys(req.commodities))  # order kept, repeats dropped
    rows = dict(conn.execute(text("SELECT slug, category FROM commodity WHERE slug = ANY(:s)"),
                             {"s": slugs}).all())
    unknown = [s for s in slugs if s not in rows]
    if unknown:
        raise invalid("commodities", "unknown_commodity", "未知的品种代码：" + "、".join(unknown))
    allowed = TEST_KIND_CATEGORIES.get(req.test_kind)
    if allowed is not None:
        wrong = [s for s in slugs if rows[s] not in allowed]
        if wrong:
            raise invalid("test_kind", "not_for_commodity",
                           f"{TEST_KIND_LABELS[req.test_kind]}不适用于这些品种："
                           + "、".join(wrong))
    return slugs
def _strata_keys(frame: Frame, by: str | None, commodities: Sequence[str]) -> np.ndarray:
    if by is None:
        return np.full(len(frame), "all", dtype=object)
    if by == "township":
        return np.array([f"{t:012d}" for t in frame.township], dtype=object)
    if by == "grid":
        return np.array([NO_GRID if g < 0 else str(g) for g in frame.grid], dtype=object)
    return np.array([commodities[c] for c in frame.commodity], dtype=object)


def _stratum_labels(conn: Connection, by: str | None, keys: Sequence[str]) -> dict[str, str]:
    if by is None:
        return {"all": "全部"}
    if by == "township":
        return dict(conn.execute(text("SELECT code, name FROM township WHERE code = ANY(:k)"),
                                 {"k": list(keys)}).all())
    if by == "grid":
        ids = [int(k) for k in keys if k != NO_GRID]
        labels = {str(i): name for i, name in conn.execute(
            text("SELECT id, name FROM grid WHERE id = ANY(:k)"), {"k": ids}).all()}
        return labels | {NO_GRID: "未划入网格"}
    return dict(conn.execute(text("SELECT slug, name_zh FROM commodity WHERE slug = ANY(:k)"),
                             {"k": list(keys)}).all())


@dataclass(frozen=True)
class SmallholderPlan:
    share: float
    required: int
    per_stratum: list[int]  # smallholders in each stratum's base sample
    met: bool  # by the allocation (the draw then selects exactly these numbers)
    message: str | None


def smallholder_allocation(n_h: Sequence[int], small_h: Sequence[int], other_h: Sequence[int],
                           share: float) -> SmallholderPlan:
    """How many of each stratum's base sample are smallholders (see the module docstring).

    Per stratum: the proportional share, at least ceil(share x n_h), within what the stratum
    holds (at most its smallholders, at least n_h minus its other units). Then, while the
    total is below ceil(share x n), one more in the stratum with the most smallholders to
    spare (ties: the earlier stratum)."""
    required = math.ceil(share * sum(n_h) - 1e-9)
    out, lo, hi = [], [], []
    for n, s, o in zip(n_h, small_h, other_h, strict=True):
        low, high = max(0, n - o), min(n, s)
        prop = math.floor(n * s / (s + o) + 0.5) if s + o else 0
        want = max(prop, math.ceil(share * n - 1e-9))
        out.append(min(max(want, low), high))
        lo.append(low)
        hi.append(high)
    while sum(out) < required:
        spare = [(hi[i] - out[i], -i) for i in range(len(out)) if out[i] < hi[i]]
        if not spare:
            break
        out[-max(spare)[1]] += 1
    met = sum(out) >= required
    message = None
    if not met:
        available = sum(small_h)
        limit = (f"抽样框内可抽的农户只有 {available} 户" if available < required
                 else f"各层的农户不足，按各层样本量最多可抽 {sum(out)} 户")
        message = (f"农户占比要求不能满足：样本 {sum(n_h)} 个中应至少有 {required} 户农户"
                   f"（{share:.0%}），{limit}")
    return SmallholderPlan(share, required, out, met, message)


def _frame_too_small(frame_all: Frame, frame: Frame, req: PlanRequest) -> None:
    excluded = len(frame_all) - len(frame)
    why = f"（其中 {excluded} 个在近 {req.exclude_sampled_days} 天内已抽样，已排除）" \
        if excluded else ""
    if req.n > len(frame):
        raise invalid("n", "larger_than_frame",
                       f"样本量 {req.n} 大于抽样框的单位数 {len(frame)}{why}")
    if req.n + req.replacements > len(frame):
        raise invalid("replacements", "larger_than_frame",
                       f"样本量加替补数 {req.n + req.replacements} 大于抽样框的单位数 "
                       f"{len(frame)}{why}")


def create_plan(conn: Connection, req: PlanRequest, *, account: Account | None, today: date,
                raw: Mapping[str, Any] | None = None,
                rules: RatingRules = DEFAULT_RULES) -> dict[str, Any]:
    """Check, draw and store a plan; return it as GET /sampling/plans/{id} shows it.

    `account` None is the command line's administrator. `raw` is the request as submitted
    (stored beside the normalised parameters)."""
    scope = planning_scope(account)
    crs = normalize_crs(req.crs)
    commodities = _check_commodities(conn, req)
    area = build_area(conn, polygons=req.area.polygons, grids=req.area.grids,
                      townships=req.area.townships, crs=crs, scope=scope,
                      circles=[Circle(c.lon, c.lat, c.radius_m) for c in req.area.circles])
    risk = _risk(req.risk)
    srid = gauss_kruger_srid(area.centre_lon)
    frame_all = fetch_frame(conn, area_ewkb=area.ewkb, commodities=commodities, srid=srid,
                            today=today, exclude_days=req.exclude_sampled_days,
                            with_credit=risk.needs_credit, rules=rules)
    grown = np.bincount(frame_all.commodity, minlength=len(commodities))
    absent = [c for c, k in zip(commodities, grown, strict=True) if k == 0]
    if absent:
        raise invalid("commodities", "not_grown",
                       "所选范围内没有种植或养殖该品种的主体：" + "、".join(absent))
    frame = frame_all.take(~frame_all.recently_sampled)
    _frame_too_small(frame_all, frame, req)

    # strata, their allocation, and the smallholder split inside each
    keys_per_unit = _strata_keys(frame, req.stratify_by, commodities)
    keys = sorted(set(keys_per_unit.tolist()))
    labels = _stratum_labels(conn, req.stratify_by, keys)
    sizes = [int((keys_per_unit == k).sum()) for k in keys]
    if isinstance(req.allocation, dict) and req.stratify_by is None:
        raise invalid("allocation", "needs_strata", "按数量分配须同时指定分层方式 stratify_by")
    base_h, _ = allocate(keys, sizes, req.n, req.allocation, 0, labels=labels)
    small_h = [int(((keys_per_unit == k) & frame.smallholder).sum()) for k in keys]
    other_h = [s - m for s, m in zip(sizes, small_h, strict=True)]
    split = req.smallholder_share > 0
    if split:
        sh = smallholder_allocation(base_h, small_h, other_h, req.smallholder_share)
    else:
        sh = SmallholderPlan(0.0, 0, [0] * len(keys), True, None)
    if not sh.met and req.smallholder_strict:
        raise invalid("smallholder_share", "share_unmet", sh.message or "农户占比要求不能满足")

    # sub-strata: 2h = smallholders of stratum h, 2h+1 = the others (one per stratum unsplit)
    index = {k: i for i, k in enumerate(keys)}
    h_of_unit = np.array([index[k] for k in keys_per_unit], dtype=np.int64)
    if split:
        sub = 2 * h_of_unit + np.where(frame.smallholder, 0, 1)
        n_sub = {}
        for h in range(len(keys)):  # only the sub-strata the frame has
            if small_h[h]:
                n_sub[2 * h] = sh.per_stratum[h]
            if other_h[h]:
                n_sub[2 * h + 1] = base_h[h] - sh.per_stratum[h]
    else:
        sub = h_of_unit
        n_sub = dict(enumerate(base_h))
    weights = risk.weights(frame)
    seed = req.seed if req.seed is not None else secrets.randbelow(2**31)
    selection = select(frame.x, frame.y, n_sub, method=req.method, seed=seed,
                       weights=weights, strata=sub, allocation="proportional",
                       over=req.replacements)
    srs_mean = srs_balance_mean(frame.x, frame.y, selection.frame_probability, req.n, seed,
                                reps=_srs_reps(len(frame)))
    order = np.asarray(selection.order, dtype=np.int64)
    is_base = np.asarray(selection.is_base, dtype=bool)
    selected_small = int(frame.smallholder[order[is_base]].sum())
    share_met = selected_small >= sh.required

    strata = []
    for h, k in enumerate(keys):
        units = h_of_unit == h
        strata.append({
            "key": None if req.stratify_by is None else k, "label": labels.get(k, k),
            "frame": sizes[h], "allocated": base_h[h],
            "probability_sum": round(float(selection.frame_probability[units].sum()), 6),
            "smallholder": {"frame": small_h[h], "allocated": sh.per_stratum[h] if split
                            else int(frame.smallholder[order[is_base & (h_of_unit[order] == h)]]
                                     .sum())}})
    params = req.model_dump(mode="json") | {
        "crs": crs, "commodities": commodities, "seed": seed, "srid": srid,
        "township_scope": area.township_code, "area_clipped": area.clipped,
        "risk": None if req.risk is None else req.risk.model_dump(mode="json"),
        "credit_rules": "georeg.credit.rating.DEFAULT_RULES" if rules is DEFAULT_RULES
        else "custom"}
    message = sh.message if not share_met else None
    plan_id = _store(conn, req=req, raw=raw, params=params, seed=seed, area=area,
                     commodities=commodities, frame=frame, frame_size=len(frame),
                     balance=(selection.balance, srs_mean), strata=strata,
                     smallholder=(sh.share, sh.required, selected_small, share_met, message),
                     account=account, order=order, is_base=is_base,
                     probability=np.asarray(selection.inclusion_probability, dtype=float),
                     weights=weights, risk=risk, stratum_keys=keys_per_unit,
                     stratified=req.stratify_by is not None)
    return get_plan(conn, plan_id, account=account)


def _srs_reps(size: int) -> int:
    """SRS draws for the comparison figure: each costs a nearest-point query of the whole
    frame; 10-50 draws give its mean to about 0.002, plenty beside the plan's own figure."""
    return int(min(50, max(10, 1_000_000 // max(size, 1))))


def _store(conn: Connection, *, req: PlanRequest, raw: Mapping[str, Any] | None,
           params: dict[str, Any], seed: int, area: PlanArea, commodities: list[str],
           frame: Frame, frame_size: int, balance: tuple[float | None, float | None],
           strata: list[dict[str, Any]], smallholder: tuple[float, int, int, bool, str | None],
           account: Account | None, order: np.ndarray, is_base: np.ndarray,
           probability: np.ndarray, weights: np.ndarray, risk: Risk, stratum_keys: np.ndarray,
           stratified: bool) -> int:
    share, required, selected, met, message = smallholder
    plan_id = conn.execute(text("""
        INSERT INTO sampling_plan (name, request, parameters, seed, method, test_kind,
            commodities, n, replacements, area, frame_size, balance_pielou, balance_srs_mean,
            strata, smallholder_share, smallholder_required, smallholder_selected,
            smallholder_met, smallholder_message, township_code, created_by)
        VALUES (:name, CAST(:request AS jsonb), CAST(:params AS jsonb), :seed, :method,
            :test_kind, :commodities, :n, :replacements, ST_GeomFromEWKB(:area), :frame_size,
            :pielou, :srs_mean, CAST(:strata AS jsonb), :share, :required, :selected, :met,
            :message, :township, :created_by)
        RETURNING id"""), {
        "name": req.name, "request": json.dumps(raw if raw is not None
                                                else req.model_dump(mode="json",
                                                                    exclude_unset=True),
                                                ensure_ascii=False),
        "params": json.dumps(params, ensure_ascii=False), "seed": seed, "method": req.method,
        "test_kind": req.test_kind, "commodities": commodities, "n": req.n,
        "replacements": int((~is_base).sum()), "area": area.ewkb, "frame_size": frame_size,
        "pielou": balance[0], "srs_mean": balance[1],
        "strata": json.dumps(strata, ensure_ascii=False), "share": share,
        "required": required, "selected": selected, "met": met, "message": message,
        "township": area.township_code, "created_by": account.id if account else None,
    }).scalar_one()
    reasons = [risk.reasons(frame, int(i)) for i in order]
    conn.execute(text("""
        INSERT INTO sampling_plan_target (plan_id, no, role, entity_id, plot_id, commodity,
            location, township_code, grid_id, stratum, inclusion_probability, weight,
            weight_reasons)
        SELECT :plan, u.no, u.role, u.entity_id, p.id, p.commodity,
               ST_PointOnSurface(p.geom), p.township_code, p.grid_id, u.stratum, u.prob,
               u.weight, coalesce(string_to_array(u.reasons, chr(31)), '{}')
        FROM unnest(CAST(:no AS integer[]), CAST(:role AS text[]), CAST(:entity AS bigint[]),
                    CAST(:plot AS bigint[]), CAST(:stratum AS text[]),
                    CAST(:prob AS float8[]), CAST(:weight AS float8[]),
                    CAST(:reasons AS text[]))
             AS u(no, role, entity_id, plot_id, stratum, prob, weight, reasons)
        JOIN plot p ON p.id = u.plot_id
        ORDER BY u.no"""), {
        "plan": plan_id, "no": list(range(1, len(order) + 1)),
        "role": ["base" if b else "replacement" for b in is_base],
        "entity": frame.entity_id[order].tolist(), "plot": frame.plot_id[order].tolist(),
        "stratum": [str(stratum_keys[i]) if stratified else None for i in order],
        "prob": [min(1.0, float(p)) for p in probability], "weight": weights[order].tolist(),
        "reasons": ["\x1f".join(r) if r else None for r in reasons]})
    return int(plan_id)
