"""Loading the drawn rows: binary COPY into staging tables, then one set-based INSERT per table.

Load path (docs/performance.md, "Bulk loads"), measured at 1M entities and 2M plots: psycopg 3
binary COPY (geometry as EWKB) fills temporary staging tables; with the row triggers disabled,
one INSERT ... SELECT per table (insert_entities.sql, insert_plots.sql) then does their work
set-based (grid assignment, polygon area, the township check, the last by comparing row
counts). An UPDATE after a COPY into the real tables took 3x longer and left a dead copy of
every row behind. Also here: clearing the previous demo rows, reserving entity ids, and the grid
staff. Table and column names go in through psycopg.sql.Identifier, never spliced.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import shapely
from psycopg import sql
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from georeg.database import sql_statement
from georeg.pii import PiiCipher, mask_phone, mask_resident_id
from importers.demo.entities import Entities
from importers.demo.geography import Geography
from importers.demo.identities import Identity, _name_stream
from importers.demo.parameters import CROPS, KINDS, PROVINCE_PREFIX, VILLAGES_PER_TOWNSHIP
from importers.demo.plots import Plots

ENTITY_COLUMNS = (
    ("id", "int8"), ("kind", "text"), ("name", "text"), ("uscc", "text"),
    ("legal_representative", "text"), ("contact_name", "text"),
    ("resident_id_hash", "bytea"), ("resident_id_enc", "bytea"), ("resident_id_masked", "text"),
    ("phone_hash", "bytea"), ("phone_enc", "bytea"), ("phone_masked", "text"),
    ("village", "text"), ("address", "text"), ("township_code", "text"),
    ("location", "geometry"), ("key_supervision", "bool"), ("origin", "text"),
)
PLOT_COLUMNS = (
    ("entity_id", "int8"), ("commodity", "text"), ("name", "text"), ("geom", "geometry"),
    ("area_mu", "float8"), ("township_code", "text"),
)
_PACKAGE = "importers.demo"  # the .sql files beside this module


def _run(conn: Connection, statement: sql.Composable) -> Any:
    """Execute a statement composed with psycopg.sql (identifiers quoted, nothing spliced)."""
    return conn.exec_driver_sql(statement.as_string(conn.connection.driver_connection))


def _stage(conn: Connection, table: str, columns: tuple[tuple[str, str], ...],
           rows: Iterable[tuple[Any, ...]]) -> int:
    """Binary COPY into a temporary table shaped like `columns`; geometry goes as EWKB."""
    name = sql.Identifier(table)
    shape = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.Identifier(t))
                               for c, t in columns)  # type names are identifiers too
    _run(conn, sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(name, shape))
    raw = conn.connection.driver_connection
    n = 0
    with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
            sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(name)) as copy:
        # EWKB bytes are what PostGIS's binary input function reads.
        copy.set_types(["bytea" if t == "geometry" else t for _, t in columns])
        for row in rows:
            copy.write_row(row)
            n += 1
    geometry = next(c for c, t in columns if t == "geometry")
    _run(conn, sql.SQL("CREATE INDEX ON {} USING gist ({})").format(name, sql.Identifier(geometry)))
    _run(conn, sql.SQL("ANALYZE {}").format(name))
    return n


def _ewkb(geoms: np.ndarray) -> list[bytes]:
    return shapely.to_wkb(shapely.set_srid(geoms, 4326), include_srid=True).tolist()


def _entity_rows(geo: Geography, ent: Entities, who: Identity, ids: list[int],
                 location: list[bytes], cipher: PiiCipher) -> Iterator[tuple[Any, ...]]:
    # Hashing and encryption run here, while the server ingests the rows already sent.
    towns = ent.town.tolist()
    kinds = ent.kind.tolist()
    key = who.key_supervision.tolist()
    for i, entity_id in enumerate(ids):
        rid, phone = who.resident_id[i], who.phone[i]
        rid_cols: tuple[Any, ...] = (None, None, None)
        if rid is not None:
            rid_cols = (cipher.lookup_hash("resident_id", rid), cipher.encrypt("resident_id", rid),
                        mask_resident_id(rid))
        phone_cols: tuple[Any, ...] = (None, None, None)
        if phone is not None:
            phone_cols = (cipher.lookup_hash("phone", phone), cipher.encrypt("phone", phone),
                          mask_phone(phone))
        yield (entity_id, KINDS[kinds[i]], who.names[i], who.uscc[i], who.legal[i],
               who.contact[i], *rid_cols, *phone_cols, who.village[i], who.address[i],
               geo.codes[towns[i]], location[i], key[i], "demo")


def _plot_rows(geo: Geography, ent: Entities, who: Identity, plots: Plots, ids: list[int],
               rng: np.random.Generator) -> Iterator[tuple[Any, ...]]:
    owners = plots.owner.tolist()
    towns = ent.town.tolist()
    n_plots = ent.n_plots.tolist()
    area = [None if np.isnan(a) else a for a in plots.area_mu.tolist()]
    # The first plot lies in the owner's village, others in one nearby.
    village = rng.integers(0, VILLAGES_PER_TOWNSHIP, len(plots)).tolist()
    for p, (o, c, num, g) in enumerate(zip(owners, plots.crop.tolist(), plots.number.tolist(),
                                           _ewkb(plots.geom), strict=True)):
        t = towns[o]
        place = who.village[o] if num == 1 else geo.villages[t][village[p]]
        name = f"{place}{CROPS[c].site}" + (f"{num}号" if n_plots[o] > 1 else "")
        yield ids[o], CROPS[c].slug, name, g, area[p], geo.codes[t]


# Bulk loads drop the secondary indexes, unique constraints and foreign keys of entity and plot
# and rebuild them from the catalog's own definitions (those of sql/004_registry.sql and of any
# later migration): building an index once is ~3x faster than maintaining it row by row, and one
# anti-join validates a foreign key far faster than a lookup per row. Primary keys stay.
DETACHABLE = sql_statement(_PACKAGE, "detachable.sql")

# What the row triggers do, set-based. Each grid comes with its township's boundary, and the
# staged rows are found through their GiST index inside the loop (the LATERAL ... OFFSET 0 keeps
# the planner from turning it round): PostGIS then reuses each grid's and township's prepared
# geometry, 5x faster than row-at-a-time (docs/performance.md, "Spatial joins"). ST_Covers(boundary,
# geom) is ST_CoveredBy(geom, boundary) with the prepared-geometry cache, which ST_CoveredBy lacks.
# A row outside its township or outside every grid is left out, and the row count then differs.
# Both statements open with the same gt (the grids with their township's boundary).
INSERT_ENTITIES = sql_statement(_PACKAGE, "insert_entities.sql")

# As plot_before_write: the grid of the PointOnSurface, the polygon's area, the township check.
INSERT_PLOTS = sql_statement(_PACKAGE, "insert_plots.sql")


def _truncate_demo(conn: Connection) -> bool:
    """TRUNCATE entity and plot when that deletes nothing but demo rows; False if it cannot.

    Same result as the DELETEs in _clear, without their ~20 s per million rows and the dead copy
    of every row they leave behind. Tables that refer to entity or plot, directly or through
    others, go along only while they are empty.
    """
    if conn.execute(text("SELECT EXISTS (SELECT 1 FROM entity WHERE origin <> 'demo')")).scalar():
        return False
    referencing = [sql.Identifier(schema, name) for schema, name in conn.execute(text("""
        WITH RECURSIVE chain(rel) AS (
            SELECT 'entity'::regclass::oid UNION SELECT 'plot'::regclass::oid
            UNION
            SELECT c.conrelid FROM pg_constraint c JOIN chain ON c.confrelid = chain.rel
            WHERE c.contype = 'f')
        SELECT n.nspname, r.relname FROM chain
        JOIN pg_class r ON r.oid = chain.rel JOIN pg_namespace n ON n.oid = r.relnamespace
        WHERE rel NOT IN ('entity'::regclass, 'plot'::regclass)
        ORDER BY rel::regclass::text"""))]
    for table in referencing:
        if _run(conn, sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(table)).scalar():
            return False
    try:
        with conn.begin_nested():  # e.g. no TRUNCATE privilege on one of them
            _run(conn, sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(
                [sql.Identifier("plot"), sql.Identifier("entity"), *referencing])))
    except DBAPIError:
        return False
    return True


def _clear(conn: Connection) -> None:
    # Credit events are append-only; demo entities' own are purged under this one switch.
    conn.execute(text("SET LOCAL georeg.purge_demo = 'on'"))
    # Nothing cascades from an entity or a plot (sql/020): the demo entities' activity goes
    # first, explicitly. Test results name the credit events their failures wrote and the plan
    # targets they fulfil: they go before both.
    for table in ("rapid_test", "lab_sample", "patrol", "certificate", "site_point",
                  "sampling_plan_target"):
        _run(conn, sql.SQL("DELETE FROM {} x USING entity e "
                           "WHERE e.id = x.entity_id AND e.origin = 'demo'").format(
            sql.Identifier(table)))
    conn.execute(text("DELETE FROM credit_event ce USING entity e "
                      "WHERE e.id = ce.entity_id AND e.origin = 'demo'"))
    conn.execute(text("DELETE FROM key_supervision_listing k USING entity e "
                      "WHERE e.id = k.entity_id AND e.origin = 'demo'"))
    # their standings (left stale by the purge) go too: no events, no standing
    conn.execute(text("DELETE FROM credit_standing s USING entity e "
                      "WHERE e.id = s.entity_id AND e.origin = 'demo'"))
    if not _truncate_demo(conn):
        # Plots first, set-based, so the cascade has nothing left to look up per entity.
        conn.execute(text("DELETE FROM plot p USING entity e "
                          "WHERE e.id = p.entity_id AND e.origin = 'demo'"))
        conn.execute(text("DELETE FROM entity WHERE origin = 'demo'"))
    conn.execute(text(
        "DELETE FROM grid WHERE township_code IN (SELECT code FROM township "
        "WHERE code LIKE :p AND boundary_source = 'demo')"), {"p": PROVINCE_PREFIX + "%"})
    conn.execute(text("DELETE FROM township WHERE code LIKE :p AND boundary_source = 'demo'"),
                 {"p": PROVINCE_PREFIX + "%"})


def _staff(conn: Connection, codes: list[str], rng: np.random.Generator) -> int:
    """A supervisor and 1-3 assistants for each demo grid that has no staff yet."""
    grids = conn.execute(text(
        "SELECT g.id FROM current_grid g JOIN township t ON t.code = g.township_code "
        "WHERE t.boundary_source = 'demo' AND g.township_code = ANY(:codes) "
        "AND NOT EXISTS (SELECT 1 FROM grid_staff s WHERE s.grid_id = g.id) "
        "ORDER BY g.code"), {"codes": codes}).scalars().all()
    assistants = rng.integers(1, 4, len(grids)).tolist()
    people = _name_stream(rng)
    grid_ids, roles, persons = [], [], []
    for gid, n in zip(grids, assistants, strict=True):
        crew: list[str] = []
        while len(crew) < n + 1:
            name = next(people)
            if name not in crew:
                crew.append(name)
        grid_ids += [gid] * len(crew)
        roles += ["supervisor"] + ["assistant"] * n
        persons += crew
    conn.execute(text(
        "INSERT INTO grid_staff (grid_id, role, person) "
        "SELECT * FROM unnest(CAST(:g AS bigint[]), CAST(:r AS text[]), CAST(:p AS text[]))"),
        {"g": grid_ids, "r": roles, "p": persons})
    return len(persons)


def _reserve_ids(conn: Connection, n: int) -> list[int]:
    """A block of entity ids, so plots can name their owner in the same pass.

    Safe because DISABLE TRIGGER holds a lock that keeps other inserts out of entity meanwhile.
    """
    first = conn.execute(text(
        "SELECT nextval(pg_get_serial_sequence('entity', 'id'))")).scalar_one()
    if n > 1:
        conn.execute(text("SELECT setval(pg_get_serial_sequence('entity', 'id'), :last)"),
                     {"last": first + n - 1})
    return list(range(first, first + n))


def _check(what: str, expected: int, loaded: int) -> int:
    """The triggers would have refused these rows: refuse the whole run."""
    if loaded != expected:
        raise RuntimeError(f"演示数据校验失败：应写入 {expected:,} 个{what}，实为 {loaded:,} 个"
                           "（有的不在所属乡镇或不在唯一网格内）；已全部回滚")
    return loaded
