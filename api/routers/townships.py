from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.deps import Db
from api.geojson import DisplayCrs, geojson_response
from georeg.geojson import collection, feature, in_display_crs
from grids.queries import get_township, list_grids, list_townships

router = APIRouter(prefix="/townships", tags=["乡镇与网格"])
Code = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="12 位统计用区划代码")]


@router.get("", summary="乡镇（含边界与按登记数据统计的主体数）")
def townships(conn: Db, request: Request,
              county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
              crs: DisplayCrs = "wgs84") -> Response:
    rows = list_townships(conn, county)
    return geojson_response(request, in_display_crs(collection(
        [feature(r, id_field="code") for r in rows],
        attribution="乡镇边界为演示数据（Voronoi 划分）；乡镇点位与县界：Vonng/adcode"
                    "（CC BY 4.0）"), crs))


@router.get("/{code}", summary="单个乡镇")
def township(conn: Db, code: Code, crs: DisplayCrs = "wgs84") -> dict[str, Any]:
    return in_display_crs(feature(get_township(conn, code), id_field="code"), crs)


@router.get("/{code}/grids", summary="乡镇的现行网格（含监管员与主体数）")
def grids(conn: Db, request: Request, code: Code, crs: DisplayCrs = "wgs84") -> Response:
    return geojson_response(
        request, in_display_crs(collection([feature(r) for r in list_grids(conn, code)]), crs))
