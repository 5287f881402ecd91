-- Review of lab samples (复核判定): a detection with no limit in the MRL table leaves a sample
-- 待复核 ('review'); a county supervisor decides each such analyte pass or fail with a written
-- basis (georeg/testing/review.py). The decision is stored beside the automatic judgement,
-- which stays as it was: lab_analyte.judgement remains 'no_limit', and a reviewed sample's
-- automatic result was 'review'.

ALTER TABLE lab_sample
    ADD COLUMN reviewed_by bigint REFERENCES account (id),
    ADD COLUMN reviewed_at timestamptz,
    ADD COLUMN review_note text,
    ADD CONSTRAINT lab_sample_review_who_when CHECK (
        (reviewed_by IS NULL) = (reviewed_at IS NULL)),
    ADD CONSTRAINT lab_sample_review_decided CHECK (
        reviewed_at IS NULL OR result IN ('pass', 'fail')),
    ADD CONSTRAINT lab_sample_review_note CHECK (
        review_note IS NULL OR (reviewed_at IS NOT NULL AND btrim(review_note) <> ''));

ALTER TABLE lab_analyte
    ADD COLUMN review_judgement text CHECK (review_judgement IN ('pass', 'fail')),
    ADD COLUMN review_basis text,                 -- the reviewer's written basis (依据/说明)
    ADD COLUMN review_limit_mg_kg numeric CHECK (review_limit_mg_kg >= 0),  -- reference limit
    ADD CONSTRAINT lab_analyte_review_basis CHECK (
        (review_judgement IS NULL) = (review_basis IS NULL)
        AND (review_basis IS NULL OR btrim(review_basis) <> '')),
    ADD CONSTRAINT lab_analyte_review_limit CHECK (
        review_limit_mg_kg IS NULL OR review_judgement IS NOT NULL),
    -- only what the automatic judgement left open is decided by a person
    ADD CONSTRAINT lab_analyte_review_only_no_limit CHECK (
        review_judgement IS NULL OR judgement = 'no_limit');

-- The review queue (GET /api/v1/testing/lab-results?result=review): a small part of the table.
CREATE INDEX lab_sample_awaiting_review ON lab_sample (sampled_on) WHERE result = 'review';

-- The evidence is kept: an analyte's measured values and automatic judgement never change, and
-- a decision once made is final (as the credit event it wrote). A sample's result changes only
-- when a review settles it.
CREATE FUNCTION lab_analyte_keep_evidence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.sample_id, NEW.substance, NEW.detected, NEW.value_mg_kg, NEW.lod_mg_kg,
        NEW.judgement, NEW.basis, NEW.mrl_id, NEW.limit_mg_kg)
       IS DISTINCT FROM (OLD.sample_id, OLD.substance, OLD.detected, OLD.value_mg_kg,
                         OLD.lod_mg_kg, OLD.judgement, OLD.basis, OLD.mrl_id, OLD.limit_mg_kg)
       OR (OLD.review_judgement IS NOT NULL
           AND (NEW.review_judgement, NEW.review_basis, NEW.review_limit_mg_kg)
               IS DISTINCT FROM (OLD.review_judgement, OLD.review_basis,
                                 OLD.review_limit_mg_kg)) THEN
        RAISE EXCEPTION 'lab_analyte % keeps its judgement', OLD.id USING
            ERRCODE = 'check_violation', CONSTRAINT = 'lab_analyte_keep_evidence';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER lab_analyte_keep_evidence BEFORE UPDATE ON lab_analyte
    FOR EACH ROW EXECUTE FUNCTION lab_analyte_keep_evidence();

CREATE FUNCTION lab_sample_keep_result() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.reviewed_at IS NOT NULL
        AND (NEW.result, NEW.reviewed_by, NEW.reviewed_at, NEW.review_note)
            IS DISTINCT FROM (OLD.result, OLD.reviewed_by, OLD.reviewed_at, OLD.review_note))
       OR (NEW.result IS DISTINCT FROM OLD.result
           AND NOT (OLD.result = 'review' AND NEW.reviewed_at IS NOT NULL)) THEN
        RAISE EXCEPTION 'lab_sample % keeps its result', OLD.id USING
            ERRCODE = 'check_violation', CONSTRAINT = 'lab_sample_keep_result';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER lab_sample_keep_result
    BEFORE UPDATE OF result, reviewed_by, reviewed_at, review_note ON lab_sample
    FOR EACH ROW EXECUTE FUNCTION lab_sample_keep_result();
