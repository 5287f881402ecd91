"""Demo boundaries: official township polygons are not public, so the demo draws its own.

Townships are Voronoi cells around the townships' points, clipped to the county outline; grids
are compact cells inside each township (k-means centres of random points, then Voronoi), not a
plain lattice. Everything is computed in PostGIS and is reproducible from the seed.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

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

# k grids per township, about one per 25 km2, 3 to 8.
GRID_CELLS = text("""
WITH t AS (
    SELECT code, name, boundary,
           greatest(3, least(8, round(ST_Area(boundary::geography) / 25e6)))::int AS k
    FROM township WHERE code = ANY(:codes) AND boundary IS NOT NULL),
pts AS (
    SELECT t.code, t.k, d.path[1] AS n, d.geom AS p
    FROM t CROSS JOIN LATERAL ST_Dump(ST_GeneratePoints(t.boundary, 60 * t.k, :seed)) d),
clustered AS (  -- ordered, so k-means starts alike whatever order the rows come in
    SELECT code, p, ST_ClusterKMeans(p, k) OVER (PARTITION BY code ORDER BY n) AS cid
    FROM pts),
centres AS (
    SELECT code, ST_Centroid(ST_Collect(p)) AS c FROM clustered GROUP BY code, cid),
cells AS (
    SELECT t.code, (ST_Dump(ST_VoronoiPolygons(ST_Collect(centres.c), 0,
                                               ST_Expand(ST_Envelope(t.boundary), 0.05)))).geom
           AS cell
    FROM centres JOIN t USING (code) GROUP BY t.code, t.boundary),
clipped AS (
    SELECT t.code, t.name,
           ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Intersection(cells.cell, t.boundary)), 3))
           AS boundary
    FROM cells JOIN t USING (code)),
numbered AS (
    SELECT code, name, boundary,
           row_number() OVER (PARTITION BY code ORDER BY ST_Y(ST_Centroid(boundary)) DESC,
                                                        ST_X(ST_Centroid(boundary))) AS n
    FROM clipped WHERE NOT ST_IsEmpty(boundary))
INSERT INTO grid (code, township_code, name, boundary, valid_from)
SELECT code || lpad(n::text, 3, '0'), code, name || '第' || n || '网格', boundary, :valid_from
FROM numbered
""")


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
