-- Accounts: a role and, for township roles, a township scope.

CREATE TABLE account (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.-]{2,64}$'),
    display_name  text NOT NULL,
    role          text NOT NULL CHECK (role IN
                      ('collector', 'township_supervisor', 'county_supervisor', 'credit_clerk',
                       'admin')),
    township_code char(12) REFERENCES township (code),
    password_hash text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT account_scope CHECK (
        (role IN ('collector', 'township_supervisor')) = (township_code IS NOT NULL))
);

ALTER TABLE grid_staff ADD CONSTRAINT grid_staff_account
    FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE SET NULL;

-- Every full view of personal data (who, when, what).
CREATE TABLE pii_access (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES account (id),
    entity_id   bigint NOT NULL,
    fields      text[] NOT NULL,
    purpose     text NOT NULL,
    accessed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pii_access_entity ON pii_access (entity_id, accessed_at);
