"""Re-assign entities, plots and site points to their township and grid in set-based passes.

Run after a boundary import or edit. Each spatial join drives from the grids into the GiST
index of the big table (a nested loop over ~1,000 grids, not over a million points), the plan
PERFORMANCE.md measured fastest.

Entities and plots are updated where their grid changes. Site points, the largest table, keep
their place in the narrow `site_point_place` (sql/011): it is written afresh from the join and
swapped in, because updating a million wide rows rewrote every row and its index entries
(~10 times the join); the new table carries the old grid until the change report is read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

# Entities and plots: (location expression, where the grid's box must overlap).
_LOCATED = {
    "entity": ("x.location", "x.location"),
    "plot": ("ST_PointOnSurface(x.geom)", "x.geom"),
}

_UPDATE = """
WITH hit AS (
    SELECT DISTINCT ON (x.id) x.id, g.id AS grid_id
    FROM current_grid g JOIN {table} x
      ON x.township_code = g.township_code AND g.boundary && {box}
     AND ST_Intersects(g.boundary, {at})
    ORDER BY x.id, g.id),
moved AS (
    UPDATE {table} x SET grid_id = h.grid_id
    FROM {table} x0 LEFT JOIN hit h ON h.id = x0.id
    WHERE x.id = x0.id AND x0.grid_id IS DISTINCT FROM h.grid_id
    RETURNING x0.grid_id AS old_grid, h.grid_id AS new_grid)
SELECT old_grid, new_grid, count(*) AS n FROM moved GROUP BY 1, 2
"""

# Entities whose site left their township move with it (their plots follow by trigger).
_ENTITY_TOWNSHIPS = """
UPDATE entity e SET township_code = t.code
FROM township t
WHERE ST_Intersects(t.boundary, e.location)
  AND e.township_code <> t.code
  AND NOT ST_Intersects((SELECT boundary FROM township WHERE code = e.township_code), e.location)
RETURNING e.id
"""

# Site points: the new places beside the old grid. A point on the edge shared by two grids
# meets both; the primary key catches it and _DEDUPLICATE keeps the lower grid id, as the
# entity and plot passes do (rare, so not paid for by a sort of every point).
_REBUILD = """
CREATE TABLE site_point_place_next AS
SELECT o.site_point_id, h.township_code, h.grid_id, o.grid_id AS old_grid
FROM site_point_place o LEFT JOIN (
    SELECT x.id, g.id AS grid_id, g.township_code
    FROM current_grid g JOIN site_point x ON ST_Intersects(g.boundary, x.geom)) h
  ON h.id = o.site_point_id
"""
_DEDUPLICATE = """
DELETE FROM site_point_place_next a USING site_point_place_next b
WHERE a.site_point_id = b.site_point_id AND a.grid_id > b.grid_id
"""
# Points outside every grid still lie in a township (or none, outside the county).
_UNGRIDDED = """
UPDATE site_point_place_next n SET township_code = (
    SELECT t.code FROM site_point sp JOIN township t ON ST_Intersects(t.boundary, sp.geom)
    WHERE sp.id = n.site_point_id ORDER BY t.code LIMIT 1)
WHERE n.grid_id IS NULL
"""
_SITE_POINT_MOVES = """
SELECT old_grid, grid_id AS new_grid, count(*) AS n FROM site_point_place_next
WHERE old_grid IS DISTINCT FROM grid_id GROUP BY 1, 2
"""
_SWAP = """
ALTER TABLE site_point_place_next DROP COLUMN old_grid;
DROP TABLE site_point_place;
ALTER TABLE site_point_place_next RENAME TO site_point_place;
ALTER INDEX site_point_place_next_pkey RENAME TO site_point_place_pkey;
ANALYZE site_point_place
"""
_PRIMARY_KEY = "ALTER TABLE site_point_place_next ADD PRIMARY KEY (site_point_id)"


def _site_points(conn: Connection) -> list[Any]:
    # No new points while the table is rebuilt; readers go on until the swap.
    conn.execute(text("LOCK TABLE site_point IN SHARE MODE; "
                      "LOCK TABLE site_point_place IN SHARE ROW EXCLUSIVE MODE"))
    # the old places are hashed in memory, not spilled to disk in batches
    conn.execute(text("SET LOCAL work_mem = '256MB'; SET LOCAL maintenance_work_mem = '256MB'"))
    conn.execute(text(_REBUILD))
    try:
        with conn.begin_nested():
            conn.execute(text(_PRIMARY_KEY))
    except IntegrityError:
        conn.execute(text(_DEDUPLICATE))
        conn.execute(text(_PRIMARY_KEY))
    conn.execute(text(_UNGRIDDED))
    rows = conn.execute(text(_SITE_POINT_MOVES)).all()
    conn.execute(text(_SWAP))
    return rows


def reassign(conn: Connection,
             tables: tuple[str, ...] = ("entity", "plot", "site_point")) -> dict[str, Any]:
    """Re-assign everything; returns what moved: per table, (old grid code, new grid code, n)."""
    moved_township = len(conn.execute(text(_ENTITY_TOWNSHIPS)).all()) if "entity" in tables else 0
    codes = dict(conn.execute(text("SELECT id, code FROM grid")).all())
    report: dict[str, Any] = {"entities_moved_township": moved_township}
    for table in tables:
        if table == "site_point":
            rows = _site_points(conn)
        else:
            at, box = _LOCATED[table]
            rows = conn.execute(text(_UPDATE.format(table=table, at=at, box=box))).all()
        report[table] = [{"from": codes.get(r.old_grid), "to": codes.get(r.new_grid), "n": r.n}
                         for r in sorted(rows, key=lambda r: -r.n)]
        report[f"{table}_moved"] = sum(r.n for r in rows)
    return report
