-- The union of a plan's area parts (georeg.sampling.area.build_area), in WGS 84: drawn
-- polygons (:polygons, WKB), grids, townships and circles (buffers on the geography: true
-- metres), clipped to the township :scope of a township account (NULL: not clipped).
WITH parts AS (
    SELECT ST_GeomFromWKB(w, 4326) AS geom FROM unnest(CAST(:polygons AS bytea[])) AS w
    UNION ALL
    SELECT boundary FROM current_grid WHERE id = ANY(CAST(:grids AS bigint[]))
    UNION ALL
    SELECT boundary FROM township WHERE code = ANY(CAST(:townships AS text[]))
    UNION ALL
    SELECT ST_Buffer(CAST(ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326) AS geography),
                     c.r, 'quad_segs=16')::geometry
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]), CAST(:radii AS float8[]))
         AS c(lon, lat, r)),
drawn AS (
    SELECT ST_CollectionExtract(ST_UnaryUnion(ST_Collect(geom)), 3) AS geom FROM parts),
scoped AS (
    SELECT d.geom AS drawn,
           CASE WHEN t.code IS NULL THEN d.geom
                ELSE ST_CollectionExtract(ST_Intersection(d.geom, t.boundary), 3) END AS geom
    FROM drawn d LEFT JOIN township t ON t.code = CAST(:scope AS char(12)))
SELECT ST_AsEWKB(ST_Multi(geom)) AS ewkb,
       NOT ST_IsEmpty(geom) AND ST_Area(geom) > 0 AS has_area,
       coalesce(ST_Area(CAST(geom AS geography)) / 1e6, 0) AS km2,
       ST_X(ST_Centroid(geom)) AS centre_lon,
       EXISTS (SELECT 1 FROM township tw WHERE ST_Intersects(tw.boundary, geom)) AS in_county,
       CAST(:scope AS text) IS NOT NULL AND NOT ST_Equals(drawn, geom) AS clipped
FROM scoped
