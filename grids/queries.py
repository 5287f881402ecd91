"""Reading townships and grids, with counts computed from the registry (never stored)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from georeg.database import sql_statement
from georeg.errors import FieldError, NotFound

# One township (:code) or those of a county (:county), or all: a NULL filter is no filter.
_TOWNSHIPS = sql_statement("grids", "townships.sql")

_GRIDS = text("""
SELECT g.id, g.code, g.name, g.township_code, g.valid_from, g.valid_to,
       ST_AsGeoJSON(g.boundary, 6)::json AS geometry, crew.supervisor, crew.assistants,
       n.producer_count, n.smallholder_count, n.plot_count
FROM current_grid g
-- counts from a definer function (aggregates only, sql/022): the list is public
JOIN grid_counts(CAST(:code AS bpchar)) n ON n.grid_id = g.id
-- the staff as row security lets the caller see them (none without an account)
CROSS JOIN LATERAL grid_crew(g.id) AS crew  -- sql/017_grid_crew.sql
WHERE g.township_code = :code ORDER BY g.code
""")


def list_townships(conn: Connection, county: str | None = None) -> list[Any]:
    return conn.execute(_TOWNSHIPS, {"county": county or None, "code": None}).all()


def get_township(conn: Connection, code: str) -> Any:
    row = conn.execute(_TOWNSHIPS, {"county": None, "code": code}).first()
    if row is None:
        raise NotFound(f"乡镇 {code} 不存在",
                       [FieldError("code", "not_found", "乡镇不存在")])
    return row


def list_grids(conn: Connection, township_code: str) -> list[Any]:
    get_township(conn, township_code)
    return conn.execute(_GRIDS, {"code": township_code}).all()
