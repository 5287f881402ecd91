-- A tile's points one by one, from DETAIL_ZOOM on (maplayers.tiles). A template composed
-- with psycopg.sql: the brace fields are the layer's table, indexed geometry column and
-- the expressions of its place, kind and list membership (tiles._SOURCES).
SELECT ST_X({place}) AS x, ST_Y({place}) AS y, id, 1 AS count, {kind} AS kind, {key} AS key
FROM {table} WHERE {column} && ST_MakeEnvelope(:w, :s, :e, :n, 4326)
LIMIT :max_points
