-- Testing: rapid tests (快速检测), lab monitoring results (定量监测) judged against an MRL table
-- kept as data, the banned-pesticide list, and the county's lab-monitoring target.

-- The year plan gains the lab-monitoring batches (定量监测, 1,774 in 2023 for the county).
ALTER TABLE plan_target DROP CONSTRAINT plan_target_metric_check;
ALTER TABLE plan_target ADD CONSTRAINT plan_target_metric_check CHECK (metric IN (
    'producers', 'daily_patrols', 'monthly_patrols', 'annual_trace_codes',
    'annual_smallholder_certificates', 'rapid_tests_total',
    'rapid_tests_colloidal_gold', 'rapid_tests_enzyme_inhibition',
    'rapid_tests_veterinary', 'lab_monitoring_batches'));

-- Maximum residue limits, loaded by the county from its copy of the standards (georeg import
-- mrl). The project ships none. Versioned: a changed row closes the current one
-- (superseded_at) and the new one names it (replaces); judgements keep the id they used.
CREATE TABLE mrl (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    substance     text NOT NULL CHECK (btrim(substance) <> ''),
    commodity     text REFERENCES commodity (slug),        -- a commodity, or
    category      text CHECK (category IN                  -- a commodity category
                      ('tea', 'vegetable', 'fruit', 'grain', 'mushroom', 'poultry', 'egg',
                       'livestock', 'aquatic', 'other')),
    limit_mg_kg   numeric NOT NULL CHECK (limit_mg_kg >= 0),  -- 0: must not be detected (不得检出)
    standard      text NOT NULL CHECK (btrim(standard) <> ''),  -- GB 2763-2021, GB 31650-2019
    clause        text NOT NULL CHECK (btrim(clause) <> ''),    -- clause or table of the standard
    source_text   text NOT NULL CHECK (btrim(source_text) <> ''),  -- the standard's own words
    file_name     text,
    loaded_by     bigint REFERENCES account (id),
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    replaces      bigint REFERENCES mrl (id),
    superseded_at timestamptz,
    CONSTRAINT mrl_commodity_or_category CHECK ((commodity IS NULL) <> (category IS NULL))
);
CREATE UNIQUE INDEX mrl_current ON mrl (substance, coalesce(commodity, ''), coalesce(category, ''))
    WHERE superseded_at IS NULL;

-- Substances whose detection fails a sample in the listed categories whatever the MRL
-- (MOA announcement No. 199: vegetables, fruit, tea).
CREATE TABLE banned_substance (
    substance  text PRIMARY KEY CHECK (btrim(substance) <> ''),
    categories text[] NOT NULL CHECK (cardinality(categories) > 0),
    source     text NOT NULL CHECK (btrim(source) <> '')
);

-- Who tested: 'county' or a township code; quotas are per unit (plan_target.unit). The
-- generated column lets a foreign key check the township.
CREATE TABLE rapid_test (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_id       bigint NOT NULL REFERENCES entity (id) ON DELETE CASCADE,
    commodity       text NOT NULL REFERENCES commodity (slug),
    sampled_on      date NOT NULL,                  -- China Standard Time
    unit            text NOT NULL CHECK (unit = 'county' OR unit ~ '^[0-9]{12}$'),
    unit_township   char(12) GENERATED ALWAYS AS
                        (CASE WHEN unit = 'county' THEN NULL ELSE unit END) STORED
                        REFERENCES township (code),
    method          text NOT NULL CHECK (method IN
                        ('colloidal_gold', 'enzyme_inhibition', 'veterinary')),
    parameter       text,                           -- what was tested for (检测参数), e.g. 克百威
    result          text NOT NULL CHECK (result IN ('pass', 'fail')),
    sample_no       text NOT NULL CHECK (btrim(sample_no) <> ''),
    recorded_by     bigint NOT NULL REFERENCES account (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    credit_event_id bigint REFERENCES credit_event (id),
    -- the sampling-plan target this test fulfils (the plans migration adds the foreign key)
    plan_id         bigint,
    target_no       integer,
    -- one sample, one test per method: a re-submission adds nothing
    CONSTRAINT rapid_test_sample_key UNIQUE (unit, sample_no, method)
);
CREATE INDEX rapid_test_progress ON rapid_test (sampled_on, unit, method);
CREATE INDEX rapid_test_entity ON rapid_test (entity_id, sampled_on);

-- Lab results: one row per sample, one row per analyte. The sample's result is the worst of
-- its analytes: fail, else review (a detection with no limit found), else pass.
CREATE TABLE lab_sample (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_id       bigint NOT NULL REFERENCES entity (id) ON DELETE CASCADE,
    commodity       text NOT NULL REFERENCES commodity (slug),
    sampled_on      date NOT NULL,
    unit            text NOT NULL CHECK (unit = 'county' OR unit ~ '^[0-9]{12}$'),
    unit_township   char(12) GENERATED ALWAYS AS
                        (CASE WHEN unit = 'county' THEN NULL ELSE unit END) STORED
                        REFERENCES township (code),
    kind            text NOT NULL CHECK (kind IN
                        ('routine_monitoring', 'risk_monitoring', 'supervisory_sampling')),
    lab             text NOT NULL CHECK (btrim(lab) <> ''),
    report_no       text NOT NULL CHECK (btrim(report_no) <> ''),
    sample_no       text,
    result          text NOT NULL CHECK (result IN ('pass', 'fail', 'review')),
    recorded_by     bigint NOT NULL REFERENCES account (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    credit_event_id bigint REFERENCES credit_event (id),
    plan_id         bigint,
    target_no       integer,
    CONSTRAINT lab_sample_report_key UNIQUE (lab, report_no)
);
CREATE INDEX lab_sample_day ON lab_sample (sampled_on, kind);
CREATE INDEX lab_sample_entity ON lab_sample (entity_id, sampled_on);

CREATE TABLE lab_analyte (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sample_id   bigint NOT NULL REFERENCES lab_sample (id) ON DELETE CASCADE,
    substance   text NOT NULL CHECK (btrim(substance) <> ''),
    detected    boolean NOT NULL,
    value_mg_kg numeric CHECK (value_mg_kg >= 0),
    lod_mg_kg   numeric CHECK (lod_mg_kg > 0),           -- limit of detection (检出限)
    judgement   text NOT NULL CHECK (judgement IN ('pass', 'fail', 'no_limit')),
    basis       text NOT NULL CHECK (basis IN
                    ('not_detected', 'within_limit', 'over_limit', 'banned', 'no_limit')),
    mrl_id      bigint REFERENCES mrl (id),               -- the limit version used
    limit_mg_kg numeric,
    CONSTRAINT lab_analyte_value CHECK (detected = (value_mg_kg IS NOT NULL)),
    CONSTRAINT lab_analyte_once UNIQUE (sample_id, substance)
);

CREATE FUNCTION testing_not_in_future() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.sampled_on > georeg_today() THEN
        RAISE EXCEPTION '% in the future', TG_TABLE_NAME USING
            ERRCODE = 'check_violation', CONSTRAINT = TG_TABLE_NAME || '_not_in_future';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER rapid_test_not_in_future BEFORE INSERT OR UPDATE OF sampled_on ON rapid_test
    FOR EACH ROW EXECUTE FUNCTION testing_not_in_future();
CREATE TRIGGER lab_sample_not_in_future BEFORE INSERT OR UPDATE OF sampled_on ON lab_sample
    FOR EACH ROW EXECUTE FUNCTION testing_not_in_future();
