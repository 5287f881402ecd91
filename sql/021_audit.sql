-- The audit trail of every write (docs/domain.md, "Who may see and do what"; georeg/audit.py).
--
-- audit_event is append-only. Registry tables (few rows per write) get one row per changed
-- record with before/after as jsonb (for updates only the changed columns); the bulk paths
-- (uploads, imports of patrols, certificates, tests, credit events) one row per statement with
-- the count and the ids it touched, so uploads stay fast. Who: georeg_account_id() (sql/018,
-- set by the API per transaction) and the database user (session_user: the functions run as
-- their owner). Personal numbers are kept in the entity only as keyed hashes and ciphertext
-- (`*_hash`, `*_enc`) and are recorded here as '***' (changed, nothing more).
--
-- TRUNCATE of an audited table is refused unless the transaction set georeg.allow_truncate
-- (the demo loader does, importers.demo); it is recorded.

CREATE TABLE audit_event (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    account_id    bigint,                      -- no foreign key: the trail never blocks a write
    db_user       text NOT NULL DEFAULT session_user,
    table_name    text NOT NULL,
    action        text NOT NULL CHECK (action IN
                      ('insert', 'update', 'delete', 'truncate', 'deregister', 'retire')),
    record_id     bigint,                      -- row-level events
    entity_id     bigint,                      -- the entity a plot belongs to (its history)
    record_ids    bigint[],                    -- statement-level events: the rows touched
    row_count     integer NOT NULL DEFAULT 1,
    township_code char(12),                    -- the record's (a statement's, if only one)
    before        jsonb,
    after         jsonb
);
CREATE INDEX audit_event_record ON audit_event (table_name, record_id, id);
CREATE INDEX audit_event_entity ON audit_event (entity_id, id) WHERE entity_id IS NOT NULL;
CREATE INDEX audit_event_ids ON audit_event USING gin (record_ids) WHERE record_ids IS NOT NULL;
REVOKE ALL ON audit_event FROM PUBLIC;

CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only' USING
        ERRCODE = 'restrict_violation', CONSTRAINT = 'audit_event_append_only';
END $$;

CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();

-- A row as recorded: personal numbers' hashes and ciphertexts (and password hashes) as '***',
-- very long values (township and grid boundaries) as their md5.
CREATE FUNCTION audit_redact(p_row jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, public
    AS $$
    SELECT jsonb_object_agg(k, CASE
        WHEN k ~ '(_hash|_enc)$' AND v <> 'null'::jsonb THEN '"***"'::jsonb
        WHEN jsonb_typeof(v) = 'string' AND length(v #>> '{}') > 2000
            THEN to_jsonb('md5:' || md5(v #>> '{}'))
        ELSE v END)
    FROM jsonb_each(p_row) AS x(k, v)
$$;

-- Row-level. TG_ARGV: [0] the id column, [1] the township column or '', [2] the entity column
-- or ''.
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
DECLARE
    v_new    jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    v_old    jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    v_row    jsonb := coalesce(v_new, v_old);
    v_before jsonb;
    v_after  jsonb;
    v_action text := lower(TG_OP);
BEGIN
    IF current_setting('georeg.audit_rows', true) = 'off' THEN
        RETURN NULL;  -- a bulk pass: recorded per statement instead (audit_statement below)
    END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT jsonb_object_agg(n.key, o.value), jsonb_object_agg(n.key, n.value)
        INTO v_before, v_after
        FROM jsonb_each(v_new) n JOIN jsonb_each(v_old) o USING (key)
        WHERE n.value IS DISTINCT FROM o.value AND n.key <> 'updated_at';
        IF v_after IS NULL THEN
            RETURN NULL;  -- nothing changed
        END IF;
        IF v_after ? 'deregistered_on' AND v_before ->> 'deregistered_on' IS NULL THEN
            v_action := 'deregister';
        ELSIF v_after ? 'retired_on' AND v_before ->> 'retired_on' IS NULL THEN
            v_action := 'retire';
        END IF;
    ELSE
        v_before := v_old;
        v_after := v_new;
    END IF;
    INSERT INTO audit_event (account_id, table_name, action, record_id, entity_id,
                             township_code, before, after)
    VALUES (georeg_account_id(), TG_TABLE_NAME, v_action, (v_row ->> TG_ARGV[0])::bigint,
            CASE WHEN TG_ARGV[2] <> '' THEN (v_row ->> TG_ARGV[2])::bigint END,
            CASE WHEN TG_ARGV[1] <> '' THEN v_row ->> TG_ARGV[1] END,
            audit_redact(v_before), audit_redact(v_after));
    RETURN NULL;
END $$;

-- Statement-level, over the transition table `changed`. TG_ARGV: [0] the id column; [1] where
-- the rows' township is: 'entity' (through entity_id), a column of the table, or '' (none);
-- [2] 'bulk' on a registry table, where it records only statements that set
-- georeg.audit_rows = 'off' (a re-assignment of a million entities after a boundary edit: one
-- row with the ids, not a million rows). No write escapes the trail either way. Measured on a
-- batch of 5,000 site points: ~12 ms for the ids and count, plus the entities' townships
-- looked up once per distinct entity (min = max: one township), not per row.
CREATE FUNCTION audit_statement() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
DECLARE
    v_ids   bigint[];
    v_count integer;
    v_min   text;
    v_max   text;
BEGIN
    IF TG_NARGS > 2 AND TG_ARGV[2] = 'bulk'
       AND current_setting('georeg.audit_rows', true) IS DISTINCT FROM 'off' THEN
        RETURN NULL;  -- recorded row by row (audit_row)
    END IF;
    -- ids are unique when the id column is the key; plan targets name their plan's id
    EXECUTE format('SELECT array_agg(%s n.%I), count(*) FROM changed n',
                   CASE WHEN TG_ARGV[0] = 'id' THEN '' ELSE 'DISTINCT' END, TG_ARGV[0])
        INTO v_ids, v_count;
    IF v_count = 0 THEN
        RETURN NULL;  -- the statement touched no row (e.g. a retried upload)
    END IF;
    IF TG_ARGV[1] = 'entity' THEN
        SELECT min(e.township_code), max(e.township_code) INTO v_min, v_max
        FROM entity e WHERE e.id = ANY (ARRAY(SELECT DISTINCT n.entity_id FROM changed n));
    ELSIF TG_ARGV[1] <> '' THEN
        EXECUTE format('SELECT min(n.%I), max(n.%I) FROM changed n', TG_ARGV[1], TG_ARGV[1])
            INTO v_min, v_max;
    END IF;
    INSERT INTO audit_event (account_id, table_name, action, record_ids, row_count,
                             township_code)
    VALUES (georeg_account_id(), TG_TABLE_NAME, lower(TG_OP), v_ids, v_count,
            CASE WHEN v_min = v_max THEN v_min END);
    RETURN NULL;
END $$;

-- TRUNCATE: refused unless georeg.allow_truncate is 'on' in this transaction; then recorded.
CREATE FUNCTION audit_truncate() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
BEGIN
    IF current_setting('georeg.allow_truncate', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'TRUNCATE of audited table % is not allowed', TG_TABLE_NAME USING
            ERRCODE = 'restrict_violation', CONSTRAINT = 'audit_no_truncate';
    END IF;
    INSERT INTO audit_event (account_id, table_name, action, row_count)
    VALUES (georeg_account_id(), TG_TABLE_NAME, 'truncate', 0);
    RETURN NULL;
END $$;

-- The triggers. Row-level on the registry: (table, id column, township column, entity column).
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES
            ('entity', 'id', 'township_code', 'id'),
            ('plot', 'id', 'township_code', 'entity_id'),
            ('account', 'id', 'township_code', ''),
            ('township', 'code', 'code', ''),
            ('grid', 'id', 'township_code', ''),
            ('grid_staff', 'grid_id', '', ''),
            ('sampling_plan', 'id', 'township_code', ''),
            ('plan_target', 'year', '', '')) AS t(tab, id_col, township_col, entity_col)
    LOOP
        EXECUTE format('CREATE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION audit_row(%L, %L, %L)',
                       r.tab, r.id_col, r.township_col, r.entity_col);
        EXECUTE format('CREATE TRIGGER audit_truncate BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION audit_truncate()', r.tab);
    END LOOP;
    -- Bulk passes over the registry (georeg.audit_rows = 'off'), per statement.
    FOR r IN SELECT * FROM (VALUES ('entity', 'id'), ('plot', 'id')) AS t(tab, id_col)
    LOOP
        EXECUTE format('CREATE TRIGGER audit_bulk_update AFTER UPDATE ON %I '
                       'REFERENCING NEW TABLE AS changed FOR EACH STATEMENT '
                       'EXECUTE FUNCTION audit_statement(%L, %L, %L)',
                       r.tab, r.id_col, 'township_code', 'bulk');
    END LOOP;
    -- Statement-level on the bulk paths: (table, id column, where the township is).
    FOR r IN SELECT * FROM (VALUES
            ('site_point', 'id', 'entity'),
            ('site_point_rejection', 'id', 'township_code'),
            ('site_point_conflict', 'id', ''),
            ('patrol', 'id', 'entity'),
            ('certificate', 'id', 'entity'),
            ('rapid_test', 'id', 'entity'),
            ('lab_sample', 'id', 'entity'),
            ('lab_analyte', 'id', ''),
            ('credit_event', 'id', 'entity'),
            ('key_supervision_listing', 'id', 'entity'),
            ('sampling_plan_target', 'plan_id', 'township_code')) AS t(tab, id_col, township)
    LOOP
        EXECUTE format('CREATE TRIGGER audit_insert AFTER INSERT ON %I '
                       'REFERENCING NEW TABLE AS changed FOR EACH STATEMENT '
                       'EXECUTE FUNCTION audit_statement(%L, %L)', r.tab, r.id_col, r.township);
        EXECUTE format('CREATE TRIGGER audit_update AFTER UPDATE ON %I '
                       'REFERENCING NEW TABLE AS changed FOR EACH STATEMENT '
                       'EXECUTE FUNCTION audit_statement(%L, %L)', r.tab, r.id_col, r.township);
        EXECUTE format('CREATE TRIGGER audit_delete AFTER DELETE ON %I '
                       'REFERENCING OLD TABLE AS changed FOR EACH STATEMENT '
                       'EXECUTE FUNCTION audit_statement(%L, %L)', r.tab, r.id_col, r.township);
        EXECUTE format('CREATE TRIGGER audit_truncate BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION audit_truncate()', r.tab);
    END LOOP;
END $$;
