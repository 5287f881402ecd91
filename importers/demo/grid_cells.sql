-- Demo grids (importers.demo.grids.generate_grids): k per township, about one per 25 km2,
-- 3 to 8; the Voronoi cells of the k-means centres of seeded random points, clipped to the
-- township and numbered from north to south (west to east at the same latitude).
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
