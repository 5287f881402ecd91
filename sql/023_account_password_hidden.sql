-- The API's role reads accounts but not their password hashes (a stolen hash can be attacked
-- offline): every column but password_hash, and the signed-in account's own hash through a
-- definer function, for a password change (georeg.accounts.change_password). Sign-in reads the
-- hash through georeg_login_state (sql/019).

REVOKE SELECT ON account FROM georeg_api;
DO $$
DECLARE cols text;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_attribute
    WHERE attrelid = 'account'::regclass AND attnum > 0 AND NOT attisdropped
      AND attname <> 'password_hash';
    EXECUTE format('GRANT SELECT (%s) ON account TO georeg_api', cols);
END $$;

CREATE FUNCTION georeg_own_password_hash() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.password_hash FROM account a WHERE a.id = georeg_account_id() AND a.active
$$;
REVOKE EXECUTE ON FUNCTION georeg_own_password_hash() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION georeg_own_password_hash() TO georeg_api;
