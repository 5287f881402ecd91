-- A batch's staging tables, for one transaction. `incoming`: the rows as sent (a file's by
-- binary COPY, copy_incoming.sql; a GeoJSON body's by stage_features.sql), one per input row.
CREATE TEMP TABLE incoming (
    ord int,             -- position in the batch, from 1
    record int,          -- as the user counts: feature number, spreadsheet row
    client_uuid uuid, content_hash bytea, entity_id bigint, plot_id bigint,
    commodity text, lon double precision, lat double precision, input_x double precision,
    input_y double precision, collected_at timestamptz, accuracy_m real, note text,
    reasons text[],      -- why the row is rejected; '{}' while it is not
    extra_errors jsonb,  -- file rows: what reading the file found wrong
    xy geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326))
        STORED
) ON COMMIT DROP;
-- The points this batch stored, by row: the answer tells them from retries by this.
CREATE TEMP TABLE fresh (ord int, id bigint, flags text[]) ON COMMIT DROP
