"""Township scope enforced by PostgreSQL (sql/022_row_security.sql): the API's role georeg_api.

Two townships, each with one entity and one row of every scoped table, written as the owner.
Then every role reads, writes, uploads and reports through the API, and georeg_api is asked
directly with each scope: a township sees its own rows only, county roles the county, the
credit clerk the credit records, no scope nothing. Turning a table's row security off makes the
same checks fail (test_checks_fail_without_the_policy).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from georeg.accounts import Role, ensure_account
from georeg.config import Settings
from georeg.database import make_engine, set_scope
from tests.conftest import TEST_PASSWORD
from tests.helpers import login, point_in

CANNEI = "350524113000"
FENGCHENG = "350524100000"
DAY = "2023-05-10"

# table -> how many rows each township gets in the fixture (all 1)
SCOPED = ["entity", "plot", "site_point", "site_point_place", "site_point_rejection",
          "site_point_conflict", "patrol", "certificate", "rapid_test", "lab_sample",
          "lab_analyte", "credit_event", "credit_standing", "key_supervision_listing",
          "sampling_plan", "sampling_plan_target", "grid_staff", "pii_access"]
CREDIT = {"entity", "credit_event", "credit_standing", "key_supervision_listing"}
PLANS = {"sampling_plan", "sampling_plan_target"}  # read by every county-wide account

ACCOUNTS = {  # username -> (role, township)
    "rs_collector": (Role.collector, CANNEI),
    "rs_township": (Role.township_supervisor, CANNEI),
    "rs_other_township": (Role.township_supervisor, FENGCHENG),
    "rs_county": (Role.county_supervisor, None),
    "rs_clerk": (Role.credit_clerk, None),
}


def _one(conn: Connection, sql: str, **params: Any) -> Any:
    return conn.execute(text(sql), params).scalar_one()


def _seed_township(conn: Connection, code: str, n: int, admin_id: int, account_id: int
                   ) -> dict[str, Any]:
    """One row of every scoped table for an entity of township `code`, as the owner."""
    site = point_in_conn(conn, code, 40 + n)
    eid = _one(conn, "INSERT INTO entity (kind, name, township_code, location) "
                     "VALUES ('enterprise', :name, :t, ST_GeomFromGeoJSON(:g)) RETURNING id",
               name=f"行级安全测试{n}", t=code, g=site)
    plot = _one(conn, "INSERT INTO plot (entity_id, commodity, geom) "
                      "VALUES (:e, 'cowpea', ST_GeomFromGeoJSON(:g)) RETURNING id", e=eid, g=site)
    cu = str(uuid.uuid4())
    sp = _one(conn, "INSERT INTO site_point (client_uuid, content_hash, entity_id, commodity, geom,"
                    " input_crs, input_x, input_y, collected_at) VALUES (:u, '\\x01', :e, 'cowpea',"
                    " ST_GeomFromGeoJSON(:g), 'wgs84', 0, 0, :d) RETURNING id",
              u=cu, e=eid, g=site, d=DAY)
    conn.execute(text("INSERT INTO site_point_place (site_point_id, township_code, geom) "
                      "SELECT id, :t, geom FROM site_point WHERE id = :i"), {"t": code, "i": sp})
    conn.execute(text("INSERT INTO site_point_conflict (client_uuid, content_hash, submitted) "
                      "VALUES (:u, '\\x02', '{}')"), {"u": cu})
    conn.execute(text("INSERT INTO site_point_rejection (content_hash, township_code, commodity, "
                      "reasons, collected_at) VALUES (:h, :t, 'cowpea', '{unknown_entity}', :d)"),
                 {"h": bytes([n, 3]), "t": code, "d": DAY})
    conn.execute(text("INSERT INTO patrol (entity_id, inspector, kind, patrolled_at, result) "
                      "VALUES (:e, '巡查员', 'online', :d, 'normal')"), {"e": eid, "d": DAY})
    conn.execute(text("INSERT INTO certificate (entity_id, batch_no, issued_on, quantity, "
                      "trace_code) VALUES (:e, 'B1', :d, 10, :tc)"),
                 {"e": eid, "d": DAY, "tc": f"TC{n}"})
    conn.execute(text("INSERT INTO rapid_test (entity_id, commodity, sampled_on, unit, method, "
                      "result, sample_no, recorded_by) VALUES (:e, 'cowpea', :d, :t, "
                      "'colloidal_gold', 'pass', :s, :a)"),
                 {"e": eid, "d": DAY, "t": code, "s": f"S{n}", "a": admin_id})
    lab = _one(conn, "INSERT INTO lab_sample (entity_id, commodity, sampled_on, unit, kind, lab, "
                     "report_no, result, recorded_by) VALUES (:e, 'cowpea', :d, 'county', "
                     "'routine_monitoring', '县检测站', :r, 'pass', :a) RETURNING id",
               e=eid, d=DAY, r=f"R{n}", a=admin_id)
    conn.execute(text("INSERT INTO lab_analyte (sample_id, substance, detected, judgement, basis) "
                      "VALUES (:s, '克百威', false, 'pass', 'not_detected')"), {"s": lab})
    conn.execute(text("INSERT INTO credit_event (entity_id, kind, occurred_on, summary, "
                      "recorded_by) VALUES (:e, 'licence', :d, '许可', :a)"),
                 {"e": eid, "d": DAY, "a": admin_id})  # its credit_standing row by trigger
    conn.execute(text("INSERT INTO key_supervision_listing (entity_id, source, reason_code, "
                      "detail, listed_on, listed_by) VALUES (:e, 'manual', 'manual', '测试', :d, "
                      ":a)"), {"e": eid, "d": DAY, "a": admin_id})
    plan = _one(conn, "INSERT INTO sampling_plan (request, parameters, seed, method, test_kind, "
                      "commodities, n, area, frame_size, strata, smallholder_share, "
                      "smallholder_required, smallholder_selected, smallholder_met, "
                      "township_code) SELECT '{}', '{}', 1, 'srs', 'lab', '{cowpea}', 1, "
                      "boundary, 1, '[]', 0, 0, 0, true, code FROM township WHERE code = :t "
                      "RETURNING id", t=code)
    conn.execute(text("INSERT INTO sampling_plan_target (plan_id, no, role, entity_id, commodity,"
                      " location, township_code, inclusion_probability, weight) VALUES (:p, 1, "
                      "'base', :e, 'cowpea', ST_GeomFromGeoJSON(:g), :t, 0.5, 2)"),
                 {"p": plan, "e": eid, "g": site, "t": code})
    grid = _one(conn, "SELECT min(id) FROM current_grid WHERE township_code = :t", t=code)
    conn.execute(text("INSERT INTO grid_staff (grid_id, role, person) VALUES (:g, 'assistant', "
                      ":p)"), {"g": grid, "p": f"协管员{n}"})
    conn.execute(text("INSERT INTO pii_access (account_id, entity_id, fields, purpose) "
                      "VALUES (:a, :e, '{phone}', 'test')"), {"a": account_id, "e": eid})
    return {"entity": eid, "plot": plot, "uuid": cu, "site": site, "plan": plan, "grid": grid,
            "lab": lab}


def point_in_conn(conn: Connection, code: str, seed: int) -> str:
    return _one(conn, "SELECT ST_AsGeoJSON((ST_Dump(ST_GeneratePoints(boundary, 1, :s))).geom) "
                      "FROM township WHERE code = :c", c=code, s=seed)


@pytest.fixture
def world(client: TestClient, engine: Engine) -> dict[str, Any]:
    with engine.begin() as conn:
        for username, (role, township) in ACCOUNTS.items():
            ensure_account(conn, username=username, display_name=username, role=role,
                           password=TEST_PASSWORD, township_code=township)
        ids = dict(conn.execute(text("SELECT username, id FROM account")).all())
        own = _seed_township(conn, CANNEI, 1, ids["admin"], ids["rs_township"])
        other = _seed_township(conn, FENGCHENG, 2, ids["admin"], ids["rs_other_township"])
    return {"own": own, "other": other, "ids": ids}


@pytest.fixture
def api_engine(settings: Settings) -> Iterator[Engine]:
    """Connections as the API's role, as the API makes them."""
    e = make_engine(settings.api_url(), pool_size=2)
    yield e
    e.dispose()


def _scope(conn: Connection, world: dict[str, Any], username: str | None) -> None:
    if username is None:
        return
    role, township = ACCOUNTS.get(username, (Role.admin, None))
    set_scope(conn, account_id=world["ids"][username], role=role.value, township_code=township)


def _visible(api_engine: Engine, world: dict[str, Any], username: str | None,
             table: str) -> set[str]:
    """Which townships' fixture rows of `table` the API's role sees under this scope.

    Rows are told apart by what the owner wrote (ids, uuids), never through another scoped
    table, so that a table whose policy is gone shows its rows whatever the others do."""
    town = {world[k]["entity"]: t for k, t in (("own", CANNEI), ("other", FENGCHENG))}
    by_uuid = {world[k]["uuid"]: t for k, t in (("own", CANNEI), ("other", FENGCHENG))}
    by_sample = {world[k]["lab"]: t for k, t in (("own", CANNEI), ("other", FENGCHENG))}
    with api_engine.begin() as conn:
        _scope(conn, world, username)
        if table in ("plot", "site_point", "site_point_rejection", "sampling_plan_target",
                     "site_point_place", "sampling_plan", "entity"):
            found = conn.execute(text(
                f"SELECT DISTINCT township_code FROM {table}")).scalars().all()
            return {t.strip() for t in found if t}
        if table == "grid_staff":
            return set(conn.execute(text(
                "SELECT DISTINCT g.township_code FROM grid_staff s JOIN grid g "
                "ON g.id = s.grid_id")).scalars())
        if table == "site_point_conflict":
            return {by_uuid.get(str(u), "?") for u in conn.execute(text(
                "SELECT client_uuid FROM site_point_conflict")).scalars()}
        if table == "lab_analyte":
            return {by_sample.get(i, "?") for i in conn.execute(text(
                "SELECT sample_id FROM lab_analyte")).scalars()}
        return {town.get(i, "?") for i in conn.execute(text(
            f"SELECT entity_id FROM {table}")).scalars()}


def _expected(username: str | None, table: str) -> set[str]:
    """The townships whose rows this scope must see in `table`."""
    if username is None:
        return set()
    role, township = ACCOUNTS.get(username, (Role.admin, None))
    if table == "pii_access":  # the account's own views; administrators read all
        return ({CANNEI, FENGCHENG} if role == Role.admin else
                {township} if role == Role.township_supervisor else set())
    if township:
        return {township}
    if role in (Role.county_supervisor, Role.admin) or (
            role == Role.credit_clerk and table in CREDIT | PLANS):
        return {CANNEI, FENGCHENG}
    return set()


def _check(api_engine: Engine, world: dict[str, Any], username: str | None, table: str) -> None:
    seen, want = _visible(api_engine, world, username, table), _expected(username, table)
    if table == "grid_staff" and len(want) > 1:  # county-wide: the template's staff too
        assert want <= seen, (username, table, seen)
        return
    assert seen == want, (username, table, seen)


@pytest.mark.parametrize("username", [None, "rs_collector", "rs_township", "rs_other_township",
                                      "rs_county", "rs_clerk", "admin"])
def test_the_api_role_sees_its_scope_only(api_engine: Engine, world: dict[str, Any],
                                          username: str | None) -> None:
    for table in SCOPED:
        _check(api_engine, world, username, table)


@pytest.mark.parametrize("table", ["entity", "plot", "site_point", "patrol", "credit_event",
                                   "rapid_test", "sampling_plan_target", "grid_staff",
                                   "site_point_place", "site_point_conflict"])
def test_checks_fail_without_the_policy(api_engine: Engine, engine: Engine,
                                        world: dict[str, Any], table: str) -> None:
    """Row security off on one table (as the owner): the township's check above sees more."""
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"))
    with pytest.raises(AssertionError):
        _check(api_engine, world, "rs_township", table)
    with pytest.raises(AssertionError):
        _check(api_engine, world, None, table)


def _refused(conn: Connection, sql: str, **params: Any) -> bool:
    """True if the statement is refused by a row security policy."""
    try:
        with conn.begin_nested():
            conn.execute(text(sql), params)
    except DBAPIError as e:
        assert isinstance(e.orig, psycopg.errors.InsufficientPrivilege), e
        return True
    return False


def test_the_api_role_cannot_write_another_township(api_engine: Engine,
                                                     world: dict[str, Any]) -> None:
    own, other = world["own"], world["other"]
    with api_engine.begin() as conn:
        _scope(conn, world, "rs_township")
        assert conn.execute(text("UPDATE entity SET name = '改' WHERE id = :e"),
                            {"e": other["entity"]}).rowcount == 0
        assert conn.execute(text("UPDATE entity SET name = '改名' WHERE id = :e"),
                            {"e": own["entity"]}).rowcount == 1
        assert conn.execute(text("DELETE FROM plot WHERE id = :p"),
                            {"p": other["plot"]}).rowcount == 0
        assert _refused(conn, "UPDATE entity SET township_code = :t, "
                              "location = ST_GeomFromGeoJSON(:g) WHERE id = :e",
                        t=FENGCHENG, g=other["site"], e=own["entity"])
        assert _refused(conn, "INSERT INTO entity (kind, name, township_code, location) "
                              "VALUES ('enterprise', '越界', :t, ST_GeomFromGeoJSON(:g))",
                        t=FENGCHENG, g=other["site"])
        # a plot's township is its entity's (trigger): another township's entity is refused
        assert _refused(conn, "INSERT INTO plot (entity_id, commodity, geom) "
                              "VALUES (:e, 'tea', ST_GeomFromGeoJSON(:g))",
                        e=other["entity"], g=other["site"])
        assert _refused(conn, "INSERT INTO patrol (entity_id, inspector, kind, patrolled_at, "
                              "result) VALUES (:e, 'x', 'online', :d, 'normal')",
                        e=other["entity"], d=DAY)
        # a site point's township is set from its entity, whatever is sent
        assert _refused(conn, "INSERT INTO site_point (client_uuid, content_hash, entity_id, "
                              "geom, input_crs, input_x, input_y, township_code) VALUES "
                              "(gen_random_uuid(), '\\x09', :e, ST_GeomFromGeoJSON(:g), 'wgs84',"
                              " 0, 0, :t)", e=other["entity"], g=other["site"], t=CANNEI)
        assert not _refused(conn, "INSERT INTO patrol (entity_id, inspector, kind, "
                                  "patrolled_at, result) VALUES (:e, 'x', 'online', :d, "
                                  "'normal')", e=own["entity"], d=DAY)
    with api_engine.begin() as conn:  # no scope: no writes at all
        assert _refused(conn, "INSERT INTO patrol (entity_id, inspector, kind, patrolled_at, "
                              "result) VALUES (:e, 'x', 'online', :d, 'normal')",
                        e=own["entity"], d=DAY)
        assert conn.execute(text("UPDATE entity SET name = '改' WHERE id = :e"),
                            {"e": own["entity"]}).rowcount == 0


def test_the_api_role_has_no_migration_table_and_owns_nothing(api_engine: Engine) -> None:
    with api_engine.connect() as conn:
        assert _one(conn, "SELECT current_user") == "georeg_api"
        assert not _one(conn, "SELECT has_table_privilege('schema_migration', 'SELECT')")
        assert _one(conn, "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
                          " WHERE r.rolname = 'georeg_api'") == 0
        assert not _one(conn, "SELECT rolsuper OR rolbypassrls FROM pg_roles "
                              "WHERE rolname = current_user")


# --- through the API -----------------------------------------------------------------------

def _headers(client: TestClient, username: str) -> dict[str, str]:
    return login(client, username)


@pytest.mark.parametrize("username,sees_other,writes_own", [
    ("rs_collector", False, True), ("rs_township", False, True), ("rs_county", True, True),
    ("admin", True, True), ("rs_clerk", True, False)])
def test_registry_through_the_api(client: TestClient, world: dict[str, Any], engine: Engine,
                                  username: str, sees_other: bool, writes_own: bool) -> None:
    h = _headers(client, username)
    own, other = world["own"]["entity"], world["other"]["entity"]
    listed = client.get("/api/v1/producers?limit=500", headers=h)
    if username == "rs_clerk" and listed.status_code != 200:
        pytest.fail(listed.text)
    ids = {f["id"] for f in listed.json()["features"]}
    assert own in ids and (other in ids) == sees_other
    assert client.get(f"/api/v1/producers/{own}", headers=h).status_code == 200
    assert client.get(f"/api/v1/producers/{other}", headers=h).status_code == (
        200 if sees_other else 404)
    assert client.get(f"/api/v1/producers/{other}/plots", headers=h).status_code == (
        200 if sees_other else 404)
    # a plot read by id: the credit clerk sees entities (credit lookups), not their plots
    sees_plots = sees_other and username != "rs_clerk"
    assert client.get(f"/api/v1/plots/{world['other']['plot']}", headers=h).status_code == (
        200 if sees_plots else 404)
    assert client.get(f"/api/v1/plots/{world['own']['plot']}", headers=h).status_code == (
        404 if username == "rs_clerk" else 200)
    patched = client.patch(f"/api/v1/producers/{own}", headers=h, json={"village": "城关村"})
    assert patched.status_code == (200 if writes_own else 403), patched.text
    patched = client.patch(f"/api/v1/producers/{other}", headers=h, json={"village": "城关村"})
    assert patched.status_code == (200 if writes_own and sees_other else
                                   403 if not writes_own else 404), patched.text
    plot = {"commodity": "tea", "geometry": point_in(engine, CANNEI, 77)}
    r = client.post(f"/api/v1/producers/{own}/plots", headers=h, json=plot)
    assert r.status_code == (201 if writes_own else 403), r.text
    plot = {"commodity": "tea", "geometry": point_in(engine, FENGCHENG, 78)}
    r = client.post(f"/api/v1/producers/{other}/plots", headers=h, json=plot)
    assert r.status_code == (201 if writes_own and sees_other else
                             403 if not writes_own else 404), r.text


def _feature(entity_id: int, site: str, **extra: Any) -> dict[str, Any]:
    import json

    coords = json.loads(site)["coordinates"]
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": coords},
            "properties": {"client_uuid": str(uuid.uuid4()), "entity_id": entity_id,
                           "commodity": "cowpea", "collected_at": "2023-03-05T09:30:00",
                           "accuracy_m": 5} | extra}


@pytest.mark.parametrize("username", ["rs_collector", "rs_township", "rs_county"])
def test_upload_points_through_the_api(client: TestClient, world: dict[str, Any],
                                       engine: Engine, username: str) -> None:
    h = _headers(client, username)
    own, other = world["own"], world["other"]
    r = client.post("/api/v1/collections/points", headers=h, json={
        "type": "FeatureCollection", "features": [
            _feature(own["entity"], own["site"]), _feature(other["entity"], other["site"]),
            _feature(99_999_999, own["site"])]})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert res[0]["status"] in ("accepted", "accepted_with_flags"), res[0]
    codes = [e["code"] for e in res[1].get("errors", [])]
    if username == "rs_county":
        assert res[1]["status"] in ("accepted", "accepted_with_flags"), res[1]
    else:  # out of scope stays distinguishable from an unknown entity
        assert res[1]["status"] == "rejected" and codes == ["out_of_scope"], res[1]
    assert [e["code"] for e in res[2]["errors"]] == ["unknown_entity"]
    with engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT township_code FROM site_point WHERE client_uuid = :u"),
            {"u": res[0]["client_uuid"]}).scalar_one()
        assert stored == CANNEI  # the entity's township, set at upload
        rejected = set(conn.execute(text(
            "SELECT township_code FROM site_point_rejection WHERE collector_id = :a"),
            {"a": world["ids"][username]}).scalars())
    # rejections are stored under the uploader's township (county: the entity's, or none)
    assert rejected == ({CANNEI} if username != "rs_county" else {None})
    # the stored point reads back for the uploader; the other township's point does not
    got = client.get(f"/api/v1/collections/points/{res[0]['client_uuid']}", headers=h)
    assert got.status_code == 200, got.text
    theirs = client.get(f"/api/v1/collections/points/{other['uuid']}", headers=h)
    assert theirs.status_code == (200 if username == "rs_county" else 404)


@pytest.mark.parametrize("username,sees_other", [
    ("rs_township", False), ("rs_county", True), ("rs_clerk", True), ("admin", True)])
def test_credit_records_through_the_api(client: TestClient, world: dict[str, Any],
                                        username: str, sees_other: bool) -> None:
    h = _headers(client, username)
    own, other = world["own"]["entity"], world["other"]["entity"]
    r = client.get(f"/api/v1/credit/{own}", headers=h)
    assert r.status_code == 200 and r.json()["events"], r.text
    r = client.get(f"/api/v1/credit/{other}", headers=h)
    assert r.status_code == (200 if sees_other else 404), r.text
    listed = client.get("/api/v1/credit/key-supervision", headers=h)
    assert listed.status_code == 200, listed.text
    ids = {x["entity_id"] for x in listed.json()["rows"]}
    assert own in ids and (other in ids) == sees_other


@pytest.mark.parametrize("username,sees_other", [
    ("rs_township", False), ("rs_collector", False), ("rs_county", True), ("admin", True)])
def test_tests_and_reports_through_the_api(client: TestClient, world: dict[str, Any],
                                           username: str, sees_other: bool) -> None:
    h = _headers(client, username)
    own, other = world["own"]["entity"], world["other"]["entity"]
    tests = client.get("/api/v1/testing/rapid-tests?year=2023&limit=1000", headers=h)
    assert tests.status_code == 200, tests.text
    ids = {x["entity_id"] for x in tests.json()["items"]}
    assert own in ids and (other in ids) == sees_other
    labs = client.get("/api/v1/testing/lab-results?year=2023&limit=1000", headers=h).json()
    ids = {x["entity_id"] for x in labs["items"]}
    assert own in ids and (other in ids) == sees_other
    # reports: a township user gets its own township's row, not the others' as zero
    patrols = client.get("/api/v1/reports/patrols?month=2023-05", headers=h)
    assert patrols.status_code == 200, patrols.text
    rows = {r["township_code"]: r for r in patrols.json()["rows"]}
    assert rows[CANNEI]["monthly_patrols"] >= 1
    assert (FENGCHENG in rows) == sees_other and len(rows) == (24 if sees_other else 1)
    prov = client.get("/api/v1/reports/provenance?year=2023", headers=h).json()["rows"]
    assert {r["township_code"] for r in prov} == (
        {CANNEI} if not sees_other else {r["township_code"] for r in prov} | {CANNEI})
    cannei_cowpea = next(r for r in prov if r["township_code"] == CANNEI
                         and r["commodity"] == "cowpea")
    assert cannei_cowpea["rejected_points"] >= 1 and cannei_cowpea["entities"] >= 1
    progress = client.get("/api/v1/reports/testing-progress?year=2023", headers=h)
    assert progress.status_code == 200, progress.text
    units = {r["unit"] for r in progress.json()["rows"]}
    assert CANNEI in units and (FENGCHENG in units) == sees_other, units


def test_public_townships_give_counts_but_no_names(client: TestClient,
                                                   world: dict[str, Any]) -> None:
    fc = client.get("/api/v1/townships").json()
    props = {f["properties"]["code"]: f["properties"] for f in fc["features"]}
    assert props[CANNEI]["producer_count"] >= 1 and props[FENGCHENG]["producer_count"] >= 1
    assert "account" not in props[CANNEI]
    grids = client.get(f"/api/v1/townships/{CANNEI}/grids").json()["features"]
    assert sum(g["properties"]["producer_count"] for g in grids) >= 1
    # staff names are not public
    assert all(g["properties"]["supervisor"] is None and g["properties"]["assistants"] == []
               for g in grids)
    h = _headers(client, "rs_township")
    grids = client.get(f"/api/v1/townships/{CANNEI}/grids", headers=h).json()["features"]
    # (the public list ignores the token: no account, no scope)
    assert all(g["properties"]["assistants"] == [] for g in grids)


def test_personal_lookups_only_for_roles_that_need_them(client: TestClient,
                                                        world: dict[str, Any],
                                                        engine: Engine) -> None:
    body = {"phone": "13800138000"}
    r = client.post("/api/v1/credit/search", headers=_headers(client, "rs_county"), json=body)
    assert r.status_code == 403, r.text
    r = client.post("/api/v1/credit/search", headers=_headers(client, "rs_clerk"), json=body)
    assert r.status_code == 200, r.text


def test_reassignment_keeps_row_security(client: TestClient, engine: Engine,
                                         api_engine: Engine, world: dict[str, Any]) -> None:
    """The owner's full re-assignment swaps site_point_place in (grids.reassign); its policies
    and grants come back with it. The API's (county role) updates places where they are."""
    from grids.reassign import reassign

    with engine.begin() as conn:
        conn.execute(text("UPDATE site_point_place SET grid_id = NULL, township_code = NULL"))
        reassign(conn, ("site_point",), full=True)
        assert _one(conn, "SELECT count(*) FROM site_point_place WHERE township_code IS NULL") == 0
        assert _one(conn, "SELECT relrowsecurity FROM pg_class "
                          "WHERE oid = 'site_point_place'::regclass")
    for username in (None, "rs_township", "rs_county"):
        _check(api_engine, world, username, "site_point_place")
    assert _visible(api_engine, world, "rs_township", "site_point_place") == {CANNEI}
    r = client.post("/api/v1/grids/reassign?full=true", headers=login(client, "rs_county"))
    assert r.status_code == 200, r.text
    with engine.connect() as conn:
        assert _one(conn, "SELECT count(*) FROM site_point_place WHERE township_code IS NULL") == 0


def test_accounts_sessions_and_audit_under_the_api_role(api_engine: Engine,
                                                        world: dict[str, Any]) -> None:
    """Account writes by role (sql/022's account policies), sessions, the audit trail's scope."""
    ids = world["ids"]
    new_collector = ("INSERT INTO account (username, display_name, role, township_code, "
                     "password_hash) VALUES (:u, 'x', :r, :t, 'h')")
    with api_engine.begin() as conn:
        _scope(conn, world, "rs_township")
        # a township supervisor adds collectors of its own township, nothing else
        assert not _refused(conn, new_collector, u="rs_new_col", r="collector", t=CANNEI)
        assert _refused(conn, new_collector, u="rs_col_elsewhere", r="collector", t=FENGCHENG)
        assert _refused(conn, new_collector, u="rs_new_sup", r="township_supervisor", t=CANNEI)
        # … disables its collectors, not another township's supervisor
        assert conn.execute(text("UPDATE account SET active = false WHERE id = :i"),
                            {"i": ids["rs_collector"]}).rowcount == 1
        assert conn.execute(text("UPDATE account SET active = false WHERE id = :i"),
                            {"i": ids["rs_other_township"]}).rowcount == 0
        # … may change its own row but not raise its own role or move its scope
        assert conn.execute(text("UPDATE account SET display_name = '林' WHERE id = :i"),
                            {"i": ids["rs_township"]}).rowcount == 1
        assert _refused(conn, "UPDATE account SET role = 'county_supervisor', "
                              "township_code = NULL WHERE id = :i", i=ids["rs_township"])
        # sign-in attempts are the definer functions' alone
        assert _refused(conn, "SELECT count(*) FROM login_attempt")
    with api_engine.begin() as conn:
        _scope(conn, world, "rs_county")
        # a county supervisor administers no account
        assert conn.execute(text("UPDATE account SET active = false WHERE id = :i"),
                            {"i": ids["rs_collector"]}).rowcount == 0
    with api_engine.begin() as conn:
        _scope(conn, world, "rs_township")
        # the audit trail: its township's records only; sessions: its own and its collectors'
        towns = set(conn.execute(text("SELECT DISTINCT township_code FROM audit_event "
                                      "WHERE township_code IS NOT NULL")).scalars())
        assert towns == {CANNEI}
        owners = set(conn.execute(text("SELECT account_id FROM auth_session")).scalars())
        assert owners <= {ids["rs_township"], ids["rs_collector"]}
        assert _refused(conn, "INSERT INTO audit_event (table_name, action) "
                              "VALUES ('entity', 'insert')")
    with api_engine.begin() as conn:
        _scope(conn, world, "rs_county")
        towns = set(conn.execute(text("SELECT DISTINCT township_code FROM audit_event "
                                      "WHERE township_code IS NOT NULL")).scalars())
        assert {CANNEI, FENGCHENG} <= towns
    with api_engine.begin() as conn:  # no scope: no account is even readable
        assert _one(conn, "SELECT count(*) FROM account") == 0


def test_the_api_role_reads_no_password_hash_but_its_own(api_engine: Engine,
                                                         world: dict[str, Any]) -> None:
    with api_engine.begin() as conn:
        _scope(conn, world, "rs_township")
        assert _one(conn, "SELECT username FROM account WHERE id = :i",
                    i=world["ids"]["admin"]) == "admin"
        assert _refused(conn, "SELECT password_hash FROM account WHERE id = :i",
                        i=world["ids"]["admin"])
        own = _one(conn, "SELECT georeg_own_password_hash()")
        assert own is not None and own.startswith("$argon2")
