from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import CurrentAccount, Db
from api.schemas import Deregistration, PathId, PlotUpdate
from georeg import registry
from georeg.commodities import list_commodities
from georeg.geojson import feature

router = APIRouter(tags=["地块"])


@router.get("/plots/{plot_id}", summary="单个地块")
def get(conn: Db, account: CurrentAccount, plot_id: PathId) -> dict[str, Any]:
    return feature(registry.get_plot(conn, plot_id))


@router.patch("/plots/{plot_id}", summary="修改地块")
def update(conn: Db, account: CurrentAccount, plot_id: PathId, body: PlotUpdate) -> dict[str, Any]:
    registry.update_plot(conn, plot_id, body.fields_set(), account=account)
    return feature(registry.get_plot(conn, plot_id))


@router.post("/plots/{plot_id}/retire", summary="停用地块（保留其点位与抽样记录）")
def retire(conn: Db, account: CurrentAccount, plot_id: PathId,
           body: Deregistration) -> dict[str, Any]:
    registry.retire_plot(conn, plot_id, on=body.on, reason=body.reason, account=account)
    return feature(registry.get_plot(conn, plot_id))


@router.delete("/plots/{plot_id}", status_code=204,
               summary="删除误录的地块（仅系统管理员，且无任何关联记录；否则请停用）")
def delete(conn: Db, account: CurrentAccount, plot_id: PathId) -> Response:
    registry.delete_plot(conn, plot_id, account=account)
    return Response(status_code=204)


@router.get("/commodities", tags=["参考数据"],
            summary="农产品品种（含重点风险品种、溯源采集品种标记）")
def commodities(conn: Db) -> list[dict[str, Any]]:
    return list_commodities(conn)
