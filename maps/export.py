"""Self-contained HTML of the map pages (`georeg map ...`): data and assets inline.

For reports and for offices without the app: the file opens from disk with no server and no
internet (base map tiles aside, which then simply stay blank). The data are those the API
serves the live page, read through the same kernel functions (georeg.maplayers).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from georeg.clock import CST
from georeg.commodities import list_commodities
from georeg.config import Settings
from georeg.geojson import collection, feature
from georeg.maplayers import layers as map_layers
from georeg.reports.patrols import parse_month, patrol_report
from georeg.reports.provenance import provenance_report
from georeg.sampling import plans
from grids.queries import get_township, list_townships
from maps import assets, pages


def _plain(doc: Any) -> Any:
    """JSON-ready (dates as ISO strings), as the API would have sent it."""
    return json.loads(json.dumps(doc, default=lambda v: v.isoformat()
                                 if isinstance(v, date | datetime) else str(v)))


def _commodities(conn: Connection) -> dict[str, str]:
    return {c["slug"]: c["name_zh"] for c in list_commodities(conn)}


def _wgs84(doc: dict[str, Any]) -> dict[str, Any]:
    return {"wgs84": doc}


def _finish(page: pages.Page, settings: Settings) -> str:
    stamp = datetime.now(CST).strftime("%Y-%m-%d %H:%M")
    page.toolbar += f'<span class="gr-static-note">离线导出 · {stamp}</span>'
    html = page.render()
    roots = {assets.URL_PREFIX: settings.assets_dir or assets.default_dir(),
             pages.STATIC_URL: pages.STATIC_DIR}
    return assets.inline_assets(html, roots)


def county(conn: Connection, settings: Settings) -> str:
    townships = collection([feature(r, id_field="code") for r in list_townships(conn)])
    as_of = datetime.now(CST).date()
    year, month = map_layers.latest_patrol_month(conn, as_of)
    layers = {"townships": _wgs84(townships),
              "grids": _wgs84(map_layers.grids(conn, township=None, year=year, month=month,
                                               as_of=as_of)),
              "plots": _wgs84(map_layers.plots(conn)),
              "entities": _wgs84(map_layers.entities(conn))}
    body = _plain(layers | {"commodities": _commodities(conn)})
    return _finish(pages.county_page(settings, data=body), settings)


def township(conn: Connection, settings: Settings, code: str, *, month: str | None = None
             ) -> str:
    row = get_township(conn, code)
    as_of = datetime.now(CST).date()
    if month:
        year, mon = parse_month(month)
    else:
        year, mon = map_layers.latest_patrol_month(conn, as_of)
    layers = {
        "township": _wgs84(feature(row, id_field="code")),
        "grids": _wgs84(map_layers.grids(conn, township=code, year=year, month=mon,
                                         as_of=as_of)),
        "plots": _wgs84(map_layers.plots(conn, township=code, shapes=True)),
        "entities": _wgs84(map_layers.entities(conn, township=code)),
        "report": {"rows": patrol_report(conn, year=year, month=mon, as_of=as_of)},
        "commodities": _commodities(conn)}
    return _finish(pages.township_page(settings, code=code, name=row.name,
                                       month=f"{year}-{mon:02d}", data=_plain(layers)), settings)


def provenance(conn: Connection, settings: Settings, *, year: int | None = None) -> str:
    from georeg.reports.provenance import latest_year

    as_of = datetime.now(CST).date()
    year = year or latest_year(conn, as_of)
    layers = {
        "grids": _wgs84(map_layers.provenance_grids(conn, year=year, as_of=as_of)),
        "sites": _wgs84(map_layers.site_points(conn, year=year)),
        "report": {"as_of": as_of, "rows": provenance_report(conn, year=year, as_of=as_of)},
        "commodities": _commodities(conn)}
    return _finish(pages.provenance_page(settings, year=year, data=_plain(layers)), settings)


def plan(conn: Connection, settings: Settings, plan_id: int) -> str:
    body = {"plan": plans.get_plan(conn, plan_id, account=None),
            "area": plans.area_geojson(conn, plan_id, account=None),
            "commodities": _commodities(conn)}
    return _finish(pages.plan_page(settings, plan_id=plan_id, data=_plain(body)), settings)


def write(html: str, path: Path) -> int:
    path.write_text(html, encoding="utf-8")
    return path.stat().st_size
