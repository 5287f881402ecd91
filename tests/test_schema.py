"""Schema, migrations and the Anxi reference data, against the real database."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import Engine, text

from georeg.config import DATA_DIR
from georeg.database import MigrationChanged, migrate, migrations


def test_migrations_are_recorded_once(engine: Engine) -> None:
    assert migrate(engine) == []  # the template already has them all
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version FROM schema_migration ORDER BY 1")).scalars()
        assert list(versions) == [m.version for m in migrations()]


def test_a_changed_migration_is_refused(engine: Engine, tmp_path) -> None:
    for m in migrations():
        (tmp_path / m.path.name).write_text(m.sql + ("\n-- edited" if m.version == "002" else ""))
    with pytest.raises(MigrationChanged):
        migrate(engine, tmp_path)


def test_townships_and_accounts_match_the_notice(engine: Engine) -> None:
    with (DATA_DIR / "anxi-2023" / "townships.csv").open(encoding="utf-8") as f:
        expected = {r["account"]: r["township"] for r in csv.DictReader(f)}
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT t.account, t.name, a.role FROM township t "
            "JOIN account a ON a.username = t.account")).all()
    assert {r.account: r.name for r in rows} == expected
    assert {r.role for r in rows} == {"township_supervisor"}


def test_plan_totals_are_the_documents(engine: Engine) -> None:
    with engine.connect() as conn:
        totals = dict(conn.execute(text(
            "SELECT metric, sum(target) FROM plan_target WHERE year = 2023 GROUP BY metric")).all())
        county = dict(conn.execute(text(
            "SELECT metric, target FROM plan_target WHERE year = 2023 AND unit = 'county'")).all())
    assert totals["producers"] == 665
    assert totals["monthly_patrols"] == 13_300
    assert totals["annual_trace_codes"] == 20_615
    assert totals["annual_smallholder_certificates"] == 125
    assert totals["rapid_tests_total"] == 12_200
    assert totals["rapid_tests_colloidal_gold"] == 5_800
    assert totals["rapid_tests_enzyme_inhibition"] == 5_690
    assert totals["rapid_tests_veterinary"] == 710
    assert county["rapid_tests_total"] == 1_100


def test_demo_boundaries_tile_the_county(engine: Engine) -> None:
    with engine.connect() as conn:
        r = conn.execute(text("""
            SELECT count(*) AS n,
                   bool_and(ST_IsValid(boundary)) AS valid,
                   bool_and(ST_Intersects(boundary, centre)) AS centre_inside,
                   bool_and(boundary_source = 'demo') AS demo,
                   sum(ST_Area(boundary::geography)) / 1e6 AS km2,
                   ST_Y(ST_Centroid(ST_Union(boundary))) AS lat,
                   ST_X(ST_Centroid(ST_Union(boundary))) AS lon
            FROM township""")).one()
        overlaps = conn.execute(text("""
            SELECT count(*) FROM township a JOIN township b ON a.code < b.code
            WHERE ST_Area(ST_Intersection(a.boundary, b.boundary)::geography) > 1""")).scalar()
    assert r.n == 24 and r.valid and r.centre_inside and r.demo
    assert overlaps == 0
    assert 2_900 < r.km2 < 3_200  # Anxi: about 3,057 km2
    assert 117.6 < r.lon < 118.4 and 24.8 < r.lat < 25.5


def test_grids_cover_each_township_without_overlap(engine: Engine) -> None:
    with engine.connect() as conn:
        per_township = conn.execute(text("""
            SELECT t.code, count(g.id) AS grids,
                   ST_Area(ST_SymDifference(t.boundary, ST_Union(g.boundary, 1e-9), 1e-9)
                           ::geography) AS gap,
                   bool_and(g.code LIKE t.code || '___') AS coded
            FROM township t JOIN grid g ON g.township_code = t.code
            GROUP BY t.code, t.boundary""")).all()
        overlaps = conn.execute(text("""
            SELECT count(*) FROM grid a JOIN grid b ON a.id < b.id
            WHERE ST_Area(ST_Intersection(a.boundary, b.boundary)::geography) > 1""")).scalar()
    assert len(per_township) == 24
    assert all(3 <= r.grids <= 8 and r.coded for r in per_township)
    assert all(r.gap < 1 for r in per_township)  # m2
    assert overlaps == 0


def test_grid_versions_of_one_code_cannot_overlap(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO grid (code, township_code, name, boundary, valid_from)
            SELECT code, township_code, name, boundary, DATE '2024-01-01' FROM grid LIMIT 1"""))


def test_demo_grids_are_reproducible_from_the_seed(engine: Engine) -> None:
    from importers.demo.grids import generate_grids

    township = "350524113000"
    fingerprint = text("SELECT md5(string_agg(code || ST_AsText(boundary), ',' ORDER BY code)) "
                       "FROM grid WHERE township_code = :t")
    with engine.begin() as conn:
        original = conn.execute(fingerprint, {"t": township}).scalar()
        results = {}
        for seed in (1, 2):
            conn.execute(text("DELETE FROM grid WHERE township_code = :t"), {"t": township})
            assert generate_grids(conn, codes=[township], seed=seed, valid_from="2023-01-01") > 0
            results[seed] = conn.execute(fingerprint, {"t": township}).scalar()
        assert generate_grids(conn, codes=[township], seed=1, valid_from="2023-01-01") == 0
    assert results[1] == original  # the template was loaded with seed 1
    assert results[2] != original
