-- Township scope enforced by PostgreSQL (issue 13, part 3).
--
-- Two roles: the owner of the schema (runs migrations, the CLI, bulk loads, re-assignment and
-- demo loads; as table owner it is exempt from row security, which is not forced), and
-- georeg_api, the API's login, which owns nothing, gets only the privileges below, and is
-- subject to the policies. A policy reads who is asking from the transaction's scope
-- (georeg_role(), georeg_township(): sql/018, set by georeg.database.set_scope):
--   * a township account (a township set) reads and writes its township only;
--   * county roles (county_supervisor, admin) the county;
--   * the credit clerk reads entities and credit records county-wide (a credit lookup);
--   * no scope (no account): nothing.
-- Tables that carry a township_code compare it (indexed); tables of an entity's activity
-- test entity_id against the township's entities in one hashed subplan per statement (not a
-- probe per row), skipped for county roles. The scope is read once per statement: each
-- `(SELECT georeg_...())` is an InitPlan, where a bare call would read the settings again for
-- every row (measured: 122,400 patrols 354 ms against 93 ms as the owner). The expressions are
-- written out in each policy, since a SQL function that holds a subquery is not inlined.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'georeg_api') THEN
        RAISE EXCEPTION 'database role georeg_api is missing'
            USING HINT = 'Create it first (README, "Database roles"): '
                         'CREATE ROLE georeg_api LOGIN PASSWORD ''...''; '
                         '`georeg db up` does so for the managed cluster.';
    END IF;
END $$;

-- --- who is asking, for policies (inlined: plain SQL, not STRICT, not SECURITY DEFINER) ----------

CREATE FUNCTION georeg_county_wide() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(georeg_role() IN ('county_supervisor', 'admin', 'service'), false)
                 AND georeg_township() IS NULL $$;
-- (a county-wide service account: what its key's scopes allow, checked in api.deps: reads, or
-- uploads of site points)

-- --- site points get back a township: the entity's at upload (where the point lies stays in
-- site_point_place, sql/011) -----------------------------------------------------------------

ALTER TABLE site_point ADD COLUMN township_code char(12);
UPDATE site_point sp SET township_code = e.township_code FROM entity e WHERE e.id = sp.entity_id;
ALTER TABLE site_point ALTER COLUMN township_code SET NOT NULL;
CREATE INDEX site_point_township ON site_point (township_code, commodity);

-- Always the entity's own township, whatever the writer sent: the policy checks this value.
CREATE FUNCTION site_point_township() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT township_code INTO NEW.township_code FROM entity WHERE id = NEW.entity_id;
    RETURN NEW;
END $$;
CREATE TRIGGER site_point_township BEFORE INSERT OR UPDATE OF entity_id ON site_point
    FOR EACH ROW EXECUTE FUNCTION site_point_township();

-- --- the API's privileges ----------------------------------------------------------------------

GRANT USAGE ON SCHEMA public TO georeg_api;
-- reference data and what only the owner scopes (accounts: login reads them before any scope)
GRANT SELECT ON township, grid, current_grid, commodity, plan_target, provenance_deadline,
    township_boundary_history, mrl, banned_substance, account TO georeg_api;
-- boundary imports, grid generation and staff (county roles, grids.access)
GRANT INSERT, UPDATE ON township, grid TO georeg_api;
GRANT DELETE ON grid TO georeg_api;  -- generation replaces the grids it drew today
GRANT INSERT ON township_boundary_history TO georeg_api;
GRANT SELECT, INSERT, DELETE ON grid_staff TO georeg_api;
GRANT INSERT, UPDATE ON mrl TO georeg_api;
-- the registry (DELETE: DELETE /producers/{id} and /plots/{id})
GRANT SELECT, INSERT, UPDATE, DELETE ON entity, plot TO georeg_api;
-- collection (UPDATE on site_point: only for the SHARE lock of a re-assignment; the policy
-- lets county roles alone update)
GRANT SELECT, INSERT, UPDATE ON site_point, site_point_place TO georeg_api;
GRANT SELECT, INSERT ON site_point_conflict, site_point_rejection TO georeg_api;
-- activity, tests, credit records, plans
GRANT SELECT, INSERT ON patrol, certificate, credit_event, sampling_plan, pii_access
    TO georeg_api;
GRANT SELECT, INSERT, UPDATE ON rapid_test, lab_sample, lab_analyte, key_supervision_listing,
    sampling_plan_target TO georeg_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON credit_standing TO georeg_api;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO georeg_api;
-- schema_migration: nothing.

-- --- policies --------------------------------------------------------------------------------

-- entity: its township; the credit clerk reads every entity (credit lookups), writes none.
ALTER TABLE entity ENABLE ROW LEVEL SECURITY;
CREATE POLICY entity_read ON entity FOR SELECT TO georeg_api
    USING ((SELECT georeg_county_wide()) OR township_code = (SELECT georeg_township())
           OR (SELECT georeg_role()) = 'credit_clerk');
CREATE POLICY entity_insert ON entity FOR INSERT TO georeg_api
    WITH CHECK ((SELECT georeg_county_wide())
                OR township_code = (SELECT georeg_township()));
CREATE POLICY entity_update ON entity FOR UPDATE TO georeg_api
    USING ((SELECT georeg_county_wide()) OR township_code = (SELECT georeg_township()))
    WITH CHECK ((SELECT georeg_county_wide())
                OR township_code = (SELECT georeg_township()));
CREATE POLICY entity_delete ON entity FOR DELETE TO georeg_api
    USING ((SELECT georeg_county_wide()) OR township_code = (SELECT georeg_township()));

-- plot and site_point: their township (a plot's is its entity's, by trigger, sql/004).
ALTER TABLE plot ENABLE ROW LEVEL SECURITY;
CREATE POLICY plot_scope ON plot TO georeg_api
    USING ((SELECT georeg_county_wide()) OR township_code = (SELECT georeg_township()))
    WITH CHECK ((SELECT georeg_county_wide())
                OR township_code = (SELECT georeg_township()));

ALTER TABLE site_point ENABLE ROW LEVEL SECURITY;
CREATE POLICY site_point_read ON site_point FOR SELECT TO georeg_api
    USING ((SELECT georeg_county_wide()) OR township_code = (SELECT georeg_township()));
CREATE POLICY site_point_insert ON site_point FOR INSERT TO georeg_api
    WITH CHECK ((SELECT georeg_county_wide())
                OR township_code = (SELECT georeg_township()));
CREATE POLICY site_point_update ON site_point FOR UPDATE TO georeg_api
    USING ((SELECT georeg_county_wide())) WITH CHECK ((SELECT georeg_county_wide()));

-- Where a point lies: readable with its point (or where it lies is the caller's township);
-- written beside a new point by the collection (any signed-in writer: the place is computed,
-- and may lie outside the collector's township) and by re-assignment (county roles).
-- grids.reassign re-applies this after it swaps the table in (site_point_place_protect).
CREATE FUNCTION site_point_place_protect() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    ALTER TABLE site_point_place ENABLE ROW LEVEL SECURITY;
    CREATE POLICY site_point_place_read ON site_point_place FOR SELECT TO georeg_api
        USING ((SELECT georeg_county_wide()) OR township_code = (SELECT georeg_township())
               OR site_point_id IN (SELECT sp.id FROM site_point sp));
    CREATE POLICY site_point_place_insert ON site_point_place FOR INSERT TO georeg_api
        WITH CHECK ((SELECT georeg_account_id()) IS NOT NULL);
    CREATE POLICY site_point_place_update ON site_point_place FOR UPDATE TO georeg_api
        USING ((SELECT georeg_county_wide())) WITH CHECK ((SELECT georeg_county_wide()));
    GRANT SELECT, INSERT, UPDATE ON site_point_place TO georeg_api;
END $$;
SELECT site_point_place_protect();

-- Rejections are stored under the uploader's township (answer.sql), else the entity's.
ALTER TABLE site_point_rejection ENABLE ROW LEVEL SECURITY;
CREATE POLICY site_point_rejection_scope ON site_point_rejection TO georeg_api
    USING ((SELECT georeg_county_wide()) OR township_code = (SELECT georeg_township()))
    WITH CHECK ((SELECT georeg_county_wide())
                OR township_code = (SELECT georeg_township()));

-- Conflicting submissions: seen with their stored point; recorded by the uploader.
ALTER TABLE site_point_conflict ENABLE ROW LEVEL SECURITY;
CREATE POLICY site_point_conflict_read ON site_point_conflict FOR SELECT TO georeg_api
    USING (client_uuid IN (SELECT sp.client_uuid FROM site_point sp));
CREATE POLICY site_point_conflict_insert ON site_point_conflict FOR INSERT TO georeg_api
    WITH CHECK (collector_id = (SELECT georeg_account_id()));

-- An entity's activity: patrols, certificates, tests (tables without a township of their own).
-- The township's entities in one hashed subplan per statement, not a probe per row; written out
-- in each policy, since a SQL function holding a subquery is not inlined (it would run per row).
ALTER TABLE patrol ENABLE ROW LEVEL SECURITY;
CREATE POLICY patrol_scope ON patrol TO georeg_api
    USING ((SELECT georeg_county_wide())
           OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()))
    WITH CHECK ((SELECT georeg_county_wide())
                OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()));
ALTER TABLE certificate ENABLE ROW LEVEL SECURITY;
CREATE POLICY certificate_scope ON certificate TO georeg_api
    USING ((SELECT georeg_county_wide())
           OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()))
    WITH CHECK ((SELECT georeg_county_wide())
                OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()));
ALTER TABLE rapid_test ENABLE ROW LEVEL SECURITY;
CREATE POLICY rapid_test_scope ON rapid_test TO georeg_api
    USING ((SELECT georeg_county_wide())
           OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()))
    WITH CHECK ((SELECT georeg_county_wide())
                OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()));
ALTER TABLE lab_sample ENABLE ROW LEVEL SECURITY;
CREATE POLICY lab_sample_scope ON lab_sample TO georeg_api
    USING ((SELECT georeg_county_wide())
           OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()))
    WITH CHECK ((SELECT georeg_county_wide())
                OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()));
ALTER TABLE lab_analyte ENABLE ROW LEVEL SECURITY;
CREATE POLICY lab_analyte_scope ON lab_analyte TO georeg_api
    USING ((SELECT georeg_county_wide()) OR sample_id IN (SELECT s.id FROM lab_sample s))
    WITH CHECK ((SELECT georeg_county_wide()) OR sample_id IN (SELECT s.id FROM lab_sample s));

-- Credit records: the township's own, county-wide for county roles and the credit clerk (who
-- records events and listings: georeg.credit.events, georeg.credit.listing).
ALTER TABLE credit_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY credit_event_scope ON credit_event TO georeg_api
    USING ((SELECT georeg_role()) = 'credit_clerk' OR (SELECT georeg_county_wide())
           OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()))
    WITH CHECK ((SELECT georeg_role()) = 'credit_clerk' OR (SELECT georeg_county_wide())
                OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()));
ALTER TABLE credit_standing ENABLE ROW LEVEL SECURITY;
CREATE POLICY credit_standing_scope ON credit_standing TO georeg_api
    USING ((SELECT georeg_role()) = 'credit_clerk' OR (SELECT georeg_county_wide())
           OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()))
    WITH CHECK ((SELECT georeg_role()) = 'credit_clerk' OR (SELECT georeg_county_wide())
                OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()));
ALTER TABLE key_supervision_listing ENABLE ROW LEVEL SECURITY;
CREATE POLICY key_supervision_listing_scope ON key_supervision_listing TO georeg_api
    USING ((SELECT georeg_role()) = 'credit_clerk' OR (SELECT georeg_county_wide())
           OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()))
    WITH CHECK ((SELECT georeg_role()) = 'credit_clerk' OR (SELECT georeg_county_wide())
                OR entity_id IN (SELECT e.id FROM entity e
                         WHERE e.township_code = georeg_township()));

-- Sampling plans: every county-wide account reads them all (georeg.sampling.plans.access); a
-- township account sees the plans that touch its township and only its targets, and draws plans
-- and changes targets in its township only.
ALTER TABLE sampling_plan_target ENABLE ROW LEVEL SECURITY;
CREATE POLICY sampling_plan_target_read ON sampling_plan_target FOR SELECT TO georeg_api
    USING ((SELECT georeg_county_wide()) OR township_code = (SELECT georeg_township())
           OR (SELECT georeg_role() IS NOT NULL AND georeg_township() IS NULL));
CREATE POLICY sampling_plan_target_insert ON sampling_plan_target FOR INSERT TO georeg_api
    WITH CHECK ((SELECT georeg_county_wide())
                OR township_code = (SELECT georeg_township()));
CREATE POLICY sampling_plan_target_update ON sampling_plan_target FOR UPDATE TO georeg_api
    USING ((SELECT georeg_county_wide()) OR township_code = (SELECT georeg_township()))
    WITH CHECK ((SELECT georeg_county_wide())
                OR township_code = (SELECT georeg_township()));
ALTER TABLE sampling_plan ENABLE ROW LEVEL SECURITY;
CREATE POLICY sampling_plan_read ON sampling_plan FOR SELECT TO georeg_api
    USING ((SELECT georeg_role() IS NOT NULL AND georeg_township() IS NULL)
           OR township_code = (SELECT georeg_township())
           OR id IN (SELECT t.plan_id FROM sampling_plan_target t
                     WHERE t.township_code = georeg_township()));
CREATE POLICY sampling_plan_insert ON sampling_plan FOR INSERT TO georeg_api
    WITH CHECK ((SELECT georeg_county_wide())
                OR township_code = (SELECT georeg_township()));

-- Grid staff (names of people): the grid's township, county-wide for county roles.
ALTER TABLE grid_staff ENABLE ROW LEVEL SECURITY;
CREATE POLICY grid_staff_scope ON grid_staff TO georeg_api
    USING ((SELECT georeg_county_wide())
           OR grid_id IN (SELECT g.id FROM grid g WHERE g.township_code = georeg_township()))
    WITH CHECK ((SELECT georeg_county_wide())
                OR grid_id IN (SELECT g.id FROM grid g WHERE g.township_code = georeg_township()));

-- Views of personal data: written by the viewer as itself; read by administrators.
ALTER TABLE pii_access ENABLE ROW LEVEL SECURITY;
CREATE POLICY pii_access_insert ON pii_access FOR INSERT TO georeg_api
    WITH CHECK (account_id = (SELECT georeg_account_id()));
CREATE POLICY pii_access_read ON pii_access FOR SELECT TO georeg_api
    USING ((SELECT georeg_role()) = 'admin' OR account_id = (SELECT georeg_account_id()));

-- --- triggers that keep derived rows true, whoever wrote: as the owner -------------------------
-- (the key-supervision flag on the entity, stale standings, forgotten places)

ALTER FUNCTION key_supervision_sync() SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION credit_standing_stale() SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION site_point_place_forget() SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE EXECUTE ON FUNCTION key_supervision_sync(), credit_standing_stale(),
    site_point_place_forget(), site_point_place_protect() FROM PUBLIC;

-- --- public aggregates: counts per township and grid, no rows, no names -------------------------

-- The registry's counts of townships (GET /api/v1/townships, public): aggregates only.
CREATE FUNCTION township_counts(p_county bpchar, p_code bpchar)
RETURNS TABLE (code char(12), producer_count bigint, smallholder_count bigint,
               buyer_count bigint, plot_count bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT t.code,
           (SELECT count(*) FROM entity e WHERE e.township_code = t.code AND e.is_producer
              AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today())),
           (SELECT count(*) FROM entity e WHERE e.township_code = t.code
              AND e.kind = 'smallholder' AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today())),
           (SELECT count(*) FROM entity e WHERE e.township_code = t.code AND e.kind = 'buyer'
              AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today())),
           (SELECT count(*) FROM plot p WHERE p.township_code = t.code
              AND (p.retired_on IS NULL OR p.retired_on >= georeg_today()))
    FROM township t
    WHERE (p_county IS NULL OR t.county_code = p_county) AND (p_code IS NULL OR t.code = p_code)
$$;

-- The same per current grid of a township (GET /api/v1/townships/{code}/grids, public).
CREATE FUNCTION grid_counts(p_township bpchar)
RETURNS TABLE (grid_id bigint, producer_count bigint, smallholder_count bigint,
               plot_count bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT g.id,
           (SELECT count(*) FROM entity e WHERE e.grid_id = g.id AND e.is_producer
              AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today())),
           (SELECT count(*) FROM entity e WHERE e.grid_id = g.id AND e.kind = 'smallholder'
              AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today())),
           (SELECT count(*) FROM plot p WHERE p.grid_id = g.id
              AND (p.retired_on IS NULL OR p.retired_on >= georeg_today()))
    FROM current_grid g WHERE g.township_code = p_township
$$;
REVOKE EXECUTE ON FUNCTION township_counts(bpchar, bpchar), grid_counts(bpchar) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION township_counts(bpchar, bpchar), grid_counts(bpchar) TO georeg_api;

-- The collection tells an entity out of the uploader's scope from an unknown one: which of
-- these ids exist (their existence only; nothing else of another township's rows).
CREATE FUNCTION entities_existing(p_ids bigint[]) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT e.id FROM entity e WHERE e.id = ANY(p_ids) AND georeg_role() IS NOT NULL
$$;
REVOKE EXECUTE ON FUNCTION entities_existing(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION entities_existing(bigint[]) TO georeg_api;

-- --- accounts, sessions and the audit trail (sql/019, sql/021) ---------------------------------

-- Sign-in, the session check and sign-out run as definer functions (019): the API, and only
-- the API, may call them.
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'public'::regnamespace
               AND (p.proname LIKE 'georeg\_login\_%' OR p.proname LIKE 'georeg\_session\_%')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO georeg_api', f);
    END LOOP;
END $$;

-- Account management through the API (/api/v1/accounts): everyone signed in reads accounts
-- (names in lists and histories); an administrator writes any, a township supervisor the
-- collectors of its township, and an account its own row without changing its role or scope
-- (a password change).
GRANT INSERT, UPDATE ON account TO georeg_api;
ALTER TABLE account ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_read ON account FOR SELECT TO georeg_api
    USING ((SELECT georeg_role()) IS NOT NULL);
CREATE POLICY account_insert ON account FOR INSERT TO georeg_api
    WITH CHECK ((SELECT georeg_role()) = 'admin'
                OR ((SELECT georeg_role()) = 'township_supervisor' AND role = 'collector'
                    AND township_code = (SELECT georeg_township())));
CREATE POLICY account_update ON account FOR UPDATE TO georeg_api
    USING ((SELECT georeg_role()) = 'admin'
           OR ((SELECT georeg_role()) = 'township_supervisor' AND role = 'collector'
               AND township_code = (SELECT georeg_township()))
           OR id = (SELECT georeg_account_id()))
    WITH CHECK ((SELECT georeg_role()) = 'admin'
                OR ((SELECT georeg_role()) = 'township_supervisor' AND role = 'collector'
                    AND township_code = (SELECT georeg_township()))
                OR (id = (SELECT georeg_account_id()) AND role = (SELECT georeg_role())
                    AND township_code IS NOT DISTINCT FROM (SELECT georeg_township())));

-- Sessions and API keys: an administrator all; a township supervisor those of its collectors
-- (ended when it disables or resets one); an account its own.
GRANT SELECT, INSERT, UPDATE ON auth_session TO georeg_api;
ALTER TABLE auth_session ENABLE ROW LEVEL SECURITY;
CREATE POLICY auth_session_scope ON auth_session TO georeg_api
    USING ((SELECT georeg_role()) = 'admin' OR account_id = (SELECT georeg_account_id())
           OR ((SELECT georeg_role()) = 'township_supervisor' AND account_id IN (
                   SELECT a.id FROM account a WHERE a.role = 'collector'
                     AND a.township_code = (SELECT georeg_township()))));
-- login_attempt: only through the definer functions; nothing granted.

-- The audit trail: written by its definer triggers only; read by county-wide accounts, and by a
-- township's accounts for the records of their township (api: who may ask at all).
GRANT SELECT ON audit_event TO georeg_api;
ALTER TABLE audit_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_event_read ON audit_event FOR SELECT TO georeg_api
    USING ((SELECT georeg_county_wide()) OR township_code = (SELECT georeg_township()));
