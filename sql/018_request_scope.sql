-- Who is asking. The API sets these per transaction (georeg.database.set_scope) once it knows
-- the signed-in account; row-level security policies and the audit trail read them. Unset (the
-- CLI, bulk loads and migrations as the owner): NULL.

CREATE FUNCTION georeg_account_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('georeg.account_id', true), '')::bigint $$;

CREATE FUNCTION georeg_role() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('georeg.role', true), '') $$;

-- NULL for county-wide accounts and for the owner.
CREATE FUNCTION georeg_township() RETURNS char(12)
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('georeg.township', true), '')::char(12) $$;
