-- Deregistration (注销) instead of deletion (docs/domain.md, "Who may see and do what").
--
-- An entity that stops operating is deregistered: the day (its last day of activity,
-- inclusive), the reason and the account. It keeps every activity record; reports count it in
-- the periods it was active (entity_active below, the one rule every count uses). Plots are
-- retired the same way. Nothing cascades from an entity or a plot to an activity record any
-- more: a deletion of a referenced entity or plot is refused (RESTRICT).

ALTER TABLE entity
    -- the registration date when known; NULL for rows loaded without one (counted from the start)
    ADD COLUMN registered_on         date,
    ADD COLUMN deregistered_on       date,
    ADD COLUMN deregistration_reason text,
    ADD COLUMN deregistered_by       bigint REFERENCES account (id),
    ADD CONSTRAINT entity_deregistration_complete CHECK (
        (deregistered_on IS NULL) = (deregistration_reason IS NULL)
        AND (deregistration_reason IS NULL OR btrim(deregistration_reason) <> '')),
    ADD CONSTRAINT entity_deregistered_after_registration CHECK (
        deregistered_on IS NULL OR registered_on IS NULL OR deregistered_on >= registered_on);

ALTER TABLE plot
    ADD COLUMN retired_on        date,
    ADD COLUMN retirement_reason text,
    ADD COLUMN retired_by        bigint REFERENCES account (id),
    ADD CONSTRAINT plot_retirement_complete CHECK (
        (retired_on IS NULL) = (retirement_reason IS NULL)
        AND (retirement_reason IS NULL OR btrim(retirement_reason) <> ''));

-- Active entities, the partial index lists and current counts read.
CREATE INDEX entity_active_township ON entity (township_code, kind) WHERE deregistered_on IS NULL;

-- The one rule: an entity counts in [p_from, p_to] if registered by the period's end and not
-- deregistered before its start. Scalar arguments (not the row) so the planner inlines it into
-- plain column comparisons.
CREATE FUNCTION entity_active(p_registered date, p_deregistered date, p_from date, p_to date)
    RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ($1 IS NULL OR $1 <= $4) AND ($2 IS NULL OR $2 >= $3) $$;

-- Every foreign key from another table to entity or plot that deleted or nulled along becomes
-- RESTRICT (same name, so the constraint -> message table of georeg/errors.py still applies).
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT con.conrelid::regclass AS rel, con.conname, pg_get_constraintdef(con.oid) AS def
        FROM pg_constraint con
        WHERE con.contype = 'f' AND con.confrelid IN ('entity'::regclass, 'plot'::regclass)
          AND con.conrelid NOT IN ('entity'::regclass)
          AND con.confdeltype <> 'r'
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I %s ON DELETE RESTRICT',
                       c.rel, c.conname, c.conname,
                       regexp_replace(c.def, ' ON DELETE (CASCADE|SET NULL|SET DEFAULT)', ''));
    END LOOP;
END $$;

-- New activity dated after the entity's deregistration is refused, whatever the path (API,
-- file import, COPY): one check per statement over its new rows. TG_ARGV: the expression of the
-- row's day (over the transition table `n`) and the constraint name the error carries.
-- SECURITY DEFINER (fixed search_path): the check sees every entity whatever the writer's
-- row security (sql/022).
CREATE FUNCTION activity_after_deregistration() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_hit bigint;
BEGIN
    -- most batches name no deregistered entity: settled by one look-up per distinct entity
    IF NOT EXISTS (SELECT 1 FROM entity e
                   WHERE e.id = ANY (ARRAY(SELECT DISTINCT n.entity_id FROM new_rows n))
                     AND e.deregistered_on IS NOT NULL) THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT n.entity_id FROM new_rows n JOIN entity e ON e.id = n.entity_id '
                   'WHERE e.deregistered_on < %s LIMIT 1', TG_ARGV[0]) INTO v_hit;
    IF v_hit IS NOT NULL THEN
        RAISE EXCEPTION 'activity of entity % after its deregistration', v_hit USING
            ERRCODE = 'check_violation', CONSTRAINT = TG_ARGV[1];
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER patrol_after_deregistration AFTER INSERT ON patrol
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION activity_after_deregistration('n.day', 'patrol_after_deregistration');
CREATE TRIGGER certificate_after_deregistration AFTER INSERT ON certificate
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION activity_after_deregistration('n.issued_on',
                                                   'certificate_after_deregistration');
CREATE TRIGGER rapid_test_after_deregistration AFTER INSERT ON rapid_test
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION activity_after_deregistration('n.sampled_on',
                                                   'rapid_test_after_deregistration');
CREATE TRIGGER lab_sample_after_deregistration AFTER INSERT ON lab_sample
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION activity_after_deregistration('n.sampled_on',
                                                   'lab_sample_after_deregistration');
-- (uploads reject such points one by one first, georeg/collection/store.sql; this is the net)
CREATE TRIGGER site_point_after_deregistration AFTER INSERT ON site_point
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION activity_after_deregistration(
        '(coalesce(n.collected_at, n.received_at) AT TIME ZONE ''Asia/Shanghai'')::date',
        'site_point_after_deregistration');
