"""Demo boundaries: official township polygons are not public, so the demo draws its own.

Townships are Voronoi cells around the townships' points, clipped to the county outline; grids
are compact cells inside each township (k-means centres of random points, then Voronoi), not a
plain lattice (grid_cells.sql). Everything is computed in PostGIS and is reproducible from the
seed.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from georeg.database import sql_statement

TOWNSHIP_VORONOI = text("""
WITH outline AS (SELECT ST_GeomFromWKB(:outline, 4326) AS g),
pts AS (
    SELECT code, centre FROM township
    WHERE code = ANY(:codes) AND boundary_source = 'demo'),
cells AS (
    SELECT (ST_Dump(ST_VoronoiPolygons(ST_Collect(pts.centre), 0,
                                       ST_Expand(ST_Envelope(outline.g), 0.2)))).geom AS cell
    FROM pts, outline GROUP BY outline.g)
UPDATE township t
SET boundary = ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Intersection(c.cell, o.g)), 3)),
    boundary_source = 'demo'
FROM cells c, outline o
WHERE t.code = ANY(:codes) AND t.boundary_source = 'demo' AND ST_Intersects(c.cell, t.centre)
""")

# k grids per township, about one per 25 km2, 3 to 8 (the statement says how).
GRID_CELLS = sql_statement("importers.demo", "grid_cells.sql")


def draw_township_boundaries(conn: Connection, *, codes: list[str], outline_wkb: bytes) -> int:
    """Voronoi boundaries for the demo-marked townships in `codes`; imported ones are kept."""
    return conn.execute(TOWNSHIP_VORONOI, {"codes": codes, "outline": outline_wkb}).rowcount


def generate_grids(conn: Connection, *, codes: list[str], seed: int, valid_from: str) -> int:
    """Demo grids for townships that have none yet."""
    empty = conn.execute(text(
        "SELECT array_agg(code) FROM township t WHERE code = ANY(:codes) "
        "AND NOT EXISTS (SELECT 1 FROM grid g WHERE g.township_code = t.code)"),
        {"codes": codes}).scalar() or []
    if not empty:
        return 0
    # ST_GeneratePoints takes a seed > 0; the seed makes the cells reproducible.
    return conn.execute(GRID_CELLS, {"codes": empty, "seed": max(1, seed),
                                     "valid_from": valid_from}).rowcount
