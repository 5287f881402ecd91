-- The township's cells (grids.generate): the Voronoi cells of the seed points, united per
-- group and clipped to the township, as WKB multipolygons in group order.
WITH pts AS (
    SELECT ST_SetSRID(ST_MakePoint(x, y), 4326) AS p, g
    FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[]), CAST(:gs AS int[])) AS u(x, y, g)),
t AS (SELECT boundary FROM township WHERE code = :t),
cells AS (
    SELECT (ST_Dump(ST_VoronoiPolygons(ST_Collect(p), 0,
                                       ST_Expand(ST_Envelope((SELECT boundary FROM t)), 0.05))))
           .geom AS cell
    FROM pts),
labelled AS (  -- each Voronoi cell takes the group of the point inside it
    SELECT DISTINCT ON (c.cell) c.cell, pts.g
    FROM cells c JOIN pts ON ST_Intersects(c.cell, pts.p)
    ORDER BY c.cell, pts.g)
SELECT g, ST_AsBinary(ST_Multi(ST_CollectionExtract(ST_MakeValid(
           ST_Intersection(ST_Union(cell), (SELECT boundary FROM t))), 3))) AS boundary
FROM labelled GROUP BY g ORDER BY g
