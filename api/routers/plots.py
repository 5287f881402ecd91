from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import text

from api.deps import CurrentAccount, Db
from api.geojson import feature
from api.schemas import PlotUpdate
from georeg import registry

router = APIRouter(tags=["地块"])


@router.get("/plots/{plot_id}", summary="单个地块")
def get(conn: Db, account: CurrentAccount, plot_id: int) -> dict[str, Any]:
    return feature(registry.get_plot(conn, plot_id))


@router.patch("/plots/{plot_id}", summary="修改地块")
def update(conn: Db, account: CurrentAccount, plot_id: int, body: PlotUpdate) -> dict[str, Any]:
    registry.update_plot(conn, plot_id, body.fields_set(), account=account)
    return feature(registry.get_plot(conn, plot_id))


@router.delete("/plots/{plot_id}", status_code=204, summary="删除地块")
def delete(conn: Db, account: CurrentAccount, plot_id: int) -> Response:
    registry.delete_plot(conn, plot_id, account=account)
    return Response(status_code=204)


@router.get("/commodities", tags=["参考数据"],
            summary="农产品品种（含重点风险品种、溯源采集品种标记）")
def commodities(conn: Db) -> list[dict[str, Any]]:
    rows = conn.execute(text("SELECT slug, name_zh, name_en, category, key_risk, provenance_key "
                             "FROM commodity ORDER BY key_risk DESC, slug")).all()
    return [r._asdict() for r in rows]
