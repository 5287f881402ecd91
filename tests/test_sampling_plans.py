"""Sampling plans (issue 6, items 1 and 3): request, frame, storage, exports, status, scope."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import numpy as np
import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from api.app import create_app
from georeg import credit
from georeg.accounts import Role, ensure_account
from georeg.clock import fixed_clock
from georeg.config import Settings
from georeg.coords import wgs84_to_gcj02
from georeg.database import transaction
from georeg.sampling import plans
from georeg.sampling.area import gauss_kruger_srid
from georeg.sampling.candidates import fetch_frame
from tests.conftest import TEST_PASSWORD
from tests.helpers import login

CANNEI = "350524113000"  # 参内镇, account cnx05
FENGCHENG = "350524100000"  # 凤城镇
TODAY = date(2025, 6, 30)
NOW = datetime(2025, 6, 30, 10)
# Smallholders are 2 in 5 of the test registry's growers.
KINDS = ["smallholder", "enterprise", "cooperative", "smallholder", "family_farm"]
PLANS = "/api/v1/sampling/plans"


# --- the registry --------------------------------------------------------------------------

def add_growers(conn: Connection, township: str, n: int, *, seed: int, kinds: list[str],
                commodity: str = "cowpea", prefix: str = "测试") -> list[int]:
    """n entities at reproducible random points of the township, each with one point plot of
    `commodity` at its location (area 1-5 mu)."""
    ids = conn.execute(text("""
        WITH pts AS (
            SELECT (ST_Dump(ST_GeneratePoints(boundary, :n, :seed))).geom AS g
            FROM township WHERE code = :t),
        numbered AS (SELECT row_number() OVER (ORDER BY ST_X(g), ST_Y(g)) AS i, g FROM pts)
        INSERT INTO entity (kind, name, township_code, location)
        SELECT (CAST(:kinds AS text[]))[1 + (i - 1) % cardinality(CAST(:kinds AS text[]))],
               :prefix || :t || '-' || i, :t, g
        FROM numbered ORDER BY i
        RETURNING id"""), {"n": n, "seed": seed, "t": township, "kinds": kinds,
                           "prefix": prefix}).scalars().all()
    conn.execute(text("""
        INSERT INTO plot (entity_id, commodity, geom, area_mu)
        SELECT id, :c, location, 1 + id % 5 FROM entity WHERE id = ANY(:ids)"""),
        {"c": commodity, "ids": list(ids)})
    return list(ids)


def point_of(conn: Connection, township: str, seed: int) -> tuple[float, float]:
    return tuple(conn.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(boundary, 1, :s)))"
        ".geom AS p FROM township WHERE code = :c) x"), {"c": township, "s": seed}).one())


@pytest.fixture
def registry(engine: Engine) -> dict[str, Any]:
    """60 cowpea growers in 参内镇, 40 in 凤城镇, a buyer, and tea growers in 参内镇."""
    with engine.begin() as conn:
        cannei = add_growers(conn, CANNEI, 60, seed=1, kinds=KINDS)
        fengcheng = add_growers(conn, FENGCHENG, 40, seed=2, kinds=KINDS)
        buyer = add_growers(conn, CANNEI, 1, seed=3, kinds=["buyer"], prefix="收购商")
        tea = add_growers(conn, CANNEI, 10, seed=4, kinds=KINDS, commodity="tea", prefix="茶")
    return {"cannei": cannei, "fengcheng": fengcheng, "buyer": buyer[0], "tea": tea}


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with engine.begin() as conn:
        ensure_account(conn, username="county01", display_name="县农安中心",
                       role=Role.county_supervisor, password=TEST_PASSWORD)
        ensure_account(conn, username="clerk01", display_name="信用管理员",
                       role=Role.credit_clerk, password=TEST_PASSWORD)
        ensure_account(conn, username="col05", display_name="参内采集员",
                       role=Role.collector, password=TEST_PASSWORD, township_code=CANNEI)
    with TestClient(create_app(settings, clock=fixed_clock(NOW))) as c:
        yield c


@pytest.fixture
def county(client: TestClient) -> dict[str, str]:
    return login(client, "county01")


def request(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "豇豆快检", "area": {"townships": [CANNEI, FENGCHENG]},
                            "commodities": ["cowpea"], "n": 20, "test_kind": "rapid_colloidal_gold",
                            "seed": 20240101}
    return body | over


def post(client: TestClient, auth: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post(PLANS, headers=auth, json=body)


def created(client: TestClient, auth: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    r = post(client, auth, body)
    assert r.status_code == 201, r.text
    return r.json()


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def assert_problem(r: Any, status: int, field: str, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert any(e["field"] == field and (code is None or e["code"] == code)
               for e in body["errors"]), body
    return body


def base_ids(plan: dict[str, Any]) -> list[int]:
    return [t["entity_id"] for t in plan["targets"] if t["role"] == "base"]


# --- a plan ---------------------------------------------------------------------------------

def test_a_plan_is_drawn_stored_and_shown(client: TestClient, county: dict, engine: Engine,
                                          registry: dict) -> None:
    plan = created(client, county, request(replacements=5, stratify_by="township"))
    assert plan["frame_size"] == 100  # the buyer and the tea growers are not in it
    assert plan["method"] == "grts" and plan["seed"] == 20240101
    targets = plan["targets"]
    assert [t["no"] for t in targets] == list(range(1, 26))
    assert [t["role"] for t in targets] == ["base"] * 20 + ["replacement"] * 5
    assert len({(t["entity_id"], t["commodity"]) for t in targets}) == 25
    assert registry["buyer"] not in {t["entity_id"] for t in targets}
    strata = {s["key"]: s for s in plan["strata"]}
    assert strata[CANNEI]["frame"] == 60 and strata[FENGCHENG]["frame"] == 40
    assert strata[CANNEI]["allocated"] == 12 and strata[FENGCHENG]["allocated"] == 8
    assert strata[CANNEI]["label"] == "参内镇"
    for s in plan["strata"]:  # inclusion probabilities sum to n per stratum
        assert s["probability_sum"] == pytest.approx(s["allocated"], abs=1e-6)
        got = sum(1 for t in targets if t["role"] == "base" and t["township_code"] == s["key"])
        assert got == s["allocated"]
    t = targets[0]
    assert t["entity_name"] and t["township_name"] and t["grid_id"] and t["grid_name"]
    assert 0 < t["inclusion_probability"] <= 1 and t["status"] == "pending"
    assert plan["balance"]["pielou"] is not None and plan["balance"]["srs_mean"] > 0
    assert plan["links"]["csv"] == f"{PLANS}/{plan['id']}/targets?format=csv"
    assert plan["links"]["map"] == f"/maps/plans/{plan['id']}"
    again = client.get(f"{PLANS}/{plan['id']}", headers=county).json()
    assert again["targets"] == targets and again["strata"] == plan["strata"]
    listing = client.get(PLANS, headers=county).json()
    assert listing["total"] == 1
    assert listing["plans"][0]["progress"] == {"pending": 25, "sampled": 0, "replaced": 0}
    with engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT request, parameters, ST_GeometryType(area) AS kind, created_by IS NOT NULL "
            "AS by FROM sampling_plan")).one()
    assert stored.request["n"] == 20 and "method" not in stored.request  # as submitted
    assert stored.parameters["method"] == "grts" and stored.parameters["srid"] == 4548
    assert stored.kind == "ST_MultiPolygon" and stored.by


def test_same_seed_same_plan_other_seed_another(client: TestClient, county: dict,
                                                registry: dict) -> None:
    first = created(client, county, request())
    second = created(client, county, request())
    assert base_ids(first) == base_ids(second)
    assert [t["inclusion_probability"] for t in first["targets"]] == \
        [t["inclusion_probability"] for t in second["targets"]]
    other = created(client, county, request(seed=7))
    assert base_ids(other) != base_ids(first)
    body = request()
    del body["seed"]
    drawn = created(client, county, body)
    assert isinstance(drawn["seed"], int)
    assert base_ids(created(client, county, request(seed=drawn["seed"]))) == base_ids(drawn)


@pytest.mark.parametrize("method", ["grts", "lpm", "srs"])
def test_every_method_gives_n_distinct_targets(client: TestClient, county: dict,
                                               registry: dict, method: str) -> None:
    plan = created(client, county, request(method=method, replacements=3))
    assert len(set(base_ids(plan))) == 20
    assert plan["method"] == method


def test_allocations_equal_and_given(client: TestClient, county: dict, registry: dict) -> None:
    equal = created(client, county, request(stratify_by="township", allocation="equal"))
    assert {s["key"]: s["allocated"] for s in equal["strata"]} == {CANNEI: 10, FENGCHENG: 10}
    given = created(client, county, request(stratify_by="township",
                                            allocation={CANNEI: 5, FENGCHENG: 15}))
    assert {s["key"]: s["allocated"] for s in given["strata"]} == {CANNEI: 5, FENGCHENG: 15}
    towns = [t["township_code"] for t in given["targets"] if t["role"] == "base"]
    assert towns.count(CANNEI) == 5 and towns.count(FENGCHENG) == 15
    for s in given["strata"]:
        assert s["probability_sum"] == pytest.approx(s["allocated"], abs=1e-6)
    grid = created(client, county, request(stratify_by="grid"))
    assert sum(s["allocated"] for s in grid["strata"]) == 20
    assert all(s["label"] for s in grid["strata"])


def test_several_commodities_stratified_by_commodity(client: TestClient, county: dict,
                                                     registry: dict) -> None:
    plan = created(client, county, request(area={"townships": [CANNEI]},
                                           commodities=["tea", "cowpea"], n=14,
                                           stratify_by="commodity", allocation="equal"))
    assert plan["commodities"] == ["tea", "cowpea"] and plan["frame_size"] == 70
    strata = {s["key"]: s for s in plan["strata"]}
    assert {k: (s["label"], s["frame"], s["allocated"]) for k, s in strata.items()} == {
        "cowpea": ("豇豆", 60, 7), "tea": ("茶叶", 10, 7)}
    base = [t for t in plan["targets"] if t["role"] == "base"]
    assert sorted(t["commodity"] for t in base) == ["cowpea"] * 7 + ["tea"] * 7
    assert {t["commodity_name"] for t in base} == {"豇豆", "茶叶"}


# --- the frame -------------------------------------------------------------------------------

def test_an_entity_with_many_plots_counts_once_at_its_largest(
        client: TestClient, county: dict, engine: Engine, registry: dict) -> None:
    owner = registry["cannei"][0]
    with engine.begin() as conn:
        # seven more cowpea plots, one of them the largest (40 mu), one tied with it
        conn.execute(text("""
            INSERT INTO plot (entity_id, commodity, geom, area_mu)
            SELECT :e, 'cowpea', (ST_Dump(ST_GeneratePoints(t.boundary, 7, 9))).geom, 10
            FROM township t WHERE t.code = :t"""), {"e": owner, "t": CANNEI})
        main, tied = conn.execute(text(
            "UPDATE plot SET area_mu = 40 WHERE id IN (SELECT id FROM plot WHERE entity_id = :e "
            "ORDER BY id DESC LIMIT 2) RETURNING id"), {"e": owner}).scalars().all()
    main = min(main, tied)  # a tie goes to the lowest plot id
    plan = created(client, county, request(n=100))  # the whole frame
    assert plan["frame_size"] == 100
    mine = [t for t in plan["targets"] if t["entity_id"] == owner]
    assert len(mine) == 1 and mine[0]["plot_id"] == main


def test_the_main_plot_decides_whether_an_entity_is_in_the_area(
        engine: Engine, registry: dict) -> None:
    """An entity of 参内镇 whose big plot lies there but a small one in a drawn square elsewhere
    is not in that square's frame."""
    owner = registry["cannei"][1]
    with engine.begin() as conn:
        lon, lat = conn.execute(text(
            "SELECT ST_X(location), ST_Y(location) FROM entity WHERE id = :e"),
            {"e": owner}).one()
        conn.execute(text("UPDATE plot SET area_mu = 50 WHERE entity_id = :e"), {"e": owner})
        conn.execute(text(
            "INSERT INTO plot (entity_id, commodity, geom, area_mu) "
            "SELECT :e, 'cowpea', ST_PointOnSurface(boundary), 1 FROM township WHERE code = :t"),
            {"e": owner, "t": CANNEI})
        centre = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) AS p "
            "FROM township WHERE code = :t) x"), {"t": CANNEI}).one()
    square = {"type": "Polygon", "coordinates": [[
        [centre[0] - 1e-4, centre[1] - 1e-4], [centre[0] + 1e-4, centre[1] - 1e-4],
        [centre[0] + 1e-4, centre[1] + 1e-4], [centre[0] - 1e-4, centre[1] + 1e-4],
        [centre[0] - 1e-4, centre[1] - 1e-4]]]}
    home = {"type": "Polygon", "coordinates": [[
        [lon - 1e-4, lat - 1e-4], [lon + 1e-4, lat - 1e-4], [lon + 1e-4, lat + 1e-4],
        [lon - 1e-4, lat + 1e-4], [lon - 1e-4, lat - 1e-4]]]}
    with transaction(engine, TODAY) as conn:
        for polygon, expected in ((square, False), (home, True)):
            area = plans.build_area(conn, polygons=[polygon], grids=[], townships=[],
                                    circles=[], crs="wgs84")
            frame = fetch_frame(conn, area_ewkb=area.ewkb, commodities=["cowpea"], srid=4548,
                                today=TODAY, exclude_days=0, with_credit=False)
            assert (owner in frame.entity_id.tolist()) is expected


def test_frame_is_numbers_in_metres_ordered_by_entity(engine: Engine, registry: dict) -> None:
    with transaction(engine, TODAY) as conn:
        area = plans.build_area(conn, polygons=[], grids=[], townships=[CANNEI], circles=[],
                                crs="wgs84")
        frame = fetch_frame(conn, area_ewkb=area.ewkb, commodities=["cowpea", "tea"],
                            srid=gauss_kruger_srid(area.centre_lon), today=TODAY,
                            exclude_days=0, with_credit=True)
    assert len(frame) == 70
    assert list(frame.entity_id) == sorted(frame.entity_id)
    assert frame.x.dtype == float and 300_000 < frame.x.min() < frame.x.max() < 700_000
    assert 2_700_000 < frame.y.min() < 2_850_000  # ~25 N in metres from the equator
    assert set(frame.commodity.tolist()) == {0, 1}
    assert set(frame.township.tolist()) == {int(CANNEI)}
    assert frame.smallholder.sum() == 24 + 4
    assert set(frame.grade.tolist()) == {"A"} and not frame.recently_sampled.any()


def test_circles_and_gcj02_areas_are_converted(client: TestClient, county: dict,
                                               engine: Engine, registry: dict) -> None:
    with engine.connect() as conn:
        lon, lat = point_of(conn, CANNEI, 5)
    wgs = created(client, county, request(area={"circles": [
        {"lon": lon, "lat": lat, "radius_m": 3000}]}, n=3))
    glon, glat = wgs84_to_gcj02(lon, lat)
    gcj = created(client, county, request(area={"circles": [
        {"lon": glon, "lat": glat, "radius_m": 3000}]}, n=3, crs="gcj02"))
    assert gcj["frame_size"] == wgs["frame_size"] > 3
    assert base_ids(gcj) == base_ids(wgs)
    # the same circle taken as WGS 84 is several hundred metres off: another area
    assert gcj["area_km2"] == pytest.approx(wgs["area_km2"], rel=1e-3)
    assert gcj["area_km2"] == pytest.approx(3.14159 * 9, rel=0.01)


# --- smallholders, exclusion, risk ------------------------------------------------------------

def test_the_smallholder_share_is_met_when_the_frame_allows(
        client: TestClient, county: dict, engine: Engine) -> None:
    with engine.begin() as conn:  # 1 smallholder in 10 growers
        add_growers(conn, CANNEI, 100, seed=11,
                    kinds=["smallholder"] + ["enterprise", "cooperative"] * 4 + ["family_farm"])
    plan = created(client, county, request(area={"townships": [CANNEI]}, n=20))
    sh = plan["smallholder"]
    assert sh == {"share": 0.25, "required": 5, "selected": sh["selected"], "met": True,
                  "message": None}
    kinds = [t["kind"] for t in plan["targets"] if t["role"] == "base"]
    assert kinds.count("smallholder") == sh["selected"] >= 5
    # without the rule, proportional: about 2 of 20
    free = created(client, county, request(area={"townships": [CANNEI]}, n=20,
                                           smallholder_share=0))
    assert free["smallholder"]["selected"] < 5


def test_an_unmet_share_is_reported_or_refused_when_strict(
        client: TestClient, county: dict, engine: Engine) -> None:
    with engine.begin() as conn:
        add_growers(conn, CANNEI, 2, seed=12, kinds=["smallholder"])
        add_growers(conn, CANNEI, 40, seed=13, kinds=["enterprise"])
    plan = created(client, county, request(area={"townships": [CANNEI]}, n=20))
    sh = plan["smallholder"]
    assert sh["required"] == 5 and sh["selected"] == 2 and sh["met"] is False
    assert "农户" in sh["message"] and "2" in sh["message"]
    before = count(engine, "sampling_plan"), count(engine, "sampling_plan_target")
    r = post(client, county, request(area={"townships": [CANNEI]}, n=20,
                                     smallholder_strict=True))
    assert_problem(r, 422, "smallholder_share", "share_unmet")
    assert (count(engine, "sampling_plan"), count(engine, "sampling_plan_target")) == before


def test_strata_without_smallholders_are_made_up_by_others(
        client: TestClient, county: dict, engine: Engine) -> None:
    with engine.begin() as conn:
        add_growers(conn, CANNEI, 30, seed=14, kinds=["enterprise"])
        add_growers(conn, FENGCHENG, 30, seed=15, kinds=["smallholder", "enterprise"])
    plan = created(client, county, request(n=20, stratify_by="township"))
    sh = plan["smallholder"]
    assert sh["met"] and sh["selected"] >= sh["required"] == 5
    strata = {s["key"]: s for s in plan["strata"]}
    assert strata[CANNEI]["smallholder"]["allocated"] == 0
    assert strata[FENGCHENG]["smallholder"]["allocated"] >= 5


def test_smallholder_allocation_rules() -> None:
    sh = plans.smallholder_allocation([10, 10], [0, 8], [20, 12], 0.25)
    assert sh.required == 5 and sh.per_stratum == [0, 5] and sh.met
    sh = plans.smallholder_allocation([10], [1], [30], 0.25)
    assert not sh.met and sh.per_stratum == [1] and "只有 1 户" in (sh.message or "")
    sh = plans.smallholder_allocation([10], [30], [10], 0.25)  # proportional is above the floor
    assert sh.per_stratum == [8]
    sh = plans.smallholder_allocation([10], [30], [2], 0.25)  # too few others: the rest
    assert sh.per_stratum == [9]


def test_entities_sampled_lately_are_excluded(settings: Settings, client: TestClient,
                                              county: dict, engine: Engine,
                                              registry: dict) -> None:
    first = created(client, county, request(n=10))
    sampled = base_ids(first)[:3]
    for t in first["targets"][:3]:
        r = client.patch(f"{PLANS}/{first['id']}/targets/{t['no']}", headers=county,
                         json={"status": "sampled"})
        assert r.status_code == 200, r.text
    tested = next(e for e in registry["cannei"] if e not in sampled)
    with engine.begin() as conn:  # a rapid test recorded without a plan
        admin_id = conn.execute(text("SELECT id FROM account WHERE username = 'admin'")).scalar()
        conn.execute(text("SET LOCAL georeg.today = '2025-06-30'"))
        conn.execute(text(
            "INSERT INTO rapid_test (entity_id, commodity, sampled_on, unit, method, result, "
            "sample_no, recorded_by) VALUES (:e, 'cowpea', '2025-06-10', 'county', "
            "'colloidal_gold', 'pass', 'S-1', :a)"), {"e": tested, "a": admin_id})
    lately = [*sampled, tested]
    plan = created(client, county, request(n=96, exclude_sampled_days=30))
    assert plan["frame_size"] == 96
    assert not set(lately) & {t["entity_id"] for t in plan["targets"]}
    r = post(client, county, request(n=97, exclude_sampled_days=30))
    body = assert_problem(r, 422, "n", "larger_than_frame")
    assert "已排除" in body["errors"][0]["message"]
    # on 31 July a 30-day window (1-31 July) holds none of them, a 60-day one all four
    later = fixed_clock(datetime(2025, 7, 31, 10))
    with TestClient(create_app(settings, clock=later)) as c:
        auth = login(c, "county01")
        assert created(c, auth, request(n=20, exclude_sampled_days=30))["frame_size"] == 100
        assert created(c, auth, request(n=20, exclude_sampled_days=60))["frame_size"] == 96


def test_standings_give_the_same_plan_as_the_events_and_stale_ones_are_not_read(
        client: TestClient, county: dict, engine: Engine, registry: dict) -> None:
    """The frame reads an entity's stored standing only when it is current for the plan's day
    (and rules); the plan is the same either way."""
    growers = registry["cannei"] + registry["fengcheng"]
    events = [("sampling", "fail"), ("penalty", "major"), ("penalty", "minor"),
              ("patrol", "problem"), ("sampling", "pass")]
    with transaction(engine, TODAY) as conn:
        admin_id = conn.execute(text("SELECT id FROM account WHERE username = 'admin'")).scalar()
        for i, entity in enumerate(growers[:40]):
            kind, outcome = events[i % len(events)]
            for j in range(1 + i % 3):  # over three years: some full, some halved, some gone
                credit.record_event(conn, entity_id=entity, kind=kind, outcome=outcome,
                                    occurred_on=date(2025 - j, 1 + i % 6, 1),
                                    summary="测试", recorded_by=admin_id)
    body = request(n=30, smallholder_share=0.25, seed=77,
                   risk={"key_supervision": 2.0, "failed_sample": 1.5,
                         "grade": {"B": 1.2, "C": 1.5, "D": 2.0}})

    def frame_now() -> Any:
        with transaction(engine, TODAY) as conn:
            area = plans.build_area(conn, polygons=[], grids=[], townships=[CANNEI, FENGCHENG],
                                    circles=[], crs="wgs84")
            return fetch_frame(conn, area_ewkb=area.ewkb, commodities=["cowpea"], srid=4548,
                               today=TODAY, exclude_days=0, with_credit=True)

    def drawn() -> list[tuple[int, str, float]]:
        plan = created(client, county, body)
        return [(t["entity_id"], t["role"], t["inclusion_probability"])
                for t in plan["targets"]]

    with engine.connect() as conn:  # record_event refreshed them as of today
        assert conn.execute(text("SELECT count(*) FROM credit_standing "
                                 "WHERE as_of = :d"), {"d": TODAY}).scalar() == 40
    with_standings, computed = drawn(), frame_now()
    assert len({g for g in computed.grade}) >= 3 and computed.failed.sum() > 0
    with engine.begin() as conn:  # yesterday's standings: stale for today, recomputed
        conn.execute(text("UPDATE credit_standing SET as_of = as_of - 1"))
    assert drawn() == with_standings
    stale = frame_now()
    for name in ("score", "grade", "failed"):
        assert getattr(stale, name).tolist() == getattr(computed, name).tolist()

    # Read or not: a (falsified) current standing is taken as is, a stale one never.
    victim = growers[0]
    at = list(computed.entity_id).index(victim)
    with engine.begin() as conn:
        conn.execute(text("UPDATE credit_standing SET as_of = :d, score = 10, failed_recent = 7 "
                          "WHERE entity_id = :e"), {"d": TODAY, "e": victim})
    forged = frame_now()
    assert (forged.score[at], forged.grade[at], forged.failed[at]) == (10.0, "D", 7)
    with engine.begin() as conn:
        conn.execute(text("UPDATE credit_standing SET as_of = :d WHERE entity_id = :e"),
                     {"d": date(2025, 6, 29), "e": victim})
    assert frame_now().score[at] == computed.score[at]
    # the daily refresh makes them current again: same plan
    with transaction(engine, TODAY) as conn:
        assert credit.refresh_standings(conn, TODAY) == 40
    assert drawn() == with_standings
    assert frame_now().grade.tolist() == computed.grade.tolist()


def test_risk_weights_and_their_reasons(client: TestClient, county: dict, engine: Engine,
                                        registry: dict) -> None:
    listed, failed = registry["cannei"][2], registry["cannei"][3]
    with engine.begin() as conn:
        conn.execute(text("UPDATE entity SET key_supervision = true WHERE id = :e"),
                     {"e": listed})
        admin_id = conn.execute(text("SELECT id FROM account WHERE username = 'admin'")).scalar()
        conn.execute(text("SET LOCAL georeg.today = '2025-06-30'"))
        # a failed sampling (-30) and a major penalty (-40): score 30, grade D
        conn.execute(text(
            "INSERT INTO credit_event (entity_id, kind, occurred_on, summary, outcome, "
            "recorded_by) VALUES (:e, 'sampling', '2025-03-01', '豇豆 克百威超标', 'fail', :a), "
            "(:e, 'penalty', '2025-04-01', '罚款', 'major', :a)"), {"e": failed, "a": admin_id})
    plan = created(client, county, request(n=100))
    by_entity = {t["entity_id"]: t for t in plan["targets"]}
    assert by_entity[listed]["weight"] == 2.0
    assert by_entity[listed]["weight_reasons"] == ["重点监管名单（×2）"]
    assert by_entity[failed]["weight"] == pytest.approx(1.5 * 2.0)
    assert by_entity[failed]["weight_reasons"] == ["近 12 个月抽检不合格 1 次（×1.5）",
                                                   "信用等级 D（×2）"]
    others = [t for t in plan["targets"] if t["entity_id"] not in (listed, failed)]
    assert all(t["weight"] == 1.0 and t["weight_reasons"] == [] for t in others)
    # the probabilities follow the weights within the (stratum, smallholder part)
    with transaction(engine, TODAY) as conn:
        area = plans.build_area(conn, polygons=[], grids=[], townships=[CANNEI, FENGCHENG],
                                circles=[], crs="wgs84")
        frame = fetch_frame(conn, area_ewkb=area.ewkb, commodities=["cowpea"], srid=4548,
                            today=TODAY, exclude_days=0, with_credit=True)
    risk = plans.Risk(2.0, 1.5, {"C": 1.5, "D": 2.0})
    w = risk.weights(frame)
    at = {int(e): i for i, e in enumerate(frame.entity_id)}
    assert w[at[listed]] == 2.0 and w[at[failed]] == 3.0 and frame.grade[at[failed]] == "D"
    assert frame.failed[at[failed]] == 1
    small = created(client, county, request(n=10, smallholder_share=0, seed=3))
    probs = {t["entity_id"]: t["inclusion_probability"] for t in small["targets"]}
    plain = [p for e, p in probs.items() if e not in (listed, failed)]
    assert plain and all(p == pytest.approx(plain[0]) for p in plain)
    if listed in probs:
        assert probs[listed] == pytest.approx(2 * plain[0])
    unweighted = created(client, county, request(n=100, risk=None))
    assert all(t["weight"] == 1.0 for t in unweighted["targets"])


# --- bad input: a 4xx naming the field, and nothing saved -----------------------------------

BOWTIE = {"type": "Polygon", "coordinates": [[[118.0, 25.1], [118.1, 25.2], [118.1, 25.1],
                                              [118.0, 25.2], [118.0, 25.1]]]}
FAR_AWAY = {"type": "Polygon", "coordinates": [[[100.0, 30.0], [100.1, 30.0], [100.1, 30.1],
                                                [100.0, 30.1], [100.0, 30.0]]]}


@pytest.mark.parametrize(("change", "field", "code", "words"), [
    ({"area": {"polygons": [BOWTIE]}}, "area.polygons[0]", "invalid_geometry", "自相交"),
    ({"area": {"townships": [CANNEI], "polygons": [
        {"type": "Polygon", "coordinates": []}]}}, "area.polygons[0]", "empty", "为空"),
    ({"area": {"polygons": [{"type": "Polygon", "coordinates": [
        [[118.0, 25.1], [118.1, 25.1], [118.2, 25.1], [118.0, 25.1]]]}]}},
     "area.polygons[0]", "empty", "面积为零"),
    ({"area": {"polygons": [{"type": "Point", "coordinates": [118.0, 25.1]}]}},
     "area.polygons[0]", "geometry_type", "Polygon"),
    ({"area": {}}, "area", "required", "范围"),
    ({"area": {"polygons": [FAR_AWAY]}}, "area", "outside_county", "乡镇"),
    ({"area": {"grids": [999999]}}, "area.grids", "unknown_grid", "999999"),
    ({"area": {"townships": ["350524999000"]}}, "area.townships", "unknown_township",
     "350524999000"),
    ({"n": 101}, "n", "larger_than_frame", "101"),
    ({"n": 98, "replacements": 5}, "replacements", "larger_than_frame", "103"),
    ({"commodities": ["celery"]}, "commodities", "not_grown", "celery"),
    ({"commodities": ["cowpea", "durian"]}, "commodities", "unknown_commodity", "durian"),
    ({"test_kind": "rapid_veterinary"}, "test_kind", "not_for_commodity", "cowpea"),
    ({"crs": "mars"}, "crs", "unknown_crs", None),
    ({"stratify_by": "township", "allocation": {CANNEI: 5}}, "allocation", "sum_mismatch",
     None),
    ({"stratify_by": "township", "allocation": {CANNEI: 61, FENGCHENG: 0}, "n": 61}, "n",
     "larger_than_stratum", None),
    ({"allocation": {CANNEI: 20}}, "allocation", "needs_strata", None),
    ({"n": 0}, "n", None, None),
    ({"method": "cluster"}, "method", None, None),
    ({"risk": {"grade": {"E": 3}}}, "risk.grade", None, None),
])
def test_bad_requests_are_refused_and_nothing_is_saved(
        client: TestClient, county: dict, engine: Engine, registry: dict,
        change: dict, field: str, code: str | None, words: str | None) -> None:
    r = post(client, county, request(**change))
    body = assert_problem(r, 422, field, code)
    if words:
        assert any(words in e["message"] for e in body["errors"]), body
    assert count(engine, "sampling_plan") == 0
    assert count(engine, "sampling_plan_target") == 0


def test_validity_reasons_name_the_place(engine: Engine) -> None:
    import shapely

    from georeg.geometry import invalid_reason  # the owner of GEOS reasons in zh-CN
    reason = invalid_reason(shapely.from_geojson(json.dumps(BOWTIE)))
    assert reason.startswith("自相交，位置约 118.05")


# --- exports ---------------------------------------------------------------------------------

def test_exports_for_field_teams(client: TestClient, county: dict, engine: Engine,
                                 registry: dict) -> None:
    plan = created(client, county, request(n=8, replacements=2))
    url = f"{PLANS}/{plan['id']}/targets"
    r = client.get(url, params={"format": "csv"}, headers=county)
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["序号", "类别", "主体名称", "主体类型", "主体编号"]
    assert "经度" in rows[0] and "加权原因" in rows[0] and len(rows) == 11
    assert rows[1][1] == "正选" and rows[-1][1] == "替补" and rows[1][rows[0].index("状态")] == \
        "待抽样"
    r = client.get(url, params={"format": "xlsx"}, headers=county)
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    cells = list(sheet.values)
    assert cells[0][0] == "序号" and len(cells) == 11 and cells[1][0] == 1
    r = client.get(url, params={"format": "geojson"}, headers=county)
    doc = r.json()
    assert r.headers["content-type"].startswith("application/geo+json")
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 10
    f = doc["features"][0]
    assert f["geometry"]["type"] == "Point" and f["properties"]["no"] == 1
    lon, lat = f["geometry"]["coordinates"]
    assert (lon, lat) == (plan["targets"][0]["lon"], plan["targets"][0]["lat"])
    shifted = client.get(url, params={"format": "geojson", "crs": "gcj02"},
                         headers=county).json()
    glon, glat = shifted["features"][0]["geometry"]["coordinates"]
    assert (glon, glat) == pytest.approx(wgs84_to_gcj02(lon, lat), abs=1e-6)
    assert abs(glon - lon) + abs(glat - lat) > 0.002  # a few hundred metres
    assert shifted["display_crs"] == "gcj02"
    as_json = client.get(url, params={"crs": "gcj02"}, headers=county).json()
    assert as_json["targets"][0]["lon"] == pytest.approx(glon, abs=1e-6)
    csv_gcj = client.get(url, params={"format": "csv", "crs": "gcj02"}, headers=county)
    assert "经度（GCJ-02）" in csv_gcj.content.decode("utf-8-sig").splitlines()[0]
    smallholders = {t["entity_id"] for t in plan["targets"] if t["kind"] == "smallholder"}
    with engine.connect() as conn:  # names of people leaving in files are recorded
        recorded = conn.execute(text(
            "SELECT count(DISTINCT entity_id) FROM pii_access WHERE purpose LIKE :p"),
            {"p": f"export sampling plan {plan['id']} (csv)"}).scalar()
    assert recorded == len(smallholders) > 0


def test_the_area_as_geojson(client: TestClient, county: dict, registry: dict) -> None:
    plan = created(client, county, request(area={"townships": [CANNEI]}, n=5))
    area = client.get(f"{PLANS}/{plan['id']}/area", headers=county).json()
    assert area["type"] == "Feature" and area["geometry"]["type"] == "MultiPolygon"
    assert area["properties"]["area_km2"] == pytest.approx(plan["area_km2"], rel=1e-6)
    gcj = client.get(f"{PLANS}/{plan['id']}/area", params={"crs": "gcj02"},
                     headers=county).json()
    a = np.array(area["geometry"]["coordinates"][0][0][0])
    b = np.array(gcj["geometry"]["coordinates"][0][0][0])
    assert np.abs(a - b).sum() > 0.002


# --- status ----------------------------------------------------------------------------------

def test_target_status_changes(client: TestClient, county: dict, engine: Engine,
                               registry: dict) -> None:
    plan = created(client, county, request(n=6, replacements=4, stratify_by="township"))
    pid = plan["id"]
    r = client.patch(f"{PLANS}/{pid}/targets/1", headers=county, json={"status": "sampled"})
    assert r.status_code == 200, r.text
    assert r.json()["target"]["status"] == "sampled" and r.json()["target"]["changed_at"]
    r = client.patch(f"{PLANS}/{pid}/targets/2", headers=county, json={"status": "replaced"})
    assert_problem(r, 422, "reason", "required")
    r = client.patch(f"{PLANS}/{pid}/targets/2", headers=county,
                     json={"status": "replaced", "reason": "主体已停产"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["target"]["status_reason"] == "主体已停产"
    nxt = next(t for t in plan["targets"] if t["no"] == out["next_replacement"])
    assert nxt["role"] == "replacement"
    assert nxt["township_code"] == plan["targets"][1]["township_code"]  # same stratum
    r = client.patch(f"{PLANS}/{pid}/targets/99", headers=county, json={"status": "sampled"})
    assert r.status_code == 404
    r = client.patch(f"{PLANS}/{pid}/targets/1", headers=county, json={"status": "lost"})
    assert_problem(r, 422, "status")
    progress = client.get(f"{PLANS}/{pid}", headers=county).json()["progress"]
    assert progress == {"pending": 8, "sampled": 1, "replaced": 1}
    with engine.connect() as conn:
        by = conn.execute(text("SELECT changed_by FROM sampling_plan_target "
                               "WHERE plan_id = :p AND no = 2"), {"p": pid}).scalar()
    assert by is not None


def test_a_test_recorded_for_a_target_marks_it_sampled(client: TestClient, county: dict,
                                                       engine: Engine, registry: dict) -> None:
    plan = created(client, county, request(n=4))
    target = plan["targets"][1]
    with engine.begin() as conn:
        admin_id = conn.execute(text("SELECT id FROM account WHERE username = 'admin'")).scalar()
        conn.execute(text("SET LOCAL georeg.today = '2025-06-30'"))
        conn.execute(text(
            "INSERT INTO rapid_test (entity_id, commodity, sampled_on, unit, method, result, "
            "sample_no, recorded_by, plan_id, target_no) VALUES (:e, 'cowpea', '2025-06-29', "
            "'county', 'colloidal_gold', 'pass', 'S-9', :a, :p, :no)"),
            {"e": target["entity_id"], "a": admin_id, "p": plan["id"], "no": target["no"]})
    shown = client.get(f"{PLANS}/{plan['id']}", headers=county).json()
    assert shown["targets"][1]["status"] == "sampled"
    assert shown["targets"][1]["status_on"] == "2025-06-29"
    assert shown["progress"]["sampled"] == 1
    with pytest.raises(Exception, match="rapid_test_plan_target_fkey"), engine.begin() as conn:
        conn.execute(text("SET LOCAL georeg.today = '2025-06-30'"))
        conn.execute(text(
            "INSERT INTO rapid_test (entity_id, commodity, sampled_on, unit, method, result, "
            "sample_no, recorded_by, plan_id, target_no) VALUES (:e, 'cowpea', '2025-06-29', "
            "'county', 'colloidal_gold', 'pass', 'S-10', :a, :p, 99)"),
            {"e": target["entity_id"], "a": admin_id, "p": plan["id"]})


# --- who may do what -------------------------------------------------------------------------

def test_township_supervisors_plan_inside_their_township(
        client: TestClient, county: dict, engine: Engine, registry: dict) -> None:
    cnx = login(client, "cnx05")
    r = post(client, cnx, request(area={"townships": [FENGCHENG]}))
    assert_problem(r, 403, "area.townships", "out_of_scope")
    with engine.connect() as conn:
        grid = conn.execute(text("SELECT id FROM current_grid WHERE township_code = :t "
                                 "ORDER BY id LIMIT 1"), {"t": FENGCHENG}).scalar()
    r = post(client, cnx, request(area={"grids": [grid]}))
    assert_problem(r, 403, "area.grids", "out_of_scope")
    # a drawn box over both townships is clipped to 参内镇
    with engine.connect() as conn:
        box = json.loads(conn.execute(text(
            "SELECT ST_AsGeoJSON(ST_Envelope(ST_Collect(boundary))) FROM township "
            "WHERE code IN (:a, :b)"), {"a": CANNEI, "b": FENGCHENG}).scalar())
    plan = created(client, cnx, request(area={"polygons": [box]}, n=10))
    assert plan["frame_size"] == 60 and plan["township_code"] == CANNEI
    assert plan["scope"] == {"township_code": CANNEI, "clipped": True}
    assert {t["township_code"] for t in plan["targets"]} == {CANNEI}
    assert count(engine, "sampling_plan") == 1
    # the county's plan over 凤城镇 only is not theirs to see
    other = created(client, county, request(area={"townships": [FENGCHENG]}, n=5))
    assert client.get(f"{PLANS}/{other['id']}", headers=cnx).status_code == 404
    assert [p["id"] for p in client.get(PLANS, headers=cnx).json()["plans"]] == [plan["id"]]
    # a county plan over both: they see it with their township's targets only
    both = created(client, county, request(n=20))
    mine = client.get(f"{PLANS}/{both['id']}", headers=cnx).json()
    assert {t["township_code"] for t in mine["targets"]} == {CANNEI}
    foreign = next(t["no"] for t in both["targets"] if t["township_code"] == FENGCHENG)
    r = client.patch(f"{PLANS}/{both['id']}/targets/{foreign}", headers=cnx,
                     json={"status": "sampled"})
    assert r.status_code == 404
    own = next(t["no"] for t in both["targets"] if t["township_code"] == CANNEI)
    collector = login(client, "col05")  # field staff record what they sampled
    r = client.patch(f"{PLANS}/{both['id']}/targets/{own}", headers=collector,
                     json={"status": "sampled"})
    assert r.status_code == 200, r.text
    assert post(client, collector, request()).status_code == 403
    clerk = login(client, "clerk01")
    assert post(client, clerk, request()).status_code == 403
    assert client.get(f"{PLANS}/{both['id']}", headers=clerk).status_code == 200
    r = client.patch(f"{PLANS}/{both['id']}/targets/{own}", headers=clerk,
                     json={"status": "pending", "reason": "误报"})
    assert r.status_code == 403
    assert client.get(PLANS).status_code == 401


# --- the command line ------------------------------------------------------------------------

def test_the_command_line_saves_a_plan_from_a_request_file(
        settings: Settings, engine: Engine, registry: dict, tmp_path) -> None:
    from click.testing import CliRunner

    from cli import main

    env = {"GEOREG_DATABASE_URL": settings.url(), "GEOREG_PII_KEY": settings.pii_key or "",
           "GEOREG_STATE_DIR": str(tmp_path)}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(request(replacements=2), ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(main, ["sample", "--request", str(path), "--json"], env=env)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["frame_size"] == 100 and len(plan["targets"]) == 22
    assert count(engine, "sampling_plan") == 1
    text_out = CliRunner().invoke(main, ["sample", "--request", str(path)], env=env)
    assert text_out.exit_code == 0, text_out.output
    assert "抽样框 100 个单位" in text_out.output and "序号\t类别" in text_out.output
    # the same request and seed on the same data: the same targets
    again = json.loads(CliRunner().invoke(main, ["sample", "--request", str(path), "--json"],
                                          env=env).output)
    assert base_ids(again) == base_ids(plan)
    path.write_text(json.dumps(request(n=500)), encoding="utf-8")
    bad = CliRunner().invoke(main, ["sample", "--request", str(path)], env=env)
    assert bad.exit_code == 1 and "n：样本量 500 大于抽样框的单位数 100" in bad.output
    assert count(engine, "sampling_plan") == 3
    missing = CliRunner().invoke(main, ["sample"], env=env)
    assert missing.exit_code == 1 and "--request" in missing.output
