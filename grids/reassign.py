"""Re-assign entities, plots and site points to their township and grid in set-based passes.

Run after a boundary import or edit. Entities and plots: each spatial join drives from the
grids into the GiST index of the big table (a nested loop over ~1,000 grids, not over a
million points), the fastest plan (docs/performance.md, "Spatial joins"); rows move if their grid
changes.

Site points, the largest table, keep their place in the narrow `site_point_place` (sql/011,
sql/013), which also carries the point. Only places in closed grids are re-tested, against
the current grids that intersect their old one (a hash join on the old grid id, no spatial
index): an edit updates them in place; a redraw writes the table afresh and swaps it in
(updating a million rows in place costs more than writing them). A first or a full
assignment drives from the grids into the points' GiST index.

The entity and plot pass is one template, as is the look-up of lost places
(reassign_look_up.sql): table and column names go in through psycopg.sql.Identifier.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

from psycopg import sql
from sqlalchemy import Connection, TextClause, text
from sqlalchemy.exc import IntegrityError

from georeg.database import sql_source

# Entities and plots: (location expression, where the grid's box must overlap).
_LOCATED: dict[str, tuple[sql.Composable, sql.Composable]] = {
    "entity": (sql.Identifier("x", "location"), sql.Identifier("x", "location")),
    "plot": (sql.SQL("ST_PointOnSurface({})").format(sql.Identifier("x", "geom")),
             sql.Identifier("x", "geom")),
}

# One template for both tables, composed by _update.
_UPDATE = sql.SQL("""
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
""")

# Entities whose site left their township move with it (their plots follow by trigger).
_ENTITY_TOWNSHIPS = """
UPDATE entity e SET township_code = t.code
FROM township t
WHERE ST_Intersects(t.boundary, e.location)
  AND e.township_code <> t.code
  AND NOT ST_Intersects((SELECT boundary FROM township WHERE code = e.township_code), e.location)
RETURNING e.id
"""

# Site points. Only places in closed grids are tested, each against the current grids that
# intersect its old grid (any grid holding a point of the old grid does): a hash join on the
# old grid id over the narrow place table, which carries the point, with no spatial index and
# no pairing of new places with old ones by point id. A place whose grid is still current
# stays: a newer grid never takes a point from an older one (on a shared edge the lower id
# keeps it), so the work follows the grids that changed.
_CANDIDATES = """
CREATE TEMP TABLE reassign_candidate ON COMMIT DROP AS
SELECT o.id AS old_grid, o.id AS grid_id, o.township_code, true AS kept,
       NULL::geometry AS boundary
FROM current_grid o
UNION ALL
SELECT o.id, n.id, n.township_code, false, n.boundary
FROM grid o JOIN current_grid n ON n.boundary && o.boundary
 AND ST_Intersects(n.boundary, o.boundary)
WHERE o.id = ANY(:closed)
"""
# An edit (few places in closed grids): those places are updated in place, the lowest grid id
# kept on an edge. Rebuilding would copy every unchanged row.
_IN_PLACE = """
WITH hit AS (
    SELECT DISTINCT ON (p.site_point_id) p.site_point_id, c.grid_id, c.township_code,
           p.grid_id AS old_grid
    FROM site_point_place p JOIN reassign_candidate c
      ON c.old_grid = p.grid_id AND NOT c.kept AND ST_Intersects(c.boundary, p.geom)
    ORDER BY p.site_point_id, c.grid_id),
moved AS (
    UPDATE site_point_place p SET grid_id = h.grid_id, township_code = h.township_code
    FROM hit h WHERE p.site_point_id = h.site_point_id
    RETURNING h.old_grid, h.grid_id AS new_grid)
SELECT old_grid, new_grid, count(*) AS n FROM moved GROUP BY 1, 2
"""
# A redraw (many places in closed grids): the table is written afresh in the order it is read
# and swapped in. Places in no candidate come out with no grid (as do those that had none).
# ST_Intersects tests the boxes itself, cheaper than a separate && here.
_BY_OLD_GRID = """
CREATE TABLE site_point_place_next AS
SELECT p.site_point_id, c.township_code, c.grid_id, p.geom, p.grid_id AS old_grid
FROM site_point_place p LEFT JOIN reassign_candidate c
  ON c.old_grid = p.grid_id AND (c.kept OR ST_Intersects(c.boundary, p.geom))
"""
# A first assignment (most places without a grid) or a full one: every point from the join
# driven from the grids into the points' GiST index.
_BY_GRIDS = """
CREATE TABLE site_point_place_next AS
SELECT p.site_point_id, h.township_code, h.grid_id, p.geom, p.grid_id AS old_grid
FROM site_point_place p LEFT JOIN (
    SELECT x.id, g.id AS grid_id, g.township_code
    FROM current_grid g JOIN site_point x ON ST_Intersects(g.boundary, x.geom)) h
  ON h.id = p.site_point_id
"""
# Every place in place, against the current grids (the lowest id on an edge): a full or first
# assignment by a role that may not swap tables (the API's, sql/022). Places in no grid are
# then looked up by township (reassign_look_up.sql).
_ALL_IN_PLACE = """
WITH hit AS (
    SELECT DISTINCT ON (p.site_point_id) p.site_point_id, g.id AS grid_id, g.township_code
    FROM site_point_place p JOIN current_grid g ON ST_Intersects(g.boundary, p.geom)
    ORDER BY p.site_point_id, g.id),
moved AS (
    UPDATE site_point_place p SET grid_id = h.grid_id, township_code = h.township_code
    FROM site_point_place p0 LEFT JOIN hit h ON h.site_point_id = p0.site_point_id
    WHERE p.site_point_id = p0.site_point_id AND p0.grid_id IS DISTINCT FROM h.grid_id
    RETURNING p0.grid_id AS old_grid, h.grid_id AS new_grid)
SELECT old_grid, new_grid, count(*) AS n FROM moved GROUP BY 1, 2
"""
# Only the owner of site_point_place may write a table afresh and swap it in.
_MAY_SWAP = """
SELECT has_schema_privilege('public', 'CREATE')
   AND pg_has_role(current_user, (SELECT relowner FROM pg_class
                                  WHERE oid = 'site_point_place'::regclass), 'USAGE')
"""
_PRIMARY_KEY = "ALTER TABLE site_point_place_next ADD PRIMARY KEY (site_point_id)"
# A point on the edge shared by two grids meets both; the primary key catches it and the
# lower grid id is kept, as the entity and plot passes do (rare, so not paid for by a sort of
# every point).
_DEDUPLICATE = """
DELETE FROM site_point_place_next a USING site_point_place_next b
WHERE a.site_point_id = b.site_point_id AND a.grid_id > b.grid_id
"""
# Moves, and the places left without a grid (grid_id NULL), in one pass.
_MOVES = """
SELECT old_grid, grid_id AS new_grid, count(*) AS n FROM site_point_place_next
WHERE old_grid IS DISTINCT FROM grid_id OR grid_id IS NULL GROUP BY 1, 2
"""
# The copied points come from a table that had them all; the check guards new rows without
# a scan of the million copied. Statistics for the columns reports filter on.
_SWAP = """
ALTER TABLE site_point_place_next DROP COLUMN old_grid,
    ADD CONSTRAINT site_point_place_geom CHECK (geom IS NOT NULL) NOT VALID;
DROP TABLE site_point_place;
ALTER TABLE site_point_place_next RENAME TO site_point_place;
ALTER INDEX site_point_place_next_pkey RENAME TO site_point_place_pkey;
SELECT site_point_place_protect();  -- the policies and grants went with the old table (sql/022)
ANALYZE site_point_place (township_code, grid_id)
"""


@cache
def _update(table: str) -> TextClause:
    """_UPDATE for `table` ("entity" or "plot")."""
    at, box = _LOCATED[table]
    return text(_UPDATE.format(table=sql.Identifier(table), at=at, box=box).as_string())


@cache
def _look_up(table: str, old: str) -> TextClause:
    """reassign_look_up.sql for the places in `table`, whose old grid is in column `old`."""
    template = sql_source("grids", "reassign_look_up.sql")
    # a file of the package, not user text: safe as sql.SQL (typed for literals only)
    return text(sql.SQL(template).format(  # type: ignore[arg-type]
        table=sql.Identifier(table), old=sql.Identifier("p", old)).as_string())


def _site_points(conn: Connection, *, full: bool = False) -> list[Any]:
    # No new points meanwhile; readers go on (until the swap, when the table is rebuilt).
    conn.execute(text("LOCK TABLE site_point IN SHARE MODE; "
                      "LOCK TABLE site_point_place IN SHARE ROW EXCLUSIVE MODE"))
    held = dict(conn.execute(text(
        "SELECT grid_id, count(*) FROM site_point_place GROUP BY grid_id")).all())
    current = set(conn.execute(text("SELECT id FROM current_grid")).scalars())
    closed = [g for g in held if g is not None and g not in current]
    total, unplaced = sum(held.values()), held.get(None, 0)
    to_place = unplaced + sum(held[g] for g in closed)
    # the API's role owns nothing: every place is updated where it is (slower, same result)
    if (full or to_place > total // 5) and not conn.execute(text(_MAY_SWAP)).scalar():
        rows = conn.execute(text(_ALL_IN_PLACE)).all()
        return rows + conn.execute(_look_up("site_point_place", "grid_id"),
                                   {"closed": []}).all()
    if not full and to_place <= total // 5:
        conn.execute(text(_CANDIDATES), {"closed": closed})
        rows = conn.execute(text(_IN_PLACE)).all()
        rows += conn.execute(_look_up("site_point_place", "grid_id"),
                             {"closed": closed}).all()
        conn.execute(text("DROP TABLE reassign_candidate"))
        return rows
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    by_grids = full or unplaced > total // 4
    if by_grids:
        conn.execute(text(_BY_GRIDS))
    else:
        conn.execute(text(_CANDIDATES), {"closed": closed})
        conn.execute(text(_BY_OLD_GRID))
        conn.execute(text("DROP TABLE reassign_candidate"))
    try:
        with conn.begin_nested():
            conn.execute(text(_PRIMARY_KEY))
    except IntegrityError:
        conn.execute(text(_DEDUPLICATE))
        conn.execute(text(_PRIMARY_KEY))
    rows = conn.execute(text(_MOVES)).all()
    if any(r.new_grid is None for r in rows):
        conn.execute(_look_up("site_point_place_next", "old_grid"), {"closed": []})
        rows = conn.execute(text(_MOVES)).all()
    conn.execute(text(_SWAP))
    return rows


def _by_code(rows: list[Any], codes: dict[int, str]) -> list[dict[str, Any]]:
    """Moves between grids by code: a new version of the same grid is not a move."""
    moves: Counter[tuple[str | None, str | None]] = Counter()
    for r in rows:
        old, new = codes.get(r.old_grid), codes.get(r.new_grid)
        if old != new:
            moves[old, new] += r.n
    return [{"from": old, "to": new, "n": n}
            for (old, new), n in sorted(moves.items(), key=lambda m: (-m[1], str(m[0])))]


def reassign(conn: Connection,
             tables: tuple[str, ...] = ("entity", "plot", "site_point"), *,
             full: bool = False) -> dict[str, Any]:
    """Re-assign everything; returns what moved: per table, (old grid code, new grid code, n)
    (a new version of a grid under the same code is not a move).

    Site points in grids that did not change keep their place unless `full` is given (which
    tests every point against the current grids, to repair places).
    """
    # A bulk pass: the audit trail records each statement with the ids it moved, not each row
    # (sql/021_audit.sql, georeg.audit_rows); back to rows for the rest of the transaction.
    conn.execute(text("SELECT set_config('georeg.audit_rows', 'off', true)"))
    moved_township = len(conn.execute(text(_ENTITY_TOWNSHIPS)).all()) if "entity" in tables else 0
    codes = dict(conn.execute(text("SELECT id, code FROM grid")).all())
    report: dict[str, Any] = {"entities_moved_township": moved_township}
    for table in tables:
        if table == "site_point":
            rows = _site_points(conn, full=full)
        else:
            rows = conn.execute(_update(table)).all()
        report[table] = _by_code(rows, codes)
        report[f"{table}_moved"] = sum(m["n"] for m in report[table])
    conn.execute(text("SELECT set_config('georeg.audit_rows', '', true)"))
    return report
