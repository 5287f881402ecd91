-- Problems of the current grids (grids.topology.check), of one township or of all: overlaps,
-- gaps, grids crossing their township and slivers (parts under sliver_m2), each piece with its
-- area, a point on it and its shape; other pieces under min_m2 are floating-point noise.
WITH g AS (SELECT * FROM current_grid WHERE CAST(:township AS text) IS NULL
                                            OR township_code = :township),
overlap_pieces AS (
    SELECT 'overlap' AS kind, a.township_code, a.code AS grid_code, b.code AS other_code,
           (ST_Dump(ST_CollectionExtract(ST_Intersection(a.boundary, b.boundary, 1e-9), 3)))
               .geom AS geom
    FROM g a JOIN g b ON a.id < b.id AND a.boundary && b.boundary
    WHERE ST_Overlaps(a.boundary, b.boundary) OR ST_Within(a.boundary, b.boundary)
       OR ST_Within(b.boundary, a.boundary)),
gap_pieces AS (
    SELECT 'gap' AS kind, t.code AS township_code, NULL::text AS grid_code, NULL::text,
           (ST_Dump(ST_CollectionExtract(ST_Difference(t.boundary, u.geom, 1e-9), 3))).geom
    FROM township t
    JOIN (SELECT township_code, ST_Union(boundary, 1e-9) AS geom FROM g GROUP BY township_code) u
      ON u.township_code = t.code),
crossing_pieces AS (
    SELECT 'crosses_township' AS kind, g.township_code, g.code, NULL::text,
           (ST_Dump(ST_CollectionExtract(ST_Difference(g.boundary, t.boundary, 1e-9), 3))).geom
    FROM g JOIN township t ON t.code = g.township_code
    WHERE NOT ST_CoveredBy(g.boundary, t.boundary)),
sliver_pieces AS (
    SELECT 'sliver' AS kind, g.township_code, g.code, NULL::text, d.geom
    FROM g CROSS JOIN LATERAL ST_Dump(g.boundary) d
    WHERE ST_Area(d.geom::geography) < :sliver_m2),
problems AS (
    SELECT * FROM overlap_pieces UNION ALL SELECT * FROM gap_pieces
    UNION ALL SELECT * FROM crossing_pieces
    UNION ALL SELECT * FROM sliver_pieces)
SELECT kind, township_code, grid_code, other_code, ST_Area(geom::geography) AS area_m2,
       ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat,
       ST_AsGeoJSON(geom, 7)::json AS geometry
FROM problems
WHERE NOT ST_IsEmpty(geom) AND (kind = 'sliver' OR ST_Area(geom::geography) >= :min_m2)
ORDER BY township_code, kind, area_m2 DESC
