"""The map layers as GeoJSON, for the pages (through the API) and for static HTML.

Display layers are lean: the properties a popup or a colour needs, coordinates to 6 decimals.
Point layers are built from ST_X/ST_Y rows rather than one JSON document per feature: a county
page carries ~30,000 points. Progress per grid follows the definitions of the township reports
(georeg/reports/patrols.py, georeg/reports/provenance.py), which count per township.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from api.geojson import collection
from georeg.errors import FieldError, InvalidInput

# "Monthly patrols: 20 x producers" (the county's plan, georeg/reports/patrols.py)
MONTHLY_PATROLS_PER_PRODUCER = 20


def _point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]}


def _points(rows: Any, props: tuple[str, ...]) -> list[dict[str, Any]]:
    # the id once, as the Feature's: tens of thousands of points
    return [{"type": "Feature", "id": r.id, "geometry": _point(r.x, r.y),
             "properties": {k: getattr(r, k) for k in props}} for r in rows]


def _township_filter(column: str, township: str | None) -> str:
    return f"AND {column} = :township" if township else ""


def entities(conn: Connection, *, township: str | None = None) -> dict[str, Any]:
    """Producers, buyers and smallholders as points: kind and key-supervision list."""
    rows = conn.execute(text(f"""
        SELECT e.id, e.name, e.kind, e.key_supervision, e.township_code, e.grid_id,
               ST_X(e.location) AS x, ST_Y(e.location) AS y
        FROM entity e WHERE true {_township_filter('e.township_code', township)}
        ORDER BY e.id"""), {"township": township})
    return collection(_points(rows, ("name", "kind", "key_supervision")))


def townships(conn: Connection, *, tolerance: float = 0.0005) -> dict[str, Any]:
    """Township outlines simplified for display (~50 m): a province has over a thousand."""
    rows = conn.execute(text("""
        SELECT code, name, ST_AsGeoJSON(ST_SimplifyPreserveTopology(boundary, :tol), 5)::json
               AS geometry
        FROM township WHERE boundary IS NOT NULL ORDER BY code"""), {"tol": tolerance})
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
        rows = conn.execute(text(f"""
            SELECT p.id, p.entity_id, p.commodity, p.area_mu,
                   ST_AsGeoJSON(p.geom, 6)::json AS geometry
            FROM plot p WHERE true {_township_filter('p.township_code', township)}
            ORDER BY p.id"""), {"township": township})
        return collection([{"type": "Feature", "id": r.id, "geometry": r.geometry,
                            "properties": {k: getattr(r, k) for k in props}} for r in rows])
    rows = conn.execute(text(f"""
        SELECT p.id, p.entity_id, p.commodity, p.area_mu, ST_X(s) AS x, ST_Y(s) AS y
        FROM plot p CROSS JOIN LATERAL ST_PointOnSurface(p.geom) AS s
        WHERE true {_township_filter('p.township_code', township)}
        ORDER BY p.id"""), {"township": township})
    return collection(_points(rows, props))


def month_bounds(year: int, month: int, as_of: date) -> tuple[date, date]:
    start = date(year, month, 1)
    return start, min(date(year, month, calendar.monthrange(year, month)[1]), as_of)


def latest_patrol_month(conn: Connection, as_of: date) -> tuple[int, int]:
    """The latest month with patrols up to `as_of` (this month when there are none)."""
    day = conn.execute(text("SELECT max(day) FROM patrol WHERE day <= :d"), {"d": as_of}).scalar()
    day = day or as_of
    return day.year, day.month


_GRIDS = text("""
WITH g AS (
    SELECT g.* FROM current_grid g
    WHERE CAST(:township AS text) IS NULL OR g.township_code = :township),
prod AS (SELECT e.id, e.grid_id FROM entity e JOIN g ON g.id = e.grid_id WHERE e.is_producer),
daily AS (
    SELECT p.grid_id, pa.day, count(DISTINCT pa.entity_id) AS covered
    FROM patrol pa JOIN prod p ON p.id = pa.entity_id
    WHERE pa.kind = 'online' AND pa.day BETWEEN :start AND :until
    GROUP BY 1, 2),
monthly AS (
    SELECT p.grid_id, count(*) AS n FROM patrol pa JOIN prod p ON p.id = pa.entity_id
    WHERE pa.day BETWEEN :start AND :until GROUP BY 1)
SELECT g.id, g.code, g.name, g.township_code, t.name AS township_name,
       ST_AsGeoJSON(g.boundary, 6)::json AS geometry,
       (SELECT s.person FROM grid_staff s WHERE s.grid_id = g.id AND s.role = 'supervisor')
           AS supervisor,
       (SELECT coalesce(array_agg(s.person ORDER BY s.person), '{}') FROM grid_staff s
        WHERE s.grid_id = g.id AND s.role = 'assistant') AS assistants,
       (SELECT count(*) FROM prod p WHERE p.grid_id = g.id) AS producers,
       (SELECT count(*) FROM entity e WHERE e.grid_id = g.id AND e.kind = 'smallholder')
           AS smallholders,
       coalesce((SELECT sum(covered) FROM daily d WHERE d.grid_id = g.id), 0)::int
           AS covered_producer_days,
       coalesce((SELECT n FROM monthly m WHERE m.grid_id = g.id), 0)::int AS monthly_patrols
FROM g JOIN township t ON t.code = g.township_code
ORDER BY g.code
""")


def grids(conn: Connection, *, township: str | None, year: int, month: int, as_of: date
          ) -> dict[str, Any]:
    """Current grids with staff and the month's patrol progress (daily online coverage)."""
    start, until = month_bounds(year, month, as_of)
    if start > as_of:
        msg = "不能统计尚未开始的月份"
        raise InvalidInput(msg, [FieldError("month", "in_future", msg)])
    days = (until - start).days + 1
    month_days = calendar.monthrange(year, month)[1]
    out = []
    for r in conn.execute(_GRIDS, {"township": township, "start": start, "until": until}):
        target = -(-MONTHLY_PATROLS_PER_PRODUCER * r.producers * days // month_days)
        coverage = (round(100 * r.covered_producer_days / (r.producers * days), 1)
                    if r.producers else None)
        out.append({"type": "Feature", "id": r.id, "geometry": r.geometry, "properties": {
            "id": r.id, "code": r.code, "name": r.name, "township_code": r.township_code,
            "township_name": r.township_name, "supervisor": r.supervisor,
            "assistants": list(r.assistants), "producers": r.producers,
            "smallholders": r.smallholders, "daily_coverage_percent": coverage,
            "monthly_patrols": r.monthly_patrols, "monthly_patrols_target": target}})
    return collection(out, month=f"{year}-{month:02d}", until=until.isoformat(), days=days)


_SITE_POINTS = text("""
SELECT sp.id, sp.entity_id, e.name AS entity_name, coalesce(sp.commodity, pl.commodity)
           AS commodity, sp.flags, sp.accuracy_m, pp.grid_id, pp.township_code,
       to_char(coalesce(sp.collected_at, sp.received_at) AT TIME ZONE 'Asia/Shanghai',
               'YYYY-MM-DD HH24:MI') AS collected_at,
       ST_X(sp.geom) AS x, ST_Y(sp.geom) AS y
FROM site_point sp JOIN entity e ON e.id = sp.entity_id
LEFT JOIN site_point_place pp ON pp.site_point_id = sp.id
LEFT JOIN plot pl ON pl.id = sp.plot_id
WHERE (coalesce(sp.collected_at, sp.received_at) AT TIME ZONE 'Asia/Shanghai')::date
      BETWEEN :start AND :until
  AND (CAST(:township AS text) IS NULL OR pp.township_code = :township)
ORDER BY sp.id
""")


def site_points(conn: Connection, *, year: int, township: str | None = None) -> dict[str, Any]:
    """Collected site points of the year (China Standard Time) with their review flags."""
    rows = conn.execute(_SITE_POINTS, {"start": date(year, 1, 1), "until": date(year, 12, 31),
                                       "township": township}).all()
    features = _points(rows, ("entity_id", "entity_name", "commodity", "accuracy_m",
                              "grid_id", "township_code", "collected_at", "flags"))
    return collection(features, year=year)


_PROVENANCE_GRIDS = text("""
WITH key AS (
    SELECT c.slug FROM commodity c
    JOIN provenance_deadline d ON d.commodity = c.slug AND d.year = :year
    WHERE c.provenance_key),
reg AS (  -- entity x key product, in the entity's grid (as the township report counts)
    SELECT DISTINCT e.grid_id, p.commodity, e.id AS entity_id
    FROM entity e JOIN plot p ON p.entity_id = e.id JOIN key ON key.slug = p.commodity
    WHERE e.grid_id IS NOT NULL),
pts AS (
    SELECT DISTINCT sp.entity_id, coalesce(sp.commodity, pl.commodity) AS commodity
    FROM site_point sp LEFT JOIN plot pl ON pl.id = sp.plot_id
    WHERE (coalesce(sp.collected_at, sp.received_at) AT TIME ZONE 'Asia/Shanghai')::date
          BETWEEN :start AND :as_of),
per_grid AS (
    SELECT r.grid_id, count(*) AS pairs,
           count(*) FILTER (WHERE pts.entity_id IS NOT NULL) AS collected,
           count(DISTINCT r.entity_id) AS entities
    FROM reg r LEFT JOIN pts ON pts.entity_id = r.entity_id AND pts.commodity = r.commodity
    GROUP BY r.grid_id),
flagged AS (
    SELECT pp.grid_id, count(*) AS n
    FROM site_point sp JOIN site_point_place pp ON pp.site_point_id = sp.id
    WHERE sp.flags <> '{}'
      AND (coalesce(sp.collected_at, sp.received_at) AT TIME ZONE 'Asia/Shanghai')::date
          BETWEEN :start AND :as_of
    GROUP BY 1)
SELECT g.id, g.code, g.name, g.township_code, t.name AS township_name,
       ST_AsGeoJSON(g.boundary, 6)::json AS geometry,
       coalesce(pg.entities, 0) AS entities, coalesce(pg.pairs, 0) AS pairs,
       coalesce(pg.collected, 0) AS collected, coalesce(f.n, 0) AS flagged_points
FROM current_grid g JOIN township t ON t.code = g.township_code
LEFT JOIN per_grid pg ON pg.grid_id = g.id LEFT JOIN flagged f ON f.grid_id = g.id
WHERE CAST(:township AS text) IS NULL OR g.township_code = :township
ORDER BY g.code
""")


def provenance_grids(conn: Connection, *, year: int, as_of: date, township: str | None = None
                     ) -> dict[str, Any]:
    """Per grid: entity x key product pairs with an accepted point this year, of all pairs."""
    rows = conn.execute(_PROVENANCE_GRIDS, {"year": year, "start": date(year, 1, 1),
                                            "as_of": min(as_of, date(year, 12, 31)),
                                            "township": township})
    out = []
    for r in rows:
        out.append({"type": "Feature", "id": r.id, "geometry": r.geometry, "properties": {
            "id": r.id, "code": r.code, "name": r.name, "township_code": r.township_code,
            "township_name": r.township_name, "entities": r.entities, "pairs": r.pairs,
            "collected": r.collected, "flagged_points": r.flagged_points,
            "percent_complete": round(100 * r.collected / r.pairs, 1) if r.pairs else None}})
    return collection(out, year=year)
