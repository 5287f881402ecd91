-- A tile's points aggregated into cells (cx by cy degrees), below DETAIL_ZOOM
-- (maplayers.tiles): the same template as tile_points.sql. Cells in degrees: no per-point
-- projection; close enough for aggregation.
SELECT avg(ST_X({place})) AS x, avg(ST_Y({place})) AS y, min(id) AS id,
       count(*)::int AS count, mode() WITHIN GROUP (ORDER BY {kind}) AS kind,
       bool_or({key}) AS key
FROM {table} WHERE {column} && ST_MakeEnvelope(:w, :s, :e, :n, 4326)
GROUP BY floor(ST_X({place}) / :cx), floor(ST_Y({place}) / :cy)
