-- Grid management: boundary history, patrols, certificates and trace codes.

-- Townships keep their earlier boundaries when a new one is imported.
CREATE TABLE township_boundary_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    township_code char(12) NOT NULL REFERENCES township (code),
    boundary      geometry(MultiPolygon, 4326) NOT NULL,
    source        text NOT NULL,
    valid_to      date NOT NULL,
    replaced_at   timestamptz NOT NULL DEFAULT now()
);

-- Daily online patrols and field inspections of an entity.
CREATE TABLE patrol (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_id     bigint NOT NULL REFERENCES entity (id) ON DELETE CASCADE,
    account_id    bigint REFERENCES account (id),
    inspector     text NOT NULL,                 -- who patrolled (a name; accounts are shared)
    kind          text NOT NULL CHECK (kind IN ('online', 'field')),
    patrolled_at  timestamptz NOT NULL,
    day           date NOT NULL,                 -- China Standard Time, set by the trigger
    result        text NOT NULL CHECK (result IN ('normal', 'problem')),
    findings      text,
    follow_up     text,
    follow_up_due date,
    external_id   text UNIQUE,                   -- bulk imports: a re-import adds nothing
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT patrol_problem_has_findings CHECK (result = 'normal' OR findings IS NOT NULL)
);
CREATE INDEX patrol_entity_day ON patrol (entity_id, day);
CREATE INDEX patrol_day ON patrol (day);

-- Compliance certificates (承诺达标合格证), per batch sold; with a trace code when the batch
-- was coded (一品一码), which is what the trace-code targets count.
CREATE TABLE certificate (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_id     bigint NOT NULL REFERENCES entity (id) ON DELETE CASCADE,
    batch_no      text NOT NULL CHECK (btrim(batch_no) <> ''),
    issued_on     date NOT NULL,
    commodity     text REFERENCES commodity (slug),
    quantity      numeric(14, 2) NOT NULL CHECK (quantity > 0),
    unit          text NOT NULL DEFAULT 'kg',
    trace_code    text UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (entity_id, batch_no)
);
CREATE INDEX certificate_issued ON certificate (issued_on, entity_id);

CREATE FUNCTION patrol_before_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.day := (NEW.patrolled_at AT TIME ZONE 'Asia/Shanghai')::date;
    IF NEW.day > georeg_today() THEN
        RAISE EXCEPTION 'patrol in the future' USING
            ERRCODE = 'check_violation', CONSTRAINT = 'patrol_not_in_future';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER patrol_before_write BEFORE INSERT OR UPDATE OF patrolled_at ON patrol
    FOR EACH ROW EXECUTE FUNCTION patrol_before_write();

CREATE FUNCTION certificate_before_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.issued_on > georeg_today() THEN
        RAISE EXCEPTION 'certificate in the future' USING
            ERRCODE = 'check_violation', CONSTRAINT = 'certificate_not_in_future';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER certificate_before_write BEFORE INSERT OR UPDATE OF issued_on ON certificate
    FOR EACH ROW EXECUTE FUNCTION certificate_before_write();
