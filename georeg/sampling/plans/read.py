"""Reading plans: one plan with its targets, the list with progress, the area, the terminal text.

Township accounts see the plans that touch their township, with only their township's targets
(georeg.sampling.plans.access)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, text

from georeg.accounts import Account
from georeg.errors import FieldError, NotFound
from georeg.sampling import METHOD_LABELS
from georeg.sampling.plans.access import township_scope
from georeg.sampling.plans.vocab import ROLE_LABELS, STATUS_LABELS, TEST_KIND_LABELS

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
def plan_row(conn: Connection, plan_id: int, account: Account | None) -> Any:
    row = conn.execute(text("""
        SELECT p.*, ST_Area(CAST(p.area AS geography)) / 1e6 AS area_km2
        FROM sampling_plan p WHERE p.id = :id"""), {"id": plan_id}).first()
    township = township_scope(account)
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
    plan_row(conn, plan_id, account)
    rows = conn.execute(text(_TARGET_SELECT),
                        {"plan": plan_id, "township": township_scope(account)}).mappings().all()
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
    row = plan_row(conn, plan_id, account)
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


# The plans an account sees (:t, its township; NULL for county accounts): all, or those of its
# township and those with a target there. The planner folds the test for the value given.
_PLAN_COUNT = text("""
SELECT count(*) FROM sampling_plan p
WHERE (CAST(:t AS char(12)) IS NULL OR p.township_code = :t
       OR EXISTS (SELECT 1 FROM sampling_plan_target x
                  WHERE x.plan_id = p.id AND x.township_code = :t))""")
_PLAN_LIST = text("""
SELECT p.*, s.pending, s.sampled, s.replaced
FROM sampling_plan p
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'sampled') AS sampled,
           count(*) FILTER (WHERE status = 'replaced') AS replaced
    FROM sampling_plan_target t WHERE t.plan_id = p.id) s
WHERE (CAST(:t AS char(12)) IS NULL OR p.township_code = :t
       OR EXISTS (SELECT 1 FROM sampling_plan_target x
                  WHERE x.plan_id = p.id AND x.township_code = :t))
ORDER BY p.created_at DESC, p.id DESC LIMIT :limit OFFSET :offset""")


def list_plans(conn: Connection, *, account: Account | None, limit: int = 50,
               offset: int = 0) -> dict[str, Any]:
    """Newest first, with each plan's progress (township accounts: plans touching theirs)."""
    params = {"t": township_scope(account), "limit": limit, "offset": offset}
    total = conn.execute(_PLAN_COUNT, params).scalar_one()
    rows = conn.execute(_PLAN_LIST, params).all()
    return {"total": total, "plans": [
        _summary(r) | {"progress": {"pending": r.pending, "sampled": r.sampled,
                                    "replaced": r.replaced},
                       "smallholder_met": r.smallholder_met, "links": links(r.id)}
        for r in rows]}


def area_geojson(conn: Connection, plan_id: int, *, account: Account | None) -> dict[str, Any]:
    """The plan's area as a GeoJSON Feature (WGS 84)."""
    row = plan_row(conn, plan_id, account)
    geometry = conn.execute(text("SELECT ST_AsGeoJSON(area, 7) FROM sampling_plan WHERE id = :id"),
                            {"id": plan_id}).scalar_one()
    return {"type": "Feature", "id": plan_id, "geometry": json.loads(geometry),
            "properties": {"id": plan_id, "name": row.name,
                           "area_km2": round(float(row.area_km2), 3),
                           "commodities": list(row.commodities), "n": row.n}}


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
