"""Sampling plans (抽样计划): draw, list, show, export targets, the area, target status.

The request and the rules are in georeg/sampling/plans/; this module is HTTP only. Exports
for field teams: CSV (UTF-8 with BOM) and XLSX with zh-CN headings, GeoJSON; `crs=gcj02` shifts
coordinates for display on Amap/Tencent base maps (stored coordinates stay WGS 84).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import ConfigDict, Field
from sqlalchemy import Connection

from api.deps import CurrentAccount, Db, Today
from api.geojson import DisplayCrs
from api.routers.reports import table_response
from api.schemas import OFFSET_MAX, ApiModel, PathId
from georeg.accounts import Account
from georeg.geojson import in_display_crs, lonlat_in_display_crs
from georeg.pii import record_pii_access
from georeg.registry import KIND_LABELS
from georeg.sampling import plans

router = APIRouter(prefix="/sampling", tags=["抽样计划"])

ExportFormat = Annotated[Literal["json", "csv", "xlsx", "geojson"],
                         Query(description="json、csv、xlsx 或 geojson")]

COLUMNS = (
    ("no", "序号"), ("role_label", "类别"), ("entity_name", "主体名称"),
    ("kind_label", "主体类型"), ("entity_id", "主体编号"), ("village", "村"),
    ("commodity_name", "品种"), ("plot_id", "地块编号"), ("township_name", "乡镇"),
    ("grid_name", "网格"), ("lon", "经度"), ("lat", "纬度"),
    ("inclusion_probability", "入样概率"), ("weight", "风险权重"),
    ("weight_reasons_text", "加权原因"), ("status_label", "状态"), ("status_reason", "状态说明"),
)


class StatusIn(ApiModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["sampled", "replaced", "pending"] = Field(
        description="sampled 已抽样；replaced 已替换（须注明原因）；"
                    "pending 撤销为待抽样（须注明原因）")
    reason: str | None = Field(None, max_length=1000, description="原因或说明")


@router.post("/plans", status_code=201, summary="制定抽样计划（空间均衡、风险加权、可复现）")
def create(conn: Db, account: CurrentAccount, day: Today,
           body: plans.PlanRequest) -> dict[str, Any]:
    # A plain def: FastAPI runs it in a worker thread while numpy and PostGIS work.
    return plans.create_plan(conn, body, account=account, today=day,
                             raw=body.model_dump(mode="json", exclude_unset=True))


@router.get("/plans", summary="抽样计划列表（最新在前，含进度）")
def list_(conn: Db, account: CurrentAccount,
          limit: Annotated[int, Query(ge=1, le=500)] = 50,
          offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0) -> dict[str, Any]:
    return plans.list_plans(conn, account=account, limit=limit, offset=offset)


@router.get("/plans/{plan_id}", summary="单个抽样计划：参数、均衡度、农户占比、分层与目标")
def get(conn: Db, account: CurrentAccount, plan_id: PathId) -> dict[str, Any]:
    return plans.get_plan(conn, plan_id, account=account)


def _record_export(conn: Connection, account: Account, targets: list[dict[str, Any]],
                   plan_id: PathId, fmt: str) -> None:
    """Smallholders are people: their names leaving in a file are recorded (who, when)."""
    record_pii_access(conn, account=account, fields=["name"],
                      entity_ids=sorted({t["entity_id"] for t in targets
                                         if t["kind"] == "smallholder"}),
                      purpose=f"export sampling plan {plan_id} ({fmt})")


@router.get("/plans/{plan_id}/targets",
            summary="抽样目标（json、csv、xlsx 外业用中文表头，或 geojson）")
def targets(conn: Db, account: CurrentAccount, plan_id: PathId, format: ExportFormat = "json",
            crs: DisplayCrs = "wgs84") -> Any:
    rows = plans.target_rows(conn, plan_id, account=account)
    if format == "geojson":
        _record_export(conn, account, rows, plan_id, format)
        features = [{"type": "Feature", "id": t["no"],
                     "geometry": {"type": "Point", "coordinates": [t["lon"], t["lat"]]},
                     "properties": {k: v for k, v in t.items() if k not in ("lon", "lat")}}
                    for t in rows]
        body = in_display_crs({"type": "FeatureCollection", "features": features,
                               "plan_id": plan_id}, crs)
        return Response(_json(body), media_type="application/geo+json", headers={
            "Content-Disposition": f"attachment; filename=plan-{plan_id}-targets.geojson"})
    rows = lonlat_in_display_crs(rows, crs)
    if format == "json":
        return {"plan_id": plan_id, "display_crs": crs, "targets": rows}
    _record_export(conn, account, rows, plan_id, format)
    table = [t | {"role_label": plans.ROLE_LABELS[t["role"]],
                  "kind_label": KIND_LABELS.get(t["kind"], t["kind"]),
                  "status_label": plans.STATUS_LABELS[t["status"]],
                  "weight_reasons_text": "；".join(t["weight_reasons"]),
                  "lon": round(t["lon"], 7), "lat": round(t["lat"], 7)} for t in rows]
    columns = COLUMNS if crs == "wgs84" else tuple(
        (k, f"{h}（GCJ-02）" if k in ("lon", "lat") else h) for k, h in COLUMNS)
    response = table_response(table, columns, format, f"plan-{plan_id}-targets",
                              f"抽样计划{plan_id}")
    assert response is not None
    return response


def _json(body: Any) -> bytes:
    import json

    return json.dumps(body, ensure_ascii=False).encode("utf-8")


@router.get("/plans/{plan_id}/area", summary="计划范围（GeoJSON Feature）")
def area(conn: Db, account: CurrentAccount, plan_id: PathId, crs: DisplayCrs = "wgs84"
         ) -> dict[str, Any]:
    return in_display_crs(plans.area_geojson(conn, plan_id, account=account), crs)


@router.patch("/plans/{plan_id}/targets/{no}",
              summary="更新抽样目标状态：已抽样、已替换（注明原因）或撤销")
def update_status(conn: Db, account: CurrentAccount, plan_id: PathId,
                  no: Annotated[int, Path(ge=1, le=2**31 - 1)], body: StatusIn) -> dict[str, Any]:
    return plans.update_target(conn, plan_id, no, status=body.status, reason=body.reason,
                               account=account)
