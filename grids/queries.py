"""Reading townships and grids, with counts computed from the registry (never stored)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from georeg.errors import FieldError, NotFound

_TOWNSHIP_SELECT = """
SELECT t.code, t.name, t.account, t.county_code, t.boundary_source, t.population,
       ST_AsGeoJSON(t.boundary, 6)::json AS geometry,
       (SELECT count(*) FROM entity e WHERE e.township_code = t.code AND e.is_producer)
           AS producer_count,
       (SELECT count(*) FROM entity e WHERE e.township_code = t.code AND e.kind = 'smallholder')
           AS smallholder_count,
       (SELECT count(*) FROM entity e WHERE e.township_code = t.code AND e.kind = 'buyer')
           AS buyer_count,
       (SELECT count(*) FROM plot p WHERE p.township_code = t.code) AS plot_count,
       (SELECT count(*) FROM current_grid g WHERE g.township_code = t.code) AS grid_count
FROM township t
"""

_GRID_SELECT = """
SELECT g.id, g.code, g.name, g.township_code, g.valid_from, g.valid_to,
       ST_AsGeoJSON(g.boundary, 6)::json AS geometry,
       (SELECT s.person FROM grid_staff s WHERE s.grid_id = g.id AND s.role = 'supervisor')
           AS supervisor,
       (SELECT coalesce(array_agg(s.person ORDER BY s.person), '{}') FROM grid_staff s
        WHERE s.grid_id = g.id AND s.role = 'assistant') AS assistants,
       (SELECT count(*) FROM entity e WHERE e.grid_id = g.id AND e.is_producer) AS producer_count,
       (SELECT count(*) FROM entity e WHERE e.grid_id = g.id AND e.kind = 'smallholder')
           AS smallholder_count,
       (SELECT count(*) FROM plot p WHERE p.grid_id = g.id) AS plot_count
FROM current_grid g
"""


def list_townships(conn: Connection, county: str | None = None) -> list[Any]:
    where = "WHERE t.county_code = :county" if county else ""
    return conn.execute(text(f"{_TOWNSHIP_SELECT} {where} ORDER BY t.code"),
                        {"county": county}).all()


def get_township(conn: Connection, code: str) -> Any:
    row = conn.execute(text(f"{_TOWNSHIP_SELECT} WHERE t.code = :code"), {"code": code}).first()
    if row is None:
        raise NotFound(f"乡镇 {code} 不存在",
                       [FieldError("code", "not_found", "乡镇不存在")])
    return row


def list_grids(conn: Connection, township_code: str) -> list[Any]:
    get_township(conn, township_code)
    return conn.execute(text(f"{_GRID_SELECT} WHERE g.township_code = :code ORDER BY g.code"),
                        {"code": township_code}).all()
