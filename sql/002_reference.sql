-- Townships, grids, commodities and the county's year-keyed plan.

CREATE TABLE township (
    code            char(12) PRIMARY KEY CHECK (code ~ '^[0-9]{12}$'),  -- statistical division code
    name            text NOT NULL CHECK (btrim(name) <> ''),
    account         text UNIQUE,                     -- login account such as cnx05
    county_code     char(6) GENERATED ALWAYS AS (substr(code, 1, 6)) STORED,
    boundary        geometry(MultiPolygon, 4326),
    boundary_source text NOT NULL DEFAULT 'demo' CHECK (boundary_source IN ('demo', 'imported')),
    centre          geometry(Point, 4326),
    population      integer CHECK (population >= 0),
    CONSTRAINT township_boundary_valid CHECK (boundary IS NULL OR ST_IsValid(boundary))
);
CREATE INDEX township_boundary_gist ON township USING gist (boundary);
CREATE INDEX township_county ON township (county_code);

CREATE TABLE grid (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code          text NOT NULL CHECK (code ~ '^[0-9]{15}$'),  -- township code + 3 digits, stable
    township_code char(12) NOT NULL REFERENCES township (code),
    name          text NOT NULL,
    boundary      geometry(MultiPolygon, 4326) NOT NULL,
    valid_from    date NOT NULL DEFAULT DATE '2023-01-01',
    valid_to      date,                                         -- exclusive; NULL = current
    CONSTRAINT grid_code_in_township CHECK (left(code, 12) = township_code),
    CONSTRAINT grid_boundary_valid CHECK (ST_IsValid(boundary)),
    CONSTRAINT grid_validity_order CHECK (valid_to IS NULL OR valid_to > valid_from),
    CONSTRAINT grid_one_version_at_a_time
        EXCLUDE USING gist (code WITH =, daterange(valid_from, valid_to) WITH &&)
);
CREATE INDEX grid_boundary_gist ON grid USING gist (boundary);
CREATE INDEX grid_township ON grid (township_code);

-- Today in China Standard Time. A transaction may set `georeg.today` (the application's
-- injectable clock, used by tests); otherwise the server's clock decides.
CREATE FUNCTION georeg_today() RETURNS date LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('georeg.today', true), '')::date,
                    (now() AT TIME ZONE 'Asia/Shanghai')::date)
$$;

-- Grids in force today; assignments of entities and plots use these.
CREATE VIEW current_grid AS
SELECT * FROM grid
WHERE valid_from <= georeg_today() AND (valid_to IS NULL OR valid_to > georeg_today());

CREATE TABLE grid_staff (
    grid_id    bigint NOT NULL REFERENCES grid (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('supervisor', 'assistant')),
    person     text NOT NULL,
    account_id bigint,
    PRIMARY KEY (grid_id, role, person)
);
CREATE UNIQUE INDEX grid_one_supervisor ON grid_staff (grid_id) WHERE role = 'supervisor';

CREATE TABLE commodity (
    slug             text PRIMARY KEY CHECK (slug ~ '^[a-z][a-z0-9_]*$'),
    name_zh          text NOT NULL UNIQUE,
    name_en          text NOT NULL,
    category         text NOT NULL CHECK (category IN
                         ('tea', 'vegetable', 'fruit', 'grain', 'mushroom', 'poultry', 'egg',
                          'livestock', 'aquatic', 'other')),
    key_risk         boolean NOT NULL DEFAULT false,  -- the 13 key risk varieties
    provenance_key   boolean NOT NULL DEFAULT false   -- the 8 provenance-collection products
);

-- The county's yearly plan: targets per unit (a township code, or 'county') and metric.
CREATE TABLE plan_target (
    year      integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    unit      text NOT NULL,
    metric    text NOT NULL CHECK (metric IN (
                  'producers', 'daily_patrols', 'monthly_patrols', 'annual_trace_codes',
                  'annual_smallholder_certificates', 'rapid_tests_total',
                  'rapid_tests_colloidal_gold', 'rapid_tests_enzyme_inhibition',
                  'rapid_tests_veterinary')),
    target    integer NOT NULL CHECK (target >= 0),
    source    text NOT NULL,
    PRIMARY KEY (year, unit, metric),
    CONSTRAINT plan_target_unit CHECK (unit = 'county' OR unit ~ '^[0-9]{12}$')
);
