"""Grid staff: one supervisor and assistants per grid, and each person's workload."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from georeg.database import sql_statement
from georeg.errors import FieldError, NotFound

_GRID = sql_statement("grids", "grid.sql")

_WORKLOAD = text("""
WITH per_grid AS (
    SELECT g.id, g.township_code,
           (SELECT count(*) FROM entity e WHERE e.grid_id = g.id AND e.kind <> 'buyer'
              AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today()))
               AS entities,
           (SELECT count(*) FROM plot p WHERE p.grid_id = g.id
              AND (p.retired_on IS NULL OR p.retired_on >= georeg_today())) AS plots
    FROM current_grid g
    WHERE CAST(:township AS text) IS NULL OR g.township_code = :township)
SELECT s.person, s.role, pg.township_code, count(*) AS grids,
       sum(pg.entities)::int AS entities, sum(pg.plots)::int AS plots,
       array_agg(g.code ORDER BY g.code) AS grid_codes
FROM grid_staff s JOIN per_grid pg ON pg.id = s.grid_id JOIN grid g ON g.id = s.grid_id
GROUP BY s.person, s.role, pg.township_code
ORDER BY pg.township_code, s.role DESC, entities DESC, s.person
""")


def get_grid(conn: Connection, grid_id: int) -> Any:
    row = conn.execute(_GRID, {"id": grid_id}).first()
    if row is None:
        raise NotFound(f"网格 {grid_id} 不存在", [FieldError("grid_id", "not_found", "网格不存在")])
    return row


def set_staff(conn: Connection, grid_id: int, *, supervisor: str | None,
              assistants: list[str]) -> None:
    get_grid(conn, grid_id)
    conn.execute(text("DELETE FROM grid_staff WHERE grid_id = :g"), {"g": grid_id})
    people = ([("supervisor", supervisor)] if supervisor else []) + \
        [("assistant", a) for a in dict.fromkeys(assistants) if a and a != supervisor]
    if people:
        conn.execute(text("INSERT INTO grid_staff (grid_id, role, person) VALUES (:g, :r, :p)"),
                     [{"g": grid_id, "r": r, "p": p.strip()} for r, p in people])


def workload(conn: Connection, township: str | None = None) -> list[dict[str, Any]]:
    return [r._asdict() for r in conn.execute(_WORKLOAD, {"township": township})]
