"""Demo data (importers.demo), against the real database: plan figures, geometry, identifiers."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from georeg.cluster import Cluster
from georeg.database import make_engine
from georeg.ids import normalize_phone, normalize_resident_id, normalize_uscc
from georeg.pii import PiiCipher, generate_key_text, mask_phone, mask_resident_id
from importers import demo

SEED = 7
PRODUCERS_PER_TOWNSHIP = """
SELECT p.unit, p.target, count(e.id) AS n
FROM plan_target p LEFT JOIN entity e ON e.township_code = p.unit AND e.is_producer
WHERE p.year = 2023 AND p.metric = 'producers' AND p.unit <> 'county'
GROUP BY p.unit, p.target ORDER BY p.unit
"""
# Same content whatever the ids: names, kinds, identifiers' hashes and geometries, in order.
FINGERPRINT = """
SELECT md5(string_agg(concat_ws('|', kind, name, uscc, encode(resident_id_hash, 'hex'),
                                 township_code, ST_AsEWKB(location)::text), ',' ORDER BY id))
       || md5((SELECT string_agg(concat_ws('|', p.commodity, p.name, p.area_mu,
                                           ST_AsEWKB(p.geom)::text, g.code), ',' ORDER BY p.id)
               FROM plot p JOIN grid g ON g.id = p.grid_id))
FROM entity WHERE origin = 'demo'
"""


@pytest.fixture(scope="module")
def county(cluster: Cluster, template: str, cipher: PiiCipher) -> Iterator[Engine]:
    """One county-scale generation shared by the read-only tests of this module."""
    name = f"t_demo_{secrets.token_hex(4)}"
    cluster.create_database(name, template=template)
    engine = make_engine(cluster.url(name), pool_size=2)
    demo.generate(engine, seed=SEED, cipher=cipher)
    yield engine
    engine.dispose()
    cluster.drop_database(name)


def producers(engine: Engine) -> dict[str, tuple[int, int]]:
    with engine.connect() as conn:
        return {r.unit: (r.target, r.n) for r in conn.execute(text(PRODUCERS_PER_TOWNSHIP))}


def test_producers_per_township_are_the_plans(county: Engine) -> None:
    counts = producers(county)
    assert len(counts) == 24
    assert all(target == n for target, n in counts.values()), counts
    assert sum(n for _, n in counts.values()) == 665


def test_the_figure_is_counted_from_entity_rows(county: Engine) -> None:
    before = producers(county)
    with county.connect() as conn, conn.begin() as tx:
        victim = conn.execute(text(
            "SELECT id, township_code FROM entity WHERE kind = 'cooperative' LIMIT 1")).one()
        # A buyer is registered, but it is no producer.
        conn.execute(text("""
            INSERT INTO entity (kind, name, township_code, location)
            SELECT 'buyer', '测试豇豆收购点', code, ST_PointOnSurface(boundary)
            FROM township WHERE code = :t"""), {"t": victim.township_code})
        # nothing cascades from an entity (sql/020): its plots go first
        conn.execute(text("DELETE FROM plot WHERE entity_id = :id"), {"id": victim.id})
        conn.execute(text("DELETE FROM entity WHERE id = :id"), {"id": victim.id})
        after = {r.unit: r.n for r in conn.execute(text(PRODUCERS_PER_TOWNSHIP))}
        tx.rollback()
    assert after[victim.township_code] == before[victim.township_code][1] - 1
    assert all(after[u] == n for u, (_, n) in before.items() if u != victim.township_code)


def test_kinds_commodities_and_sizes(county: Engine) -> None:
    with county.connect() as conn:
        kinds = dict(conn.execute(text(
            "SELECT kind, count(*) FROM entity GROUP BY kind")).all())
        buyers = conn.execute(text(
            "SELECT min(n), bool_and(NOT p) FROM (SELECT township_code, count(*) AS n, "
            "bool_or(is_producer) AS p FROM entity WHERE kind = 'buyer' GROUP BY 1) b")).one()
        plots = conn.execute(text("""
            SELECT e.kind, count(p.id) AS n FROM entity e LEFT JOIN plot p ON p.entity_id = e.id
            GROUP BY e.id, e.kind""")).all()
        mix = conn.execute(text("""
            SELECT p.commodity, c.category, count(*) AS n,
                   bool_and(GeometryType(p.geom) = 'POINT') AS points
            FROM plot p JOIN commodity c ON c.slug = p.commodity
            GROUP BY 1, 2 ORDER BY 3 DESC""")).all()
    assert set(kinds) == set(demo.KINDS)
    assert buyers == (2, True)
    assert 3_500 <= kinds["smallholder"] <= 4_500
    assert 18_000 <= sum(r.n for r in plots) <= 22_000
    per_kind: dict[str, list[int]] = {}
    for r in plots:
        per_kind.setdefault(r.kind, []).append(r.n)
    assert set(per_kind["smallholder"]) == {1, 2, 3, 4}
    assert min(per_kind["enterprise"]) >= 5 and max(per_kind["enterprise"]) <= 60
    assert set(per_kind["buyer"]) == {0}
    assert mix[0].commodity == "tea"  # Anxi's main crop
    assert {r.commodity for r in mix} >= {"cowpea", "chinese_chive", "celery", "chicken_egg",
                                          "shiitake", "live_pig", "rice", "pomelo"}
    animal = {"poultry", "egg", "livestock"}
    assert all(r.points == (r.category in animal) for r in mix)


def test_plots_lie_in_their_township_and_one_grid(county: Engine) -> None:
    with county.connect() as conn:
        r = conn.execute(text("""
            SELECT count(*) AS n,
                   count(*) FILTER (WHERE NOT ST_CoveredBy(p.geom, t.boundary)) AS outside,
                   count(*) FILTER (WHERE g.id IS NULL OR g.township_code <> p.township_code
                                    OR NOT ST_Covers(g.boundary, ST_PointOnSurface(p.geom)))
                       AS bad_grid,
                   count(*) FILTER (WHERE GeometryType(p.geom) = 'POLYGON'
                                    AND NOT ST_CoveredBy(p.geom, g.boundary)) AS across_grids,
                   count(*) FILTER (WHERE GeometryType(p.geom) = 'POLYGON' AND NOT (
                       p.area_mu > 0 AND p.area_mu = round((ST_Area(p.geom::geography)
                                                            / (10000.0 / 15))::numeric, 2)))
                       AS bad_area,
                   count(*) FILTER (WHERE p.township_code <> e.township_code) AS other_township,
                   count(*) FILTER (WHERE GeometryType(p.geom) = 'POLYGON') AS polygons
            FROM plot p JOIN township t ON t.code = p.township_code
            JOIN entity e ON e.id = p.entity_id LEFT JOIN grid g ON g.id = p.grid_id""")).one()
    assert 18_000 <= r.n <= 22_000
    assert (r.outside, r.bad_grid, r.across_grids, r.bad_area, r.other_township) == (0,) * 5
    assert r.polygons > r.n / 2


def test_entities_are_in_their_township_with_a_grid(county: Engine) -> None:
    with county.connect() as conn:
        r = conn.execute(text("""
            SELECT count(*) FILTER (WHERE NOT ST_Intersects(t.boundary, e.location)) AS outside,
                   count(*) FILTER (WHERE g.id IS NULL OR g.township_code <> e.township_code
                                    OR NOT ST_Covers(g.boundary, e.location)) AS bad_grid,
                   max(f.metres) AS farthest
            FROM entity e JOIN township t ON t.code = e.township_code
            LEFT JOIN grid g ON g.id = e.grid_id
            LEFT JOIN LATERAL (SELECT min(ST_Distance(e.location::geography, geom::geography))
                               AS metres FROM plot WHERE entity_id = e.id) f ON true""")).one()
    assert (r.outside, r.bad_grid) == (0, 0)
    assert r.farthest < 1_000  # the main site lies near a plot of its own


def test_triggers_are_back_on(county: Engine) -> None:
    with county.connect() as conn:
        states = dict(conn.execute(text(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal "
            "AND tgrelid IN ('entity'::regclass, 'plot'::regclass)")).all())
    assert states and set(states.values()) == {"O"}
    with pytest.raises(IntegrityError) as refused, county.begin() as conn:
        conn.execute(text("""
            INSERT INTO plot (entity_id, commodity, geom)
            SELECT id, 'tea', ST_SetSRID(ST_MakePoint(100, 30), 4326) FROM entity LIMIT 1"""))
    assert refused.value.orig.diag.constraint_name == "plot_within_township"


def test_identifiers_are_valid_and_stored_as_the_schema_says(county: Engine,
                                                              cipher: PiiCipher) -> None:
    with county.connect() as conn:
        rows = conn.execute(text("""
            SELECT kind, is_producer, uscc, contact_name, resident_id_hash, resident_id_enc,
                   resident_id_masked, phone_hash, phone_enc, phone_masked FROM entity""")).all()
    prefix = {"enterprise": "91", "cooperative": "93", "family_farm": "92",
              "large_grower": "92", "buyer": "92"}
    seen: set[str] = set()
    for r in rows:
        if r.kind == "smallholder":
            assert r.uscc is None
            rid = cipher.decrypt("resident_id", r.resident_id_enc)
            assert normalize_resident_id(rid) == rid and rid[:6] == "350524"
            assert date(1950, 1, 1) <= date(int(rid[6:10]), int(rid[10:12]), int(rid[12:14])) \
                <= date(2000, 12, 31)
            assert bytes(r.resident_id_hash) == cipher.lookup_hash("resident_id", rid)
            assert r.resident_id_masked == mask_resident_id(rid)
            seen.add(rid)
        else:
            assert normalize_uscc(r.uscc) == r.uscc
            assert r.uscc[:2] == prefix[r.kind] and r.uscc[2:8] == "350524"
            assert r.resident_id_hash is None
        if r.is_producer:
            assert r.contact_name
        phone = cipher.decrypt("phone", r.phone_enc)
        assert normalize_phone(phone) == phone
        assert bytes(r.phone_hash) == cipher.lookup_hash("phone", phone)
        assert r.phone_masked == mask_phone(phone)
    assert len(seen) == sum(r.kind == "smallholder" for r in rows)


def test_no_plain_numbers_in_any_text_column(county: Engine, cipher: PiiCipher) -> None:
    with county.connect() as conn:
        values: list[str] = []
        for table in ("entity", "plot", "grid_staff"):
            columns = conn.execute(text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                "AND data_type IN ('text', 'character', 'character varying') "
                "AND column_name <> 'township_code'"),  # 12-digit division codes
                {"t": table}).scalars().all()
            for c in columns:
                values += [v for v in conn.execute(text(f"SELECT {c} FROM {table}")).scalars()
                           if v]
        plain = [cipher.decrypt("resident_id", b) for b in conn.execute(text(
            "SELECT resident_id_enc FROM entity WHERE resident_id_enc IS NOT NULL")).scalars()]
        plain += [cipher.decrypt("phone", b) for b in conn.execute(text(
            "SELECT phone_enc FROM entity WHERE phone_enc IS NOT NULL")).scalars()]
    blob = "\n".join(values)
    assert not re.search(r"\d{11,}", blob)  # no phone- or ID-length digit run anywhere
    assert not any(s in blob for s in plain)
    assert any("家庭农场" in v for v in values) and any("专业合作社" in v for v in values)


def fingerprint(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(text(FINGERPRINT)).scalar_one()


def test_reruns_replace_reproducibly_and_keep_registry_rows(engine: Engine,
                                                            cipher: PiiCipher) -> None:
    with engine.begin() as conn:
        real = conn.execute(text("""
            INSERT INTO entity (kind, name, township_code, location)
            SELECT 'enterprise', '安溪县真实登记茶业有限公司', code, ST_PointOnSurface(boundary)
            FROM township WHERE account = 'cnx05' RETURNING id, township_code""")).one()
    demo.generate(engine, seed=11, cipher=cipher)
    first, first_counts = fingerprint(engine), producers(engine)
    demo.generate(engine, seed=12, cipher=cipher)
    second = fingerprint(engine)
    demo.generate(engine, seed=11, cipher=cipher)
    assert fingerprint(engine) == first != second
    assert producers(engine) == first_counts  # no duplicates, still the plan
    assert all(target == n for target, n in first_counts.values())
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT origin, grid_id IS NOT NULL FROM entity WHERE id = :i"),
                            {"i": real.id}).one()
        demo_in_township = conn.execute(text(
            "SELECT count(*) FROM entity WHERE is_producer AND origin = 'demo' "
            "AND township_code = :t"), {"t": real.township_code}).scalar_one()
    assert tuple(kept) == ("registry", True)
    # The demo fills the township up to the plan, around the registered producer.
    assert demo_in_township == first_counts[real.township_code][0] - 1


def test_a_row_the_triggers_would_refuse_fails_the_whole_run(
        engine: Engine, cipher: PiiCipher, monkeypatch: pytest.MonkeyPatch) -> None:
    place = demo._locations

    def one_astray(*args, **kwargs):  # type: ignore[no-untyped-def]
        x, y = place(*args, **kwargs)
        x[0] += 1.0  # ~100 km east: outside its township
        return x, y

    monkeypatch.setattr(demo, "_locations", one_astray)
    with pytest.raises(RuntimeError, match="校验失败"):
        demo.generate(engine, seed=3, cipher=cipher)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM entity")).scalar_one() == 0
        assert set(conn.execute(text(
            "SELECT tgenabled FROM pg_trigger WHERE NOT tgisinternal "
            "AND tgrelid = 'entity'::regclass")).scalars()) == {"O"}


CATALOG = """
SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index
WHERE indrelid IN ('entity'::regclass, 'plot'::regclass)
UNION ALL
SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid IN ('entity'::regclass, 'plot'::regclass)
ORDER BY 1
"""


def test_province_scale(engine: Engine, cipher: PiiCipher) -> None:
    with engine.connect() as conn:
        catalog = conn.execute(text(CATALOG)).scalars().all()
    report = demo.generate(engine, seed=5, scale="province", cipher=cipher,
                           province_entities=5_000, province_townships=60)
    assert report["示范省乡镇"] == 60
    first = fingerprint(engine)
    # Again on the same connection, after the province's rows moved on disk: same content.
    demo.generate(engine, seed=5, scale="province", cipher=cipher, province_entities=5_000,
                  province_townships=60)
    assert fingerprint(engine) == first
    with engine.connect() as conn:
        assert conn.execute(text(CATALOG)).scalars().all() == catalog  # rebuilt as defined
        towns = conn.execute(text("""
            SELECT count(*) AS n, bool_and(boundary_source = 'demo') AS demo,
                   bool_and(name LIKE '示范县%·%') AS named,
                   bool_and(ST_Intersects(boundary, centre)) AS centred,
                   min(g.n) AS min_grids, max(g.n) AS max_grids
            FROM township t
            JOIN (SELECT township_code, count(*) AS n FROM grid GROUP BY 1) g
                ON g.township_code = t.code
            WHERE t.code LIKE '99%'""")).one()
        overlap = conn.execute(text("""
            SELECT coalesce(sum(ST_Area(ST_Intersection(a.boundary, b.boundary)::geography)), 0)
            FROM township a JOIN township b ON a.code LIKE '99%' AND b.code LIKE '35%'
                AND ST_Intersects(a.boundary, b.boundary)""")).scalar_one()
        entities = conn.execute(text("""
            SELECT count(*) AS n, count(DISTINCT township_code) AS towns,
                   count(*) FILTER (WHERE grid_id IS NULL) AS no_grid
            FROM entity WHERE township_code LIKE '99%'""")).one()
        plots = conn.execute(text("""
            SELECT count(*) AS n,
                   count(*) FILTER (WHERE NOT ST_CoveredBy(p.geom, t.boundary)
                                    OR p.grid_id IS NULL) AS bad
            FROM plot p JOIN township t ON t.code = p.township_code
            WHERE p.township_code LIKE '99%'""")).one()
        staff = conn.execute(text("""
            SELECT count(*) FILTER (WHERE s.supervisors <> 1 OR s.assistants NOT BETWEEN 1 AND 3)
            FROM grid g LEFT JOIN (
                SELECT grid_id, count(*) FILTER (WHERE role = 'supervisor') AS supervisors,
                       count(*) FILTER (WHERE role = 'assistant') AS assistants
                FROM grid_staff GROUP BY 1) s ON s.grid_id = g.id""")).scalar_one()
    assert towns.n == 60 and towns.demo and towns.named and towns.centred
    assert towns.min_grids >= 3 and towns.max_grids <= 8
    assert overlap < 1.0  # m2: around Anxi, not over it
    assert entities.n == 5_000 and entities.towns > 40 and entities.no_grid == 0
    assert 5_000 <= plots.n <= 15_000 and plots.bad == 0
    assert staff == 0  # every grid, Anxi's and the province's: 1 supervisor, 1-3 assistants
    assert all(target == n for target, n in producers(engine).values())  # Anxi as before

    # Back to county scale: the fictitious province goes with the rest of the demo.
    demo.generate(engine, seed=5, cipher=cipher)
    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM township WHERE code LIKE '99%'")).scalar_one() == 0


def test_demo_data_command_runs_twice(db_url: str) -> None:
    """`make demo` on a machine that ran it before: the second run replaces the first,
    test results and their credit events included."""
    from click.testing import CliRunner

    from cli import main

    env = {"GEOREG_DATABASE_URL": db_url, "GEOREG_PII_KEY": generate_key_text()}
    counts = []
    for _ in range(2):
        result = CliRunner().invoke(main, ["demo-data", "--seed", "5"], env=env)
        assert result.exit_code == 0, result.output
        engine = make_engine(db_url, pool_size=1)
        with engine.connect() as conn:
            counts.append(conn.execute(text(
                "SELECT (SELECT count(*) FROM rapid_test), (SELECT count(*) FROM lab_sample),"
                " (SELECT count(*) FROM credit_event), (SELECT count(*) FROM entity)")).one())
        engine.dispose()
    assert counts[0] == counts[1] and min(counts[0]) > 0
