-- Provenance collection: GPS site points uploaded by collectors, idempotent by client_uuid.

CREATE TABLE site_point (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_uuid   uuid NOT NULL UNIQUE,       -- the client's id for the observation
    content_hash  bytea NOT NULL,             -- what was sent, to tell a retry from a conflict
    entity_id     bigint NOT NULL REFERENCES entity (id) ON DELETE CASCADE,
    plot_id       bigint REFERENCES plot (id) ON DELETE SET NULL,
    commodity     text REFERENCES commodity (slug),
    geom          geometry(Point, 4326) NOT NULL,
    input_crs     text NOT NULL,
    input_x       double precision NOT NULL,  -- as submitted, before conversion
    input_y       double precision NOT NULL,
    collected_at  timestamptz,
    accuracy_m    real,
    note          text,
    -- Derived in the same statement from the account and from the grids and townships, which
    -- are never deleted (grids are closed, not removed): no foreign keys, whose per-row
    -- checks cost a quarter of a batch insert.
    collector_id  bigint,
    township_code char(12),                   -- where the point lies
    grid_id       bigint,
    flags         text[] NOT NULL DEFAULT '{}',
    source        text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'file')),
    received_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT site_point_flags_known CHECK (flags <@ ARRAY[
        'outside_collector_township', 'outside_entity_township', 'low_accuracy',
        'accuracy_missing', 'swapped_coordinates', 'outside_china', 'far_from_plots',
        'near_duplicate']::text[])
);
CREATE INDEX site_point_geom_gist ON site_point USING gist (geom);
CREATE INDEX site_point_entity ON site_point (entity_id, collected_at);
CREATE INDEX site_point_grid ON site_point (grid_id);
CREATE INDEX site_point_township_commodity ON site_point (township_code, commodity);

-- A later submission under a stored client_uuid with other content: kept for review,
-- never overwriting the stored point.
CREATE TABLE site_point_conflict (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_uuid  uuid NOT NULL REFERENCES site_point (client_uuid) ON DELETE CASCADE,
    content_hash bytea NOT NULL,
    submitted    jsonb NOT NULL,
    collector_id bigint REFERENCES account (id),
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_uuid, content_hash)
);

-- Rejected submissions are not points, but the completeness report counts them.
CREATE TABLE site_point_rejection (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_uuid   uuid,
    content_hash  bytea NOT NULL,
    entity_id     bigint,
    township_code char(12),
    commodity     text,
    collected_at  timestamptz,
    reasons       text[] NOT NULL,
    collector_id  bigint REFERENCES account (id),
    received_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (content_hash)
);
CREATE INDEX site_point_rejection_township ON site_point_rejection (township_code, commodity);

-- Deadlines for site points of the key products, by year.
CREATE TABLE provenance_deadline (
    year      integer NOT NULL,
    commodity text NOT NULL REFERENCES commodity (slug),
    due       date NOT NULL,
    source    text NOT NULL,
    PRIMARY KEY (year, commodity)
);
INSERT INTO provenance_deadline (year, commodity, due, source)
SELECT 2023, slug, CASE WHEN slug = 'cowpea' THEN DATE '2023-03-31' ELSE DATE '2023-12-31' END,
       '安农〔2023〕66号'
FROM commodity WHERE provenance_key;
