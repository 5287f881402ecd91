-- Personal accounts: service accounts (API keys), forced first change, demo marking, who did it;
-- server-side sessions (opaque tokens, stored as SHA-256 only) and login throttling.
--
-- The API checks a token and opens a session through SECURITY DEFINER functions, so that the
-- API's database role (georeg_api, sql/022) needs no direct access to these tables.

-- --- accounts -----------------------------------------------------------------------------------

ALTER TABLE account DROP CONSTRAINT account_role_check;
ALTER TABLE account ADD CONSTRAINT account_role_check CHECK (role IN
    ('collector', 'township_supervisor', 'county_supervisor', 'credit_clerk', 'admin',
     'service'));
-- Township roles carry a township; county roles none; a service account either.
ALTER TABLE account DROP CONSTRAINT account_scope;
ALTER TABLE account ADD CONSTRAINT account_scope CHECK (
    CASE role WHEN 'service' THEN true
              WHEN 'collector' THEN township_code IS NOT NULL
              WHEN 'township_supervisor' THEN township_code IS NOT NULL
              ELSE township_code IS NULL END);

-- Service accounts sign in only with API keys: no password.
ALTER TABLE account ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE account ADD CONSTRAINT account_password CHECK ((role = 'service') = (password_hash IS NULL));

ALTER TABLE account
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
    ADD COLUMN demo                 boolean NOT NULL DEFAULT false,
    -- what a service account's keys may do: read (GET), collect (site point uploads)
    ADD COLUMN scopes               text[] NOT NULL DEFAULT '{}'
        CONSTRAINT account_scopes CHECK (scopes <@ ARRAY['read', 'collect']),
    -- a collector's grids (codes, so that they outlive boundary versions); empty: the township
    ADD COLUMN grid_codes           text[] NOT NULL DEFAULT '{}',
    ADD COLUMN password_changed_at  timestamptz,
    -- NULL: the command line (the owner) did it
    ADD COLUMN created_by           bigint REFERENCES account (id),
    ADD COLUMN updated_at           timestamptz,
    ADD COLUMN updated_by           bigint REFERENCES account (id);
ALTER TABLE account ADD CONSTRAINT account_service_scopes
    CHECK (role = 'service' OR scopes = '{}');
ALTER TABLE account ADD CONSTRAINT account_collector_grids
    CHECK (role = 'collector' OR grid_codes = '{}');

-- Accounts that existed before this migration came from `georeg load anxi-2023` with the demo
-- password: keep them usable, but say so (an install that kept them must replace them).
UPDATE account SET demo = true;

-- --- sessions -----------------------------------------------------------------------------------

CREATE TABLE auth_session (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES account (id),
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    kind         text NOT NULL CHECK (kind IN ('password', 'api_key')),
    label        text,                               -- an API key's name
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   bigint REFERENCES account (id),     -- who made an API key (NULL: the CLI)
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    idle_timeout interval,                           -- NULL: no idle limit (API keys)
    expires_at   timestamptz,                        -- absolute; NULL: until revoked
    revoked_at   timestamptz,
    revoked_by   bigint REFERENCES account (id),
    client_class text                                -- loopback, private, public (never the address)
);
CREATE INDEX auth_session_account ON auth_session (account_id) WHERE revoked_at IS NULL;

-- The account behind a token's SHA-256, in one round trip: checks the session and the account,
-- bumps last_seen at most once a minute, and sets the request scope (sql/018) for the rest of the
-- transaction. No row: no valid session.
CREATE FUNCTION georeg_session_account(p_token_hash bytea)
RETURNS TABLE (session_id bigint, kind text, id bigint, username text, display_name text,
               role text, township_code char(12), scopes text[], grid_codes text[],
               must_change_password boolean, demo boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    s auth_session;
    a account;
BEGIN
    SELECT * INTO s FROM auth_session x
    WHERE x.token_hash = p_token_hash AND x.revoked_at IS NULL
      AND (x.expires_at IS NULL OR x.expires_at > now())
      AND (x.idle_timeout IS NULL OR x.last_seen_at + x.idle_timeout > now());
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO a FROM account y WHERE y.id = s.account_id AND y.active;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF s.last_seen_at < now() - interval '1 minute' THEN
        UPDATE auth_session SET last_seen_at = now() WHERE auth_session.id = s.id;
    END IF;
    PERFORM set_config('georeg.account_id', a.id::text, true),
            set_config('georeg.role', a.role, true),
            set_config('georeg.township', coalesce(a.township_code, ''), true),
            set_config('georeg.session_id', s.id::text, true);
    RETURN QUERY SELECT s.id, s.kind, a.id, a.username, a.display_name, a.role,
                        a.township_code, a.scopes, a.grid_codes, a.must_change_password, a.demo;
END $$;

-- --- login throttling ---------------------------------------------------------------------------

-- Failed sign-ins per (username as typed, lower-cased; client address): kept here so that every
-- worker agrees. A success deletes the row.
CREATE TABLE login_attempt (
    username        text NOT NULL,
    client          text NOT NULL,
    failures        integer NOT NULL DEFAULT 0,
    last_failure_at timestamptz NOT NULL DEFAULT now(),
    -- no attempt before this moment (the growing delay, then the lock)
    blocked_until   timestamptz,
    PRIMARY KEY (username, client)
);

-- What a sign-in needs before the password check: the stored hash (NULL for an unknown, disabled
-- or service account) and how long the pair must still wait (0: it may try now).
CREATE FUNCTION georeg_login_state(p_username text, p_client text)
RETURNS TABLE (account_id bigint, password_hash text, must_change_password boolean,
               retry_after_s integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT a.id, a.password_hash, a.must_change_password,
           coalesce((SELECT ceil(greatest(0, extract(epoch FROM t.blocked_until - now())))::int
                     FROM login_attempt t
                     WHERE t.username = lower(p_username) AND t.client = p_client), 0)
    FROM (SELECT 1) one
    LEFT JOIN account a ON a.username = lower(p_username) AND a.active
                       AND a.password_hash IS NOT NULL
$$;

-- A failed sign-in: counts it and sets the wait before the next one. After p_free failures each
-- further one doubles the wait (1 s, 2 s, 4 s … up to p_max_delay_s); at p_lock_after the pair is
-- locked for p_lock_s. Returns the seconds to wait now.
CREATE FUNCTION georeg_login_failed(p_username text, p_client text, p_free integer,
                                    p_max_delay_s integer, p_lock_after integer, p_lock_s integer)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    n integer;
    wait_s integer;
BEGIN
    INSERT INTO login_attempt AS t (username, client, failures)
    VALUES (lower(p_username), p_client, 1)
    ON CONFLICT (username, client) DO UPDATE
        -- a pair quiet for a day starts again
        SET failures = CASE WHEN t.last_failure_at < now() - interval '1 day' THEN 1
                            ELSE t.failures + 1 END,
            last_failure_at = now()
    RETURNING failures INTO n;
    wait_s := CASE WHEN n >= p_lock_after THEN p_lock_s
                   WHEN n > p_free THEN least(p_max_delay_s, (2 ^ (n - p_free - 1))::integer)
                   ELSE 0 END;
    UPDATE login_attempt SET blocked_until = CASE WHEN wait_s > 0
                                                  THEN now() + make_interval(secs => wait_s) END
    WHERE username = lower(p_username) AND client = p_client;
    RETURN wait_s;
END $$;

-- A successful sign-in: forgets the pair's failures and opens a session. Returns its id.
CREATE FUNCTION georeg_login_succeeded(p_username text, p_client text, p_account_id bigint,
                                       p_token_hash bytea, p_idle_s integer, p_absolute_s integer,
                                       p_client_class text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    sid bigint;
BEGIN
    DELETE FROM login_attempt WHERE username = lower(p_username) AND client = p_client;
    INSERT INTO auth_session (account_id, token_hash, kind, idle_timeout, expires_at, client_class)
    SELECT a.id, p_token_hash, 'password', make_interval(secs => p_idle_s),
           now() + make_interval(secs => p_absolute_s), p_client_class
    FROM account a WHERE a.id = p_account_id AND a.active
    RETURNING id INTO sid;
    RETURN sid;
END $$;

-- Sign-out: the session of the current request (georeg_session_account set it).
CREATE FUNCTION georeg_session_revoke_current()
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE auth_session SET revoked_at = now(), revoked_by = georeg_account_id()
    WHERE id = nullif(current_setting('georeg.session_id', true), '')::bigint
      AND revoked_at IS NULL
$$;
