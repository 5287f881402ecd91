"""Re-assign entities, plots and site points to their township and grid in set-based passes.

Run after a boundary import or edit. The spatial join drives from the grids into the GiST
index of each big table (a nested loop over ~1,000 grids, not over a million points), which
is the plan PERFORMANCE.md measured fastest. Only rows whose assignment changes are written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

# One statement per table: (table, location expression, township column source).
_MOVES = {
    "entity": """
        WITH hit AS (
            SELECT DISTINCT ON (x.id) x.id, g.id AS grid_id
            FROM current_grid g JOIN entity x
              ON x.township_code = g.township_code AND ST_Intersects(g.boundary, x.location)
            ORDER BY x.id, g.id),
        moved AS (
            UPDATE entity x SET grid_id = h.grid_id
            FROM entity x0 LEFT JOIN hit h ON h.id = x0.id
            WHERE x.id = x0.id AND x0.grid_id IS DISTINCT FROM h.grid_id
            RETURNING x0.grid_id AS old_grid, h.grid_id AS new_grid)
        SELECT old_grid, new_grid, count(*) AS n FROM moved GROUP BY 1, 2""",
    "plot": """
        WITH hit AS (
            SELECT DISTINCT ON (x.id) x.id, g.id AS grid_id
            FROM current_grid g JOIN plot x
              ON x.township_code = g.township_code AND g.boundary && x.geom
             AND ST_Intersects(g.boundary, ST_PointOnSurface(x.geom))
            ORDER BY x.id, g.id),
        moved AS (
            UPDATE plot x SET grid_id = h.grid_id
            FROM plot x0 LEFT JOIN hit h ON h.id = x0.id
            WHERE x.id = x0.id AND x0.grid_id IS DISTINCT FROM h.grid_id
            RETURNING x0.grid_id AS old_grid, h.grid_id AS new_grid)
        SELECT old_grid, new_grid, count(*) AS n FROM moved GROUP BY 1, 2""",
    "site_point": """
        WITH hit AS (
            SELECT DISTINCT ON (x.id) x.id, g.id AS grid_id, g.township_code
            FROM current_grid g JOIN site_point x ON ST_Intersects(g.boundary, x.geom)
            ORDER BY x.id, g.id),
        moved AS (
            UPDATE site_point x SET grid_id = h.grid_id,
                                    township_code = coalesce(h.township_code, x0.township_code)
            FROM site_point x0 LEFT JOIN hit h ON h.id = x0.id
            WHERE x.id = x0.id AND x0.grid_id IS DISTINCT FROM h.grid_id
            RETURNING x0.grid_id AS old_grid, h.grid_id AS new_grid)
        SELECT old_grid, new_grid, count(*) AS n FROM moved GROUP BY 1, 2""",
}

# Entities whose site left their township move with it (their plots follow by trigger).
_ENTITY_TOWNSHIPS = """
UPDATE entity e SET township_code = t.code
FROM township t
WHERE ST_Intersects(t.boundary, e.location)
  AND e.township_code <> t.code
  AND NOT ST_Intersects((SELECT boundary FROM township WHERE code = e.township_code), e.location)
RETURNING e.id
"""


def reassign(conn: Connection, tables: tuple[str, ...] = tuple(_MOVES)) -> dict[str, Any]:
    """Re-assign everything; returns what moved: per table, (old grid code, new grid code, n)."""
    moved_township = len(conn.execute(text(_ENTITY_TOWNSHIPS)).all()) if "entity" in tables else 0
    codes = dict(conn.execute(text("SELECT id, code FROM grid")).all())
    report: dict[str, Any] = {"entities_moved_township": moved_township}
    for table in tables:
        sql = _MOVES[table]
        rows = conn.execute(text(sql)).all()
        report[table] = [{"from": codes.get(r.old_grid), "to": codes.get(r.new_grid), "n": r.n}
                         for r in sorted(rows, key=lambda r: -r.n)]
        report[f"{table}_moved"] = sum(r.n for r in rows)
    return report
