-- A GeoJSON FeatureCollection's features into `incoming` (stage.sql), parsed and checked by
-- PostgreSQL: what is wrong with a feature becomes a rejection reason, never an error. Ids and
-- the content hash are the functions of sql/015_collection_functions.sql (inlined).
-- Each step reads the layer before; the MATERIALIZED ones keep PostgreSQL from repeating an
-- expression wherever its column is used (a JSON lookup or a regular expression per use).
WITH body AS MATERIALIZED (SELECT CAST(:body AS jsonb) AS doc),  -- parsed once
collection AS MATERIALIZED (
    -- the features of a FeatureCollection (an array, or the body is something else)
    SELECT CASE WHEN jsonb_typeof(doc) = 'object' AND doc ->> 'type' = 'FeatureCollection'
                THEN doc -> 'features' END AS features
    FROM body),
feature AS MATERIALIZED (
    SELECT f.ord::int AS ord, f.value -> 'properties' AS p, f.value -> 'geometry' AS g
    FROM collection,
         jsonb_array_elements(CASE WHEN jsonb_typeof(features) = 'array'
                                        AND jsonb_array_length(features) <= :max_batch
                                   THEN features END) WITH ORDINALITY AS f(value, ord)),
member AS MATERIALIZED (
    -- the members the checks need, looked up once; in a feature, properties or geometry
    -- that is not a JSON object there are none; a JSON null is no value
    SELECT ord,
           coalesce(jsonb_typeof(g) = 'object', false) AS has_geometry,
           coalesce(g -> 'type' = '"Point"', false) AS is_point,
           CASE WHEN jsonb_typeof(g -> 'coordinates' -> 0) = 'number'
                 AND jsonb_typeof(g -> 'coordinates' -> 1) = 'number'
                THEN CAST(g -> 'coordinates' -> 0 AS numeric) END AS x,
           CASE WHEN jsonb_typeof(g -> 'coordinates' -> 0) = 'number'
                 AND jsonb_typeof(g -> 'coordinates' -> 1) = 'number'
                THEN CAST(g -> 'coordinates' -> 1 AS numeric) END AS y,
           nullif(p -> 'client_uuid', 'null') AS client_uuid,
           nullif(p -> 'entity_id', 'null') AS entity_id,
           nullif(p -> 'plot_id', 'null') AS plot_id,
           nullif(p -> 'commodity', 'null') AS commodity,
           nullif(p -> 'collected_at', 'null') AS collected_at,
           nullif(p -> 'accuracy_m', 'null') AS accuracy_m,
           nullif(p -> 'note', 'null') AS note
    FROM feature),
property AS MATERIALIZED (
    -- typed where the type is right
    SELECT ord, has_geometry, is_point, x, y, entity_id, plot_id,
           CASE WHEN jsonb_typeof(client_uuid) = 'string'
                THEN client_uuid #>> '{}' END AS uuid_text,
           CASE WHEN jsonb_typeof(commodity) = 'string'
                THEN commodity #>> '{}' END AS commodity,
           collected_at IS NOT NULL AND collected_at <> '""' AS time_given,
           CASE WHEN jsonb_typeof(collected_at) = 'string'
                THEN btrim(collected_at #>> '{}') END AS time_text,
           -- a number, or a string of one (as Python's float() reads it)
           accuracy_m IS NOT NULL AND accuracy_m <> '""' AS accuracy_given,
           CASE jsonb_typeof(accuracy_m)
               WHEN 'number' THEN CAST(accuracy_m AS numeric)
               WHEN 'string' THEN CASE WHEN accuracy_m #>> '{}' ~ (
                   '^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?\s*$')
                   THEN CAST(accuracy_m #>> '{}' AS numeric) END END AS accuracy,
           -- any note is kept as text, the first 1,000 characters
           left(CASE WHEN jsonb_typeof(note) = 'string' THEN note #>> '{}'
                     ELSE CAST(note AS text) END, 1000) AS note
    FROM member),
parsed AS MATERIALIZED (
    SELECT ord, has_geometry, is_point, commodity, note, time_given, accuracy_given,
           -- a UUID: as usually written (checked by patterns without counted repeats, which
           -- PostgreSQL matches twice as fast), else as Python reads one (hyphens and braces
           -- anywhere, a urn:uuid: prefix)
           CASE WHEN uuid_text LIKE '________-____-____-____-____________'
                 AND uuid_text ~ ('^[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+'
                                  '-[0-9A-Fa-f]+$')
                THEN CAST(uuid_text AS uuid)
                WHEN replace(replace(translate(uuid_text, '{}-', ''), 'urn:', ''), 'uuid:', '')
                     ~ '^[0-9A-Fa-f]{32}$'
                THEN CAST(replace(replace(translate(uuid_text, '{}-', ''), 'urn:', ''),
                                  'uuid:', '') AS uuid) END AS client_uuid,
           collection_json_id(entity_id) AS entity_id,
           entity_id IS NOT NULL AS entity_given,
           collection_json_id(plot_id) AS plot_id,
           -- finite doubles only: far beyond any coordinate the cast would fail
           CASE WHEN x = 0 OR abs(x) BETWEEN 1e-300 AND 1e300 THEN CAST(x AS float8) END AS x,
           CASE WHEN y = 0 OR abs(y) BETWEEN 1e-300 AND 1e300 THEN CAST(y AS float8) END AS y,
           CASE WHEN accuracy = 0 OR accuracy BETWEEN 1e-30 AND 1e30
                THEN CAST(accuracy AS real) END AS accuracy_m,
           -- ISO 8601 extended format: a date, or a date and a time (T or a space between)
           -- to the minute, second or fraction, with an offset or without (China Standard
           -- Time). The pattern admits only real field values and offsets PostgreSQL reads
           -- (to 15 hours); the days of short months are checked apart. Only then is the
           -- text cast: a cast of a wrong one fails.
           CASE WHEN time_text ~ ('^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])'
                                  '([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?'
                                  '(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?)?$')
                 AND left(time_text, 4) <> '0000'
                THEN CASE WHEN substr(time_text, 9, 2) > '28'
                           AND CAST(substr(time_text, 9, 2) AS int)
                               > extract(day FROM make_date(CAST(left(time_text, 4) AS int),
                                                           CAST(substr(time_text, 6, 2) AS int),
                                                           1) + interval '1 month - 1 day')
                          THEN NULL
                          WHEN length(time_text) > 10 AND time_text ~ '(Z|[+-][0-9:]+)$'
                          THEN CAST(time_text AS timestamptz)
                          ELSE CAST(time_text AS timestamp) AT TIME ZONE interval '08:00'
                          END END AS collected_at
    FROM property),
checked AS MATERIALIZED (
    SELECT *, CASE WHEN has_geometry AND is_point AND x IS NOT NULL AND y IS NOT NULL
                   THEN x END AS input_x,
              CASE WHEN has_geometry AND is_point AND x IS NOT NULL AND y IS NOT NULL
                   THEN y END AS input_y,
           -- in the order the Python checks gave them
           array_remove(ARRAY[
               CASE WHEN entity_given AND entity_id IS NULL THEN 'unknown_entity' END,
               CASE WHEN accuracy_given AND accuracy_m IS NULL THEN 'invalid_accuracy' END,
               CASE WHEN time_given AND collected_at IS NULL THEN 'invalid_time' END,
               CASE WHEN NOT has_geometry THEN 'missing_geometry'
                    WHEN NOT is_point THEN 'not_a_point'
                    WHEN x IS NULL OR y IS NULL THEN 'invalid_coordinates' END,
               CASE WHEN client_uuid IS NULL THEN 'invalid_client_uuid' END], NULL) AS found
    FROM parsed),
staged AS (  -- (a data-modifying WITH runs whether read or not)
    INSERT INTO incoming (ord, record, client_uuid, content_hash, entity_id, plot_id,
                          commodity, lon, lat, input_x, input_y, collected_at, accuracy_m,
                          note, reasons)
    SELECT ord, ord, client_uuid, collection_content_hash(
               client_uuid, entity_id, plot_id, commodity, CAST(:crs AS text), input_x, input_y,
               collected_at, accuracy_m, note, reasons), entity_id, plot_id, commodity, input_x,
           input_y, input_x, input_y, collected_at, accuracy_m, note, reasons
    FROM (SELECT *, found || CASE WHEN entity_id IS NULL AND found = '{}'
                                  THEN '{missing_entity}'::text[]
                                  ELSE '{}' END AS reasons
          FROM checked) c)
-- what the caller answers a body that is no FeatureCollection, an empty or too long one
SELECT coalesce(jsonb_typeof(features) = 'array', false) AS is_collection,
       CASE WHEN jsonb_typeof(features) = 'array' THEN jsonb_array_length(features) END AS n
FROM collection
