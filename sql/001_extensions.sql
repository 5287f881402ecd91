-- Extensions every later migration relies on.
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS btree_gist;  -- grid versions: no two valid at once for one code
CREATE EXTENSION IF NOT EXISTS pg_trgm;     -- partial Chinese name search
