-- Credit standing (信用状况): each entity's credit score, grade and failed samplings of the
-- last 12 months as of one day, in a narrow row, so that a sampling frame of 100,000 units
-- reads one row per entity instead of ~8 scattered events each (3 s at province scale).
--
-- Computed only by georeg/credit/standing.py, with the rating's own SQL
-- (georeg/credit/rating.py), so the standing and the credit report always agree. A row is
-- exact for its `as_of` day and its rule set (`rules`, a fingerprint) and for nothing else:
-- readers use it only when both match and compute from events otherwise.
--
-- Invariant: every entity with a credit event has a row, and no entity without one does
-- (no row = base score). Any write to credit_event, by whatever path (COPY included), marks
-- the rows of the entities it touched stale (as_of NULL) in the same transaction; the writer
-- recomputes them (georeg.credit.events._after_change) or the daily `georeg credit refresh`
-- does. A stale row is never read as a figure.

CREATE TABLE credit_standing (
    entity_id     bigint PRIMARY KEY REFERENCES entity (id) ON DELETE CASCADE,
    as_of         date,  -- NULL: stale (events changed since)
    rules         text,
    score         numeric,
    grade         text,
    failed_recent integer,
    CONSTRAINT credit_standing_complete CHECK (
        as_of IS NULL OR (rules IS NOT NULL AND score IS NOT NULL AND grade IS NOT NULL
                          AND failed_recent IS NOT NULL))
) WITH (fillfactor = 80);  -- room for the daily rewrite as HOT updates (no index changes)

CREATE FUNCTION credit_standing_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO credit_standing (entity_id)
        SELECT DISTINCT entity_id FROM changed ORDER BY 1
        ON CONFLICT (entity_id) DO UPDATE
            SET as_of = NULL, rules = NULL, score = NULL, grade = NULL, failed_recent = NULL;
    ELSE
        -- deleting (the demo purge): stale; the refresh drops rows left without events
        UPDATE credit_standing s
        SET as_of = NULL, rules = NULL, score = NULL, grade = NULL, failed_recent = NULL
        WHERE s.entity_id IN (SELECT entity_id FROM changed);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER credit_standing_stale_insert AFTER INSERT ON credit_event
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION credit_standing_stale();
CREATE TRIGGER credit_standing_stale_delete AFTER DELETE ON credit_event
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION credit_standing_stale();

CREATE FUNCTION credit_standing_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE credit_standing;
    RETURN NULL;
END $$;

CREATE TRIGGER credit_standing_truncate AFTER TRUNCATE ON credit_event
    FOR EACH STATEMENT EXECUTE FUNCTION credit_standing_truncate();

-- Existing records: a stale row each, until the first refresh.
INSERT INTO credit_standing (entity_id) SELECT DISTINCT entity_id FROM credit_event ORDER BY 1;
