"""Map pages (/maps/...) and the display layers they load (/api/v1/maps/...).

The pages are shells: folium's map, our script, no data. The script signs in through
/maps/login (the API's token, kept in the browser tab) and loads every layer from the API, so a
page shows nothing to someone who may not call the API. Layers are GeoJSON, in WGS 84 or, for
GCJ-02 base maps, `crs=gcj02`; they are gzipped here, being the bulk of a page's weight.
"""

from __future__ import annotations

import logging
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from api.deps import AppSettings, CurrentAccount, Db, Today
from api.geojson import DisplayCrs, geojson_response
from georeg.config import Settings
from georeg.geojson import in_display_crs
from georeg.maplayers import layers as map_layers
from georeg.maplayers import tiles
from georeg.reports.patrols import parse_month
from georeg.reports.provenance import latest_year
from grids.queries import get_township
from maps import assets, pages

log = logging.getLogger(__name__)

TownshipCode = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="12 位乡镇代码")]
TownshipQuery = Annotated[str | None, Query(pattern=r"^[0-9]{12}$", description="12 位乡镇代码")]
MonthQuery = Annotated[str | None, Query(pattern=r"^[0-9]{4}-[0-9]{2}$",
                                         description="YYYY-MM；默认最近有巡查记录的月份")]
YearQuery = Annotated[int | None, Query(ge=2000, le=2100, description="年度；默认最近的采集年度")]


def assets_dir(settings: Settings) -> FilePath:
    return settings.assets_dir or assets.default_dir()


# --- the display layers -------------------------------------------------------------------

layers = APIRouter(prefix="/maps", tags=["地图图层"])


@layers.get("/townships", summary="乡镇边界（简化，供全省等大范围显示）")
def townships(request: Request, conn: Db, account: CurrentAccount,
              crs: DisplayCrs = "wgs84") -> Response:
    return geojson_response(request, in_display_crs(map_layers.townships(conn), crs))


@layers.get("/entities", summary="主体点位（地图显示用：名称、类型、是否重点监管）")
def entities(request: Request, conn: Db, account: CurrentAccount,
             township: TownshipQuery = None, crs: DisplayCrs = "wgs84") -> Response:
    doc = map_layers.entities(conn, township=township)
    return geojson_response(request, in_display_crs(doc, crs))


@layers.get("/plots", summary="地块（地图显示用：点位，或 shapes=true 时为地块形状）")
def plots(request: Request, conn: Db, account: CurrentAccount, township: TownshipQuery = None,
          shapes: Annotated[bool, Query(description="输出地块形状（只限单个乡镇）")] = False,
          crs: DisplayCrs = "wgs84") -> Response:
    doc = map_layers.plots(conn, township=township, shapes=shapes and township is not None)
    return geojson_response(request, in_display_crs(doc, crs))


@layers.get("/grids", summary="现行网格：人员、主体数与当月巡查进度（日巡查覆盖率）")
def grids(request: Request, conn: Db, account: CurrentAccount, as_of: Today,
          township: TownshipQuery = None, month: MonthQuery = None, crs: DisplayCrs = "wgs84"
          ) -> Response:
    year, mon = parse_month(month) if month else map_layers.latest_patrol_month(conn, as_of)
    if township:
        get_township(conn, township)
    doc = map_layers.grids(conn, township=township, year=year, month=mon, as_of=as_of)
    return geojson_response(request, in_display_crs(doc, crs))


@layers.get("/site-points", summary="产地点位（当年，含待核查标记）")
def site_points(request: Request, conn: Db, account: CurrentAccount, day: Today,
                year: YearQuery = None, township: TownshipQuery = None,
                crs: DisplayCrs = "wgs84") -> Response:
    year = year or latest_year(conn, day)
    doc = map_layers.site_points(conn, year=year, township=township)
    return geojson_response(request, in_display_crs(doc, crs))


@layers.get("/provenance-grids", summary="各网格重点品种点位采集完成率")
def provenance_grids(request: Request, conn: Db, account: CurrentAccount, as_of: Today,
                     year: YearQuery = None, township: TownshipQuery = None,
                     crs: DisplayCrs = "wgs84") -> Response:
    year = year or latest_year(conn, as_of)
    doc = map_layers.provenance_grids(conn, year=year, as_of=as_of, township=township)
    return geojson_response(request, in_display_crs(doc, crs))


vector_tiles = APIRouter(prefix="/tiles", tags=["地图图层"])


@vector_tiles.get("/{layer}/{z}/{x}/{y}.mvt", summary="矢量瓦片（MVT）：低缩放级别在数据库中聚合",
                  response_class=Response)
def vector_tile(conn: Db, account: CurrentAccount, layer: tiles.Layer,
                z: Annotated[int, Path(ge=0, le=22)], x: Annotated[int, Path(ge=0)],
                y: Annotated[int, Path(ge=0)], crs: DisplayCrs = "wgs84") -> Response:
    body = tiles.tile(conn, layer, z, x, y, crs=crs)
    return Response(body, media_type="application/vnd.mapbox-vector-tile",
                    headers={"Cache-Control": "private, max-age=300"})


# --- the pages ------------------------------------------------------------------------------

html_pages = APIRouter(prefix="/maps", include_in_schema=False)


def _nonce(request: Request) -> str | None:
    """The CSP nonce api.security made for this response (None without the middleware)."""
    return getattr(request.state, "csp_nonce", None)


def _page(request: Request, settings: Settings, build: Any) -> HTMLResponse:
    """A page, or a zh-CN explanation (503) when the Leaflet files are not installed."""
    folder = assets_dir(settings)
    absent = assets.missing(folder)
    if absent:
        message = assets.missing_message(folder, absent)
        log.error(message)
        return HTMLResponse(pages.missing_assets_page(message), status_code=503)
    try:
        page = build()
        return HTMLResponse(page.render(_nonce(request)), headers={"Cache-Control": "no-cache"})
    except assets.AssetError as e:
        log.error("%s", e)
        return HTMLResponse(pages.missing_assets_page(str(e)), status_code=503)


@html_pages.get("/login")
def login(request: Request) -> HTMLResponse:
    return HTMLResponse(pages.login_page(_nonce(request)))


@html_pages.get("/")
def county(request: Request, conn: Db, settings: AppSettings) -> HTMLResponse:
    tiles_needed = map_layers.entity_count(conn) > settings.map_vector_tiles_above
    return _page(request, settings,
                 lambda: pages.county_page(settings, vector_tiles=tiles_needed))


@html_pages.get("/townships/{code}")
def township(request: Request, conn: Db, settings: AppSettings, day: Today, code: TownshipCode,
             month: MonthQuery = None) -> HTMLResponse:
    row = get_township(conn, code)
    if month:
        year, mon = parse_month(month)
    else:
        year, mon = map_layers.latest_patrol_month(conn, day)
    return _page(request, settings, lambda: pages.township_page(
        settings, code=code, name=row.name, month=f"{year}-{mon:02d}"))


@html_pages.get("/provenance")
def provenance(request: Request, conn: Db, settings: AppSettings, day: Today,
               year: YearQuery = None) -> HTMLResponse:
    year = year or latest_year(conn, day)
    return _page(request, settings, lambda: pages.provenance_page(settings, year=year))


@html_pages.get("/draw")
def draw(request: Request, settings: AppSettings) -> HTMLResponse:
    return _page(request, settings, lambda: pages.draw_page(settings))


@html_pages.get("/plans/{plan_id}")
def plan(request: Request, settings: AppSettings,
         plan_id: Annotated[int, Path(ge=1)]) -> HTMLResponse:
    return _page(request, settings, lambda: pages.plan_page(settings, plan_id=plan_id))


class _AssetFiles(StaticFiles):
    """Installed files live under name@version: safe to cache for good."""

    def file_response(self, full_path: Any, stat_result: Any, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def install(app: FastAPI, settings: Settings, api_prefix: str) -> None:
    """Mount the pages, their layers and tiles, and the page assets on the app."""
    folder = assets_dir(settings)
    absent = assets.missing(folder)
    if absent:
        log.warning(assets.missing_message(folder, absent))
    app.include_router(layers, prefix=api_prefix)
    app.include_router(vector_tiles, prefix=api_prefix)
    app.include_router(html_pages)

    @app.get("/maps", include_in_schema=False)
    def maps_root() -> RedirectResponse:
        return RedirectResponse("/maps/")

    app.mount(assets.URL_PREFIX, GZipMiddleware(_AssetFiles(directory=folder, check_dir=False),
                                                minimum_size=1000), name="map-assets")
    app.mount(pages.STATIC_URL, GZipMiddleware(StaticFiles(directory=pages.STATIC_DIR),
                                               minimum_size=1000), name="map-static")
