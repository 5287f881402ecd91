-- Sampling plans (抽样计划): a request, the frame it was drawn from, and the targets chosen.
--
-- A plan is written once, in one transaction, after the whole request has been checked; only
-- the targets' status changes afterwards. The request is kept as submitted, beside the
-- normalised parameters that actually drew the plan (defaults filled in, seed included), so the
-- same parameters on the same data give the same plan again.

CREATE TABLE sampling_plan (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                  text,
    request               jsonb NOT NULL,              -- as submitted
    parameters            jsonb NOT NULL,              -- normalised: what drew the plan
    seed                  bigint NOT NULL,
    method                text NOT NULL CHECK (method IN ('grts', 'lpm', 'srs')),
    test_kind             text NOT NULL CHECK (test_kind IN
                              ('rapid_colloidal_gold', 'rapid_enzyme_inhibition',
                               'rapid_veterinary', 'lab')),
    commodities           text[] NOT NULL,
    n                     integer NOT NULL CHECK (n > 0),
    replacements          integer NOT NULL DEFAULT 0 CHECK (replacements >= 0),
    area                  geometry(MultiPolygon, 4326) NOT NULL,  -- the union of all parts
    frame_size            integer NOT NULL CHECK (frame_size >= n),
    balance_pielou        double precision,            -- spsurvey sp_balance of the base sample
    balance_srs_mean      double precision,            -- the same, mean of SRS on this frame
    strata                jsonb NOT NULL,              -- [{key, label, frame, allocated, ...}]
    smallholder_share     double precision NOT NULL CHECK (smallholder_share BETWEEN 0 AND 1),
    smallholder_required  integer NOT NULL,
    smallholder_selected  integer NOT NULL,
    smallholder_met       boolean NOT NULL,
    smallholder_message   text,
    -- a township supervisor's plan: its area lies in this township
    township_code         char(12) REFERENCES township (code),
    created_by            bigint REFERENCES account (id),
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sampling_plan_created ON sampling_plan (created_at DESC, id DESC);
CREATE INDEX sampling_plan_township ON sampling_plan (township_code);

CREATE TABLE sampling_plan_target (
    plan_id               bigint NOT NULL REFERENCES sampling_plan (id) ON DELETE CASCADE,
    no                    integer NOT NULL CHECK (no > 0),  -- base 1..n, then replacements
    role                  text NOT NULL CHECK (role IN ('base', 'replacement')),
    -- an entity leaves the registry only through demo regeneration (credit records block
    -- other deletions), and takes its targets along; a deleted plot leaves the copied point
    entity_id             bigint NOT NULL REFERENCES entity (id) ON DELETE CASCADE,
    plot_id               bigint REFERENCES plot (id) ON DELETE SET NULL,
    commodity             text NOT NULL REFERENCES commodity (slug),
    location              geometry(Point, 4326) NOT NULL,  -- the main plot's point on surface
    township_code         char(12) NOT NULL,
    grid_id               bigint,
    stratum               text,                            -- the plan's stratum key, if any
    inclusion_probability double precision NOT NULL
                              CHECK (inclusion_probability > 0 AND inclusion_probability <= 1),
    weight                double precision NOT NULL CHECK (weight > 0),
    weight_reasons        text[] NOT NULL DEFAULT '{}',
    status                text NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'sampled', 'replaced')),
    status_reason         text,
    status_on             date,  -- the day of the change, China Standard Time (georeg_today())
    changed_at            timestamptz,
    changed_by            bigint REFERENCES account (id),
    PRIMARY KEY (plan_id, no),
    CONSTRAINT sampling_target_replaced_reason CHECK (
        status <> 'replaced' OR btrim(coalesce(status_reason, '')) <> '')
);
-- The exclusion window reads the entities sampled lately.
CREATE INDEX sampling_target_sampled ON sampling_plan_target (entity_id, status_on)
    WHERE status = 'sampled';
CREATE INDEX sampling_target_entity ON sampling_plan_target (entity_id);

-- A recorded rapid or lab test names the plan target it fulfils (sql/009_testing.sql).
ALTER TABLE rapid_test ADD CONSTRAINT rapid_test_plan_target_fkey
    FOREIGN KEY (plan_id, target_no) REFERENCES sampling_plan_target (plan_id, no);
ALTER TABLE lab_sample ADD CONSTRAINT lab_sample_plan_target_fkey
    FOREIGN KEY (plan_id, target_no) REFERENCES sampling_plan_target (plan_id, no);

-- A test recorded for a pending target marks it sampled, on the day it was sampled.
CREATE FUNCTION sampling_target_tested() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sampling_plan_target
    SET status = 'sampled', status_on = NEW.sampled_on, changed_at = now(),
        changed_by = NEW.recorded_by
    WHERE plan_id = NEW.plan_id AND no = NEW.target_no AND status = 'pending';
    RETURN NULL;
END $$;

CREATE TRIGGER rapid_test_marks_target AFTER INSERT ON rapid_test
    FOR EACH ROW WHEN (NEW.plan_id IS NOT NULL)
    EXECUTE FUNCTION sampling_target_tested();
CREATE TRIGGER lab_sample_marks_target AFTER INSERT ON lab_sample
    FOR EACH ROW WHEN (NEW.plan_id IS NOT NULL)
    EXECUTE FUNCTION sampling_target_tested();
