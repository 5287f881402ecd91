"""The map layers as GeoJSON, for the pages (through the API) and for static HTML.

Display layers are lean: the properties a popup or a colour needs, coordinates to 6 decimals.
Point layers are built from ST_X/ST_Y rows rather than one JSON document per feature: a county
page carries ~30,000 points. Patrol progress per grid is georeg/reports/patrols.py's (the
township report's definitions, per grid); provenance progress per grid follows
georeg/reports/provenance.py, which counts per township. Statements: the .sql files beside
this module.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from georeg.database import sql_statement
from georeg.geojson import collection
from georeg.reports import patrols

_PACKAGE = "georeg.maplayers"


def _point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]}


def _points(rows: Any, props: tuple[str, ...]) -> list[dict[str, Any]]:
    # the id once, as the Feature's: tens of thousands of points
    return [{"type": "Feature", "id": r.id, "geometry": _point(r.x, r.y),
             "properties": {k: getattr(r, k) for k in props}} for r in rows]


def entities(conn: Connection, *, township: str | None = None) -> dict[str, Any]:
    """Producers, buyers and smallholders as points: kind and key-supervision list."""
    rows = conn.execute(sql_statement(_PACKAGE, "entities.sql"), {"township": township})
    return collection(_points(rows, ("name", "kind", "key_supervision")))


def townships(conn: Connection, *, tolerance: float = 0.0005) -> dict[str, Any]:
    """Township outlines simplified for display (~50 m): a province has over a thousand."""
    rows = conn.execute(sql_statement(_PACKAGE, "townships.sql"), {"tol": tolerance})
    return collection([{"type": "Feature", "id": r.code, "geometry": r.geometry,
                        "properties": {"code": r.code, "name": r.name}} for r in rows])


def entity_count(conn: Connection) -> int:
    # The planner's estimate: the county page only needs the order of magnitude, at once.
    n = conn.execute(text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'entity'::regclass"
                          )).scalar()
    if n is None or n < 0:  # never analysed
        n = conn.execute(text("SELECT count(*) FROM entity")).scalar_one()
    return int(n)


def plots(conn: Connection, *, township: str | None = None, shapes: bool = False
          ) -> dict[str, Any]:
    """Plots with commodity and area: points on their surface, or their shapes (a township)."""
    props = ("entity_id", "commodity", "area_mu")
    if shapes:
        rows = conn.execute(sql_statement(_PACKAGE, "plot_shapes.sql"), {"township": township})
        return collection([{"type": "Feature", "id": r.id, "geometry": r.geometry,
                            "properties": {k: getattr(r, k) for k in props}} for r in rows])
    rows = conn.execute(sql_statement(_PACKAGE, "plot_points.sql"), {"township": township})
    return collection(_points(rows, props))


def latest_patrol_month(conn: Connection, as_of: date) -> tuple[int, int]:
    """The latest month with patrols up to `as_of` (this month when there are none)."""
    day = conn.execute(text("SELECT max(day) FROM patrol WHERE day <= :d"), {"d": as_of}).scalar()
    day = day or as_of
    return day.year, day.month


def grids(conn: Connection, *, township: str | None, year: int, month: int, as_of: date
          ) -> dict[str, Any]:
    """Current grids with staff and the month's patrol progress (daily online coverage)."""
    period = patrols.patrol_month(year, month, as_of)
    progress = patrols.grid_patrols(conn, period, township=township)
    out = []
    for r in conn.execute(sql_statement(_PACKAGE, "grids.sql"), {"township": township}):
        # a grid drawn between the two statements has had no patrols counted yet
        figures = progress.get(r.id) or patrols.grid_figures(period)
        out.append({"type": "Feature", "id": r.id, "geometry": r.geometry, "properties": {
            "id": r.id, "code": r.code, "name": r.name, "township_code": r.township_code,
            "township_name": r.township_name, "supervisor": r.supervisor,
            "assistants": list(r.assistants), "producers": figures["producers"],
            "smallholders": r.smallholders,
            "daily_coverage_percent": figures["daily_coverage_percent"],
            "monthly_patrols": figures["monthly_patrols"],
            "monthly_patrols_target": figures["monthly_patrols_target"]}})
    return collection(out, month=f"{year}-{month:02d}", until=period.until.isoformat(),
                      days=period.days)


def site_points(conn: Connection, *, year: int, township: str | None = None) -> dict[str, Any]:
    """Collected site points of the year (China Standard Time) with their review flags."""
    rows = conn.execute(sql_statement(_PACKAGE, "site_points.sql"), {
        "start": date(year, 1, 1), "until": date(year, 12, 31), "township": township}).all()
    features = _points(rows, ("entity_id", "entity_name", "commodity", "accuracy_m",
                              "grid_id", "township_code", "collected_at", "flags"))
    return collection(features, year=year)


def provenance_grids(conn: Connection, *, year: int, as_of: date, township: str | None = None
                     ) -> dict[str, Any]:
    """Per grid: entity x key product pairs with an accepted point this year, of all pairs."""
    rows = conn.execute(sql_statement(_PACKAGE, "provenance_grids.sql"), {
        "year": year, "start": date(year, 1, 1), "as_of": min(as_of, date(year, 12, 31)),
        "township": township})
    out = []
    for r in rows:
        out.append({"type": "Feature", "id": r.id, "geometry": r.geometry, "properties": {
            "id": r.id, "code": r.code, "name": r.name, "township_code": r.township_code,
            "township_name": r.township_name, "entities": r.entities, "pairs": r.pairs,
            "collected": r.collected, "flagged_points": r.flagged_points,
            "percent_complete": round(100 * r.collected / r.pairs, 1) if r.pairs else None}})
    return collection(out, year=year)
