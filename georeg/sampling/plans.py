"""Sampling plans: a request checked in full, its frame drawn from PostGIS, targets selected,
stored and returned (issue 6, items 1 and 3).

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

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Connection, text

from georeg.accounts import Account, Role
from georeg.credit.rating import DEFAULT_RULES, RatingRules
from georeg.crs import normalize_crs
from georeg.errors import FieldError, Forbidden, InvalidInput, NotFound
from georeg.sampling import METHOD_LABELS, allocate, select, srs_balance_mean
from georeg.sampling.area import Circle, PlanArea, build_area, gauss_kruger_srid
from georeg.sampling.candidates import FAILED_SAMPLE_MONTHS, Frame, fetch_frame
from georeg.testing.vocab import METHOD_CATEGORIES
from georeg.testing.vocab import METHOD_LABELS as METHOD_LABELS_TESTING

PLAN_ROLES = frozenset({Role.county_supervisor, Role.admin, Role.township_supervisor})
TEST_KINDS = ("rapid_colloidal_gold", "rapid_enzyme_inhibition", "rapid_veterinary", "lab")
# A plan's rapid test kinds are the recorded methods (georeg/testing/vocab.py) with a prefix.
TEST_KIND_LABELS = {f"rapid_{m}": label for m, label in METHOD_LABELS_TESTING.items()} | {
    "lab": "定量监测（实验室检测）"}
# Rapid-test methods test either plant or animal products.
TEST_KIND_CATEGORIES = {f"rapid_{m}": c for m, c in METHOD_CATEGORIES.items()}
STATUS_LABELS = {"pending": "待抽样", "sampled": "已抽样", "replaced": "已替换"}
ROLE_LABELS = {"base": "正选", "replacement": "替补"}
STRATIFY_LABELS = {"township": "乡镇", "grid": "网格", "commodity": "品种"}
MAX_N = 5_000
MAX_REPLACEMENTS = 5_000
MAX_SEED = 2**53  # exact in JSON numbers
DEFAULT_SHARE = 0.25  # SPEC.md: smallholders at least a quarter of the samples
NO_GRID = "none"


# --- the request ------------------------------------------------------------------------------

class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CircleIn(_In):
    lon: float = Field(description="圆心经度（请求的坐标系）")
    lat: float = Field(description="圆心纬度")
    radius_m: float = Field(gt=0, le=100_000, description="半径（米）")


class AreaIn(_In):
    polygons: list[dict[str, Any]] = Field(default_factory=list, max_length=50,
                                           description="GeoJSON Polygon 或 MultiPolygon")
    grids: list[int] = Field(default_factory=list, max_length=2_000, description="网格编号")
    townships: list[Annotated[str, Field(pattern=r"^[0-9]{12}$")]] = Field(
        default_factory=list, max_length=2_000, description="12 位乡镇代码")
    circles: list[CircleIn] = Field(default_factory=list, max_length=50,
                                    description="圆心与半径（米）")


class RiskIn(_In):
    key_supervision: float = Field(2.0, gt=0, le=100, description="重点监管名单主体的权重倍数")
    failed_sample: float = Field(1.5, gt=0, le=100,
                                 description="近 12 个月有抽检不合格的主体的权重倍数")
    grade: dict[str, float] = Field(
        default_factory=lambda: {"A": 1.0, "B": 1.0, "C": 1.5, "D": 2.0},
        description="按信用等级的权重倍数（未列出的等级为 1）")

    @field_validator("grade")
    @classmethod
    def _grades(cls, v: dict[str, float]) -> dict[str, float]:
        known = [g for g, _ in DEFAULT_RULES.grades] + [DEFAULT_RULES.lowest_grade]
        for key, factor in v.items():
            if key not in known:
                raise ValueError(f"unknown grade {key}")
            if not (0 < factor <= 100):
                raise ValueError("factor out of range")
        return v


class PlanRequest(_In):
    """A plan request (POST /api/v1/sampling/plans, `georeg sample --request`)."""
    name: str | None = Field(None, max_length=200, description="计划名称")
    area: AreaIn = Field(description="范围：多边形、网格、乡镇、圆，可混合，取并集")
    crs: str = Field("wgs84", description="范围坐标的坐标系：wgs84、gcj02、bd09、cgcs2000")
    commodities: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = Field(
        min_length=1, max_length=30, description="品种代码，如 cowpea")
    n: int = Field(ge=1, le=MAX_N, description="样本量（正选目标数）")
    test_kind: Literal["rapid_colloidal_gold", "rapid_enzyme_inhibition", "rapid_veterinary",
                       "lab"] = Field(description="检测类型")
    method: Literal["grts", "lpm", "srs"] = Field("grts", description="抽样方法")
    smallholder_share: float = Field(DEFAULT_SHARE, ge=0, le=1, description="农户最低占比")
    smallholder_strict: bool = Field(
        False, description="农户占比无法满足时拒绝请求（默认仍出计划并说明）")
    risk: RiskIn | None = Field(default_factory=RiskIn,
                                description="风险加权倍数；null 表示不加权")
    exclude_sampled_days: int = Field(0, ge=0, le=3_660,
                                      description="排除近 D 天内已抽样的主体（0 不排除）")
    stratify_by: Literal["township", "grid", "commodity"] | None = None
    allocation: Literal["proportional", "equal"] | dict[str, int] = "proportional"
    replacements: int = Field(0, ge=0, le=MAX_REPLACEMENTS, description="替补目标数")
    seed: int | None = Field(None, ge=0, lt=MAX_SEED, description="随机种子；不填则生成并保存")


_PYDANTIC_MESSAGES = {
    "missing": "缺少必填字段", "extra_forbidden": "不允许的字段",
    "literal_error": "取值不在允许范围内",
    "int_parsing": "应为整数", "int_type": "应为整数", "float_parsing": "应为数字",
    "greater_than": "数值太小", "greater_than_equal": "数值太小", "less_than": "数值太大",
    "less_than_equal": "数值太大", "too_short": "元素太少", "too_long": "元素太多",
    "string_pattern_mismatch": "格式不正确", "list_type": "应为数组", "dict_type": "应为对象",
    "model_type": "应为对象", "bool_parsing": "应为 true 或 false", "string_too_long": "内容太长",
}


def parse_request(data: Any) -> PlanRequest:
    """A request from plain JSON (the command line), with the API's field names and messages."""
    try:
        return PlanRequest.model_validate(data)
    except ValidationError as e:
        errors = []
        for err in e.errors():
            loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "literal["))]
            errors.append(FieldError(".".join(loc) or "body", err["type"],
                                     _PYDANTIC_MESSAGES.get(err["type"], "取值无效")))
        raise InvalidInput("请求参数或内容不符合要求", errors) from None


# --- drawing a plan ---------------------------------------------------------------------------

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


def _invalid(field: str, code: str, message: str) -> InvalidInput:
    return InvalidInput(message, [FieldError(field, code, message)])


def _check_commodities(conn: Connection, req: PlanRequest) -> list[str]:
    slugs = list(dict.fromkeys(req.commodities))  # order kept, repeats dropped
    rows = dict(conn.execute(text("SELECT slug, category FROM commodity WHERE slug = ANY(:s)"),
                             {"s": slugs}).all())
    unknown = [s for s in slugs if s not in rows]
    if unknown:
        raise _invalid("commodities", "unknown_commodity", "未知的品种代码：" + "、".join(unknown))
    allowed = TEST_KIND_CATEGORIES.get(req.test_kind)
    if allowed is not None:
        wrong = [s for s in slugs if rows[s] not in allowed]
        if wrong:
            raise _invalid("test_kind", "not_for_commodity",
                           f"{TEST_KIND_LABELS[req.test_kind]}不适用于这些品种："
                           + "、".join(wrong))
    return slugs


def _check_scope(account: Account | None) -> str | None:
    """The township a plan must lie in (None: anywhere); refuses roles that do not plan."""
    if account is None:
        return None
    if account.role not in PLAN_ROLES:
        raise Forbidden("本账号无权制定抽样计划（限县级监管员、系统管理员和乡镇监管员）")
    return None if account.county_wide else account.township_code


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
        raise _invalid("n", "larger_than_frame",
                       f"样本量 {req.n} 大于抽样框的单位数 {len(frame)}{why}")
    if req.n + req.replacements > len(frame):
        raise _invalid("replacements", "larger_than_frame",
                       f"样本量加替补数 {req.n + req.replacements} 大于抽样框的单位数 "
                       f"{len(frame)}{why}")


def create_plan(conn: Connection, req: PlanRequest, *, account: Account | None, today: date,
                raw: Mapping[str, Any] | None = None,
                rules: RatingRules = DEFAULT_RULES) -> dict[str, Any]:
    """Check, draw and store a plan; return it as GET /sampling/plans/{id} shows it.

    `account` None is the command line's administrator. `raw` is the request as submitted
    (stored beside the normalised parameters)."""
    scope = _check_scope(account)
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
        raise _invalid("commodities", "not_grown",
                       "所选范围内没有种植或养殖该品种的主体：" + "、".join(absent))
    frame = frame_all.take(~frame_all.recently_sampled)
    _frame_too_small(frame_all, frame, req)

    # strata, their allocation, and the smallholder split inside each
    keys_per_unit = _strata_keys(frame, req.stratify_by, commodities)
    keys = sorted(set(keys_per_unit.tolist()))
    labels = _stratum_labels(conn, req.stratify_by, keys)
    sizes = [int((keys_per_unit == k).sum()) for k in keys]
    if isinstance(req.allocation, dict) and req.stratify_by is None:
        raise _invalid("allocation", "needs_strata", "按数量分配须同时指定分层方式 stratify_by")
    base_h, _ = allocate(keys, sizes, req.n, req.allocation, 0, labels=labels)
    small_h = [int(((keys_per_unit == k) & frame.smallholder).sum()) for k in keys]
    other_h = [s - m for s, m in zip(sizes, small_h, strict=True)]
    split = req.smallholder_share > 0
    if split:
        sh = smallholder_allocation(base_h, small_h, other_h, req.smallholder_share)
    else:
        sh = SmallholderPlan(0.0, 0, [0] * len(keys), True, None)
    if not sh.met and req.smallholder_strict:
        raise _invalid("smallholder_share", "share_unmet", sh.message or "农户占比要求不能满足")

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
    import json

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


# --- reading plans ----------------------------------------------------------------------------

_TARGET_SELECT = """
SELECT t.no, t.role, t.entity_id, e.name AS entity_name, e.kind, e.village, t.plot_id,
       t.commodity, c.name_zh AS commodity_name,
       ST_X(t.location) AS lon, ST_Y(t.location) AS lat,
       t.township_code, tw.name AS township_name, t.grid_id, g.name AS grid_name, t.stratum,
       t.inclusion_probability, t.weight, t.weight_reasons, t.status, t.status_reason,
       t.status_on, t.changed_at
FROM sampling_plan_target t
JOIN entity e ON e.id = t.entity_id
JOIN commodity c ON c.slug = t.commodity
JOIN township tw ON tw.code = t.township_code
LEFT JOIN grid g ON g.id = t.grid_id
WHERE t.plan_id = :plan AND (CAST(:township AS text) IS NULL OR t.township_code = :township)
ORDER BY t.no
"""


def _visible(account: Account | None) -> str | None:
    """The township an account's reading is limited to (None: all)."""
    return None if account is None or account.county_wide else account.township_code


def _plan_row(conn: Connection, plan_id: int, account: Account | None) -> Any:
    row = conn.execute(text("""
        SELECT p.*, ST_Area(CAST(p.area AS geography)) / 1e6 AS area_km2
        FROM sampling_plan p WHERE p.id = :id"""), {"id": plan_id}).first()
    township = _visible(account)
    if row is None or (township is not None and row.township_code != township and not
                       conn.execute(text(
                           "SELECT EXISTS (SELECT 1 FROM sampling_plan_target "
                           "WHERE plan_id = :id AND township_code = :t)"),
                           {"id": plan_id, "t": township}).scalar()):
        raise NotFound(f"抽样计划 {plan_id} 不存在", [FieldError("plan_id", "not_found",
                                                               "抽样计划不存在")])
    return row


def target_rows(conn: Connection, plan_id: int, *, account: Account | None
                ) -> list[dict[str, Any]]:
    """The plan's targets in order, as plain dicts (township accounts: their township's)."""
    _plan_row(conn, plan_id, account)
    rows = conn.execute(text(_TARGET_SELECT),
                        {"plan": plan_id, "township": _visible(account)}).mappings().all()
    return [_target(r) for r in rows]


def _target(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"no": r["no"], "role": r["role"], "entity_id": r["entity_id"],
            "entity_name": r["entity_name"], "kind": r["kind"], "village": r["village"],
            "plot_id": r["plot_id"], "commodity": r["commodity"],
            "commodity_name": r["commodity_name"], "lon": r["lon"], "lat": r["lat"],
            "township_code": r["township_code"], "township_name": r["township_name"],
            "grid_id": r["grid_id"], "grid_name": r["grid_name"], "stratum": r["stratum"],
            "inclusion_probability": r["inclusion_probability"], "weight": r["weight"],
            "weight_reasons": list(r["weight_reasons"] or []), "status": r["status"],
            "status_reason": r["status_reason"],
            "status_on": r["status_on"].isoformat() if r["status_on"] else None,
            "changed_at": r["changed_at"].isoformat() if r["changed_at"] else None}


def links(plan_id: int) -> dict[str, str]:
    base = f"/api/v1/sampling/plans/{plan_id}"
    return {"self": base, "map": f"/maps/plans/{plan_id}",
            "csv": f"{base}/targets?format=csv", "xlsx": f"{base}/targets?format=xlsx",
            "geojson": f"{base}/targets?format=geojson", "area": f"{base}/area"}


def _summary(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "created_at": row.created_at.isoformat(),
            "seed": row.seed, "method": row.method, "method_label": METHOD_LABELS[row.method],
            "n": row.n, "replacements": row.replacements, "test_kind": row.test_kind,
            "test_kind_label": TEST_KIND_LABELS[row.test_kind],
            "commodities": list(row.commodities), "frame_size": row.frame_size,
            "township_code": row.township_code.strip() if row.township_code else None}


def get_plan(conn: Connection, plan_id: int, *, account: Account | None) -> dict[str, Any]:
    row = _plan_row(conn, plan_id, account)
    targets = target_rows(conn, plan_id, account=account)
    params = row.parameters
    return _summary(row) | {
        "area_km2": round(float(row.area_km2), 3),
        "stratify_by": params.get("stratify_by"),
        "allocation": params.get("allocation"),
        "exclude_sampled_days": params.get("exclude_sampled_days"),
        "risk": params.get("risk"),
        "scope": {"township_code": params.get("township_scope"),
                  "clipped": params.get("area_clipped", False)},
        "balance": {"pielou": row.balance_pielou, "srs_mean": row.balance_srs_mean},
        "smallholder": {"share": row.smallholder_share, "required": row.smallholder_required,
                        "selected": row.smallholder_selected, "met": row.smallholder_met,
                        "message": row.smallholder_message},
        "strata": row.strata,
        "progress": {s: sum(1 for t in targets if t["status"] == s) for s in STATUS_LABELS},
        "targets": targets,
        "links": links(plan_id)}


def list_plans(conn: Connection, *, account: Account | None, limit: int = 50,
               offset: int = 0) -> dict[str, Any]:
    """Newest first, with each plan's progress (township accounts: plans touching theirs)."""
    township = _visible(account)
    where = "" if township is None else (
        "WHERE p.township_code = :t OR EXISTS (SELECT 1 FROM sampling_plan_target x "
        "WHERE x.plan_id = p.id AND x.township_code = :t)")
    params = {"t": township, "limit": limit, "offset": offset}
    total = conn.execute(text(f"SELECT count(*) FROM sampling_plan p {where}"),
                         params).scalar_one()
    rows = conn.execute(text(f"""
        SELECT p.*, s.pending, s.sampled, s.replaced
        FROM sampling_plan p
        CROSS JOIN LATERAL (
            SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
                   count(*) FILTER (WHERE status = 'sampled') AS sampled,
                   count(*) FILTER (WHERE status = 'replaced') AS replaced
            FROM sampling_plan_target t WHERE t.plan_id = p.id) s
        {where}
        ORDER BY p.created_at DESC, p.id DESC LIMIT :limit OFFSET :offset"""), params).all()
    return {"total": total, "plans": [
        _summary(r) | {"progress": {"pending": r.pending, "sampled": r.sampled,
                                    "replaced": r.replaced},
                       "smallholder_met": r.smallholder_met, "links": links(r.id)}
        for r in rows]}


def area_geojson(conn: Connection, plan_id: int, *, account: Account | None) -> dict[str, Any]:
    """The plan's area as a GeoJSON Feature (WGS 84)."""
    import json

    row = _plan_row(conn, plan_id, account)
    geometry = conn.execute(text("SELECT ST_AsGeoJSON(area, 7) FROM sampling_plan WHERE id = :id"),
                            {"id": plan_id}).scalar_one()
    return {"type": "Feature", "id": plan_id, "geometry": json.loads(geometry),
            "properties": {"id": plan_id, "name": row.name,
                           "area_km2": round(float(row.area_km2), 3),
                           "commodities": list(row.commodities), "n": row.n}}


# --- status of a target -----------------------------------------------------------------------

def update_target(conn: Connection, plan_id: int, no: int, *, status: str, reason: str | None,
                  account: Account) -> dict[str, Any]:
    """Mark a target sampled, replaced (with a reason) or back to pending (with a reason)."""
    if status not in STATUS_LABELS:
        raise _invalid("status", "invalid", "状态应为 sampled、replaced 或 pending")
    reason = (reason or "").strip() or None
    if status in ("replaced", "pending") and reason is None:
        raise _invalid("reason", "required", "替换或撤销须注明原因")
    _plan_row(conn, plan_id, account)
    current = conn.execute(text(
        "SELECT status, township_code FROM sampling_plan_target "
        "WHERE plan_id = :p AND no = :no FOR UPDATE"), {"p": plan_id, "no": no}).first()
    if current is None or (_visible(account) not in (None, current.township_code)):
        raise NotFound(f"抽样目标 {no} 不存在", [FieldError("no", "not_found", "抽样目标不存在")])
    if not account.may_write(current.township_code):
        raise Forbidden("本账号无权修改该抽样目标的状态")
    conn.execute(text("""
        UPDATE sampling_plan_target
        SET status = :s, status_reason = :r, status_on = georeg_today(), changed_at = now(),
            changed_by = :a
        WHERE plan_id = :p AND no = :no"""),
        {"s": status, "r": reason, "a": account.id, "p": plan_id, "no": no})
    target = next(t for t in target_rows(conn, plan_id, account=account) if t["no"] == no)
    out: dict[str, Any] = {"target": target, "next_replacement": None}
    if status == "replaced":
        out["next_replacement"] = next_replacement(conn, plan_id, no)
    return out


def next_replacement(conn: Connection, plan_id: int, no: int) -> int | None:
    """The replacement to use for target `no`: the first pending one drawn from the same
    stratum and smallholder part (which keeps the allocation and the share), else the first
    of the same stratum, else the first of any."""
    return conn.execute(text("""
        SELECT r.no
        FROM sampling_plan_target t
        JOIN entity te ON te.id = t.entity_id
        JOIN sampling_plan_target r ON r.plan_id = t.plan_id
        JOIN entity re ON re.id = r.entity_id
        WHERE t.plan_id = :p AND t.no = :no AND r.role = 'replacement'
          AND r.status = 'pending' AND r.no <> t.no
        ORDER BY (r.stratum IS NOT DISTINCT FROM t.stratum
                  AND (re.kind = 'smallholder') = (te.kind = 'smallholder')) DESC,
                 (r.stratum IS NOT DISTINCT FROM t.stratum) DESC, r.no
        LIMIT 1"""), {"p": plan_id, "no": no}).scalar()


def plan_text(plan: dict[str, Any]) -> str:
    """A plan for the terminal (`georeg sample --request`), zh-CN."""
    from georeg.registry import KIND_LABELS

    b, sh = plan["balance"], plan["smallholder"]
    lines = [
        f"抽样计划 #{plan['id']} {plan['name'] or ''}（{plan['method_label']}，"
        f"随机种子 {plan['seed']}）",
        f"检测类型：{plan['test_kind_label']}；品种：{'、'.join(plan['commodities'])}",
        f"范围 {plan['area_km2']:,.2f} 平方千米；抽样框 {plan['frame_size']:,} 个单位；"
        f"样本 {plan['n']}，替补 {plan['replacements']}",
    ]
    if b["pielou"] is not None:
        lines.append(f"空间均衡度（Pielou，0 为最均衡）：{b['pielou']:.4f}；"
                     f"同一抽样框简单随机抽样的平均值：{b['srs_mean']:.4f}")
    met = "已满足" if sh["met"] else f"未满足——{sh['message']}"
    lines.append(f"农户：应至少 {sh['required']} 户（{sh['share']:.0%}），"
                 f"抽中 {sh['selected']} 户，{met}")
    if plan["stratify_by"]:
        lines += [f"  层 {s['label']}：单位 {s['frame']}，样本 {s['allocated']}"
                  for s in plan["strata"]]
    lines.append("序号\t类别\t主体\t类型\t品种\t乡镇\t网格\t经度\t纬度\t入样概率\t权重\t加权原因")
    for t in plan["targets"]:
        lines.append("\t".join(str(v) for v in (
            t["no"], ROLE_LABELS[t["role"]], t["entity_name"], KIND_LABELS.get(t["kind"], ""),
            t["commodity_name"], t["township_name"], t["grid_name"] or "",
            f"{t['lon']:.6f}", f"{t['lat']:.6f}", f"{t['inclusion_probability']:.4f}",
            f"{t['weight']:g}", "；".join(t["weight_reasons"]))))
    lines.append(f"导出：{plan['links']['csv']}、{plan['links']['xlsx']}")
    return "\n".join(lines) + "\n"
