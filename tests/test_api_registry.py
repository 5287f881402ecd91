"""The registry API against the real database: contract, counts, scope, masking, bad input."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from georeg.accounts import Role, ensure_account
from georeg.config import Settings
from georeg.sessions import token_hash
from tests.conftest import TEST_PASSWORD
from tests.helpers import login, point_in, resident_id, square_around, uscc

CANNEI = "350524113000"  # 参内镇, account cnx05
FENGCHENG = "350524100000"  # 凤城镇, account fcz01


def producer_body(engine: Engine, township: str, serial: int = 1, **extra: Any) -> dict[str, Any]:
    return {"name": f"安溪县测试{serial}茶业有限公司", "kind": "enterprise", "uscc": uscc(serial),
            "phone": "13812345678", "location": point_in(engine, township, seed=serial), **extra}


def counts(client: TestClient) -> dict[str, int]:
    fc = client.get("/api/v1/townships").json()
    return {f["properties"]["code"]: f["properties"]["producer_count"] for f in fc["features"]}


def assert_problem(r: Any, status: int, field: str | None = None, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert {"type", "title", "status", "detail", "code", "errors"} <= body.keys()
    assert body["status"] == status
    if field:
        assert any(e["field"] == field and (code is None or e["code"] == code)
                   for e in body["errors"]), body
    return body


def test_health_reports_postgis(client: TestClient) -> None:
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json()["postgis"].startswith("3.")


def test_township_boundaries_are_gzipped_for_clients_that_accept_it(client: TestClient) -> None:
    plain = client.get("/api/v1/townships", headers={"Accept-Encoding": "identity"})
    packed = client.get("/api/v1/townships", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["content-type"] == plain.headers["content-type"] == "application/geo+json"
    # httpx decodes: the same document, in a fraction of the bytes on the wire
    assert packed.json() == plain.json()
    assert int(packed.headers["content-length"]) < len(plain.content) / 3


def test_townships_are_geojson_with_counts_from_the_registry(
        client: TestClient, admin: dict, engine: Engine) -> None:
    fc = client.get("/api/v1/townships").json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 24
    props = {f["properties"]["code"]: f["properties"] for f in fc["features"]}
    # public: no login names (issue 13)
    assert "account" not in props[CANNEI] and props[CANNEI]["name"] == "参内镇"
    assert fc["features"][0]["geometry"]["type"] == "MultiPolygon"
    before = counts(client)
    assert set(before.values()) == {0}

    created = client.post("/api/v1/producers", json=producer_body(engine, CANNEI), headers=admin)
    assert created.status_code == 201, created.text
    buyer = client.post("/api/v1/producers", headers=admin, json={
        "name": "豇豆收购点", "kind": "buyer", "location": point_in(engine, CANNEI, 9)})
    assert buyer.status_code == 201, buyer.text
    assert counts(client)[CANNEI] == 1  # buyers are not producers

    pid = created.json()["id"]
    moved = client.patch(f"/api/v1/producers/{pid}", headers=admin,
                         json={"location": point_in(engine, FENGCHENG, 3)})
    assert moved.status_code == 200, moved.text
    assert moved.json()["properties"]["township_code"] == FENGCHENG
    after_move = counts(client)
    assert after_move[CANNEI] == 0 and after_move[FENGCHENG] == 1

    assert client.delete(f"/api/v1/producers/{pid}", headers=admin).status_code == 204
    assert counts(client)[FENGCHENG] == 0
    assert_problem(client.get(f"/api/v1/producers/{pid}", headers=admin), 404)


def test_grids_of_a_township(client: TestClient) -> None:
    fc = client.get(f"/api/v1/townships/{CANNEI}/grids").json()
    assert 3 <= len(fc["features"]) <= 8
    assert all(f["properties"]["code"].startswith(CANNEI) for f in fc["features"])
    assert_problem(client.get("/api/v1/townships/999999999999/grids"), 404)
    assert_problem(client.get("/api/v1/townships/12ab/grids"), 422, "code")


def test_login_and_authentication(client: TestClient) -> None:
    r = client.post("/api/v1/auth/token", data={"username": "admin", "password": "wrong"})
    assert_problem(r, 401)
    assert_problem(client.get("/api/v1/producers"), 401)
    assert_problem(client.get("/api/v1/producers",
                              headers={"Authorization": "Bearer not-a-token"}), 401)
    me = client.get("/api/v1/auth/me", headers=login(client, "cnx05")).json()
    assert me["role"] == "township_supervisor" and me["township_code"] == CANNEI


def test_invalid_uscc_is_422_and_nothing_is_written(
        client: TestClient, admin: dict, engine: Engine) -> None:
    body = producer_body(engine, CANNEI)
    body["uscc"] = body["uscc"][:-1] + ("0" if body["uscc"][-1] != "0" else "1")
    r = client.post("/api/v1/producers", json=body, headers=admin)
    assert_problem(r, 422, "uscc", "uscc_check")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM entity")).scalar() == 0


def test_enterprise_needs_a_uscc(client: TestClient, admin: dict, engine: Engine) -> None:
    body = producer_body(engine, CANNEI)
    del body["uscc"]
    assert_problem(client.post("/api/v1/producers", json=body, headers=admin), 422, "uscc",
                   "required")


def test_duplicate_uscc_is_a_conflict(client: TestClient, admin: dict, engine: Engine) -> None:
    assert client.post("/api/v1/producers", json=producer_body(engine, CANNEI),
                       headers=admin).status_code == 201
    again = producer_body(engine, CANNEI)
    again["name"] = "另一家公司"
    assert_problem(client.post("/api/v1/producers", json=again, headers=admin), 409, "uscc")


def test_smallholder_id_is_validated_hashed_and_masked(
        client: TestClient, admin: dict, engine: Engine) -> None:
    rid = resident_id(123)
    bad = rid[:-1] + ("0" if rid[-1] != "0" else "1")
    r = client.post("/api/v1/smallholders", headers=admin, json={
        "name": "陈阿福", "resident_id": bad, "phone": "13900001111",
        "location": point_in(engine, CANNEI)})
    body = assert_problem(r, 422, "resident_id", "resident_id_check")
    assert bad not in r.text and bad[:14] not in json.dumps(body)

    r = client.post("/api/v1/smallholders", headers=admin, json={
        "name": "陈阿福", "resident_id": rid, "phone": "13900001111", "village": "上村",
        "location": point_in(engine, CANNEI)})
    assert r.status_code == 201, r.text
    props = r.json()["properties"]
    assert props["resident_id"] == rid[:6] + "********" + rid[-4:]
    assert props["phone"] == "139****1111"
    assert props["kind"] == "smallholder" and props["township_code"] == CANNEI
    assert rid not in r.text and "13900001111" not in r.text
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT * FROM entity")).one()._asdict()
    assert all(rid not in str(v) and "13900001111" not in str(v) for v in stored.values())


def test_full_view_needs_a_pii_role_and_is_recorded(
        client: TestClient, admin: dict, engine: Engine) -> None:
    rid = resident_id(7)
    sid = client.post("/api/v1/smallholders", headers=admin, json={
        "name": "林秀英", "resident_id": rid, "location": point_in(engine, CANNEI)}).json()["id"]
    assert_problem(client.get(f"/api/v1/smallholders/{sid}?reveal=true",
                              headers=login(client, "cnx05")), 403)
    masked = client.get(f"/api/v1/smallholders/{sid}", headers=login(client, "cnx05")).json()
    assert masked["properties"]["resident_id"] != rid
    full = client.get(f"/api/v1/smallholders/{sid}?reveal=true", headers=admin).json()
    assert full["properties"]["resident_id"] == rid
    with engine.connect() as conn:
        logged = conn.execute(text("SELECT a.username, x.entity_id, x.fields FROM pii_access x "
                                   "JOIN account a ON a.id = x.account_id")).all()
    assert [tuple(r) for r in logged] == [("admin", sid, ["resident_id"])]


def test_writes_are_scoped_to_the_accounts_township(
        client: TestClient, admin: dict, engine: Engine) -> None:
    cnx05 = login(client, "cnx05")
    own = client.post("/api/v1/producers", headers=cnx05, json=producer_body(engine, CANNEI, 1))
    assert own.status_code == 201, own.text
    other = client.post("/api/v1/producers", headers=cnx05,
                        json=producer_body(engine, FENGCHENG, 2))
    assert_problem(other, 403, "township_code", "out_of_scope")
    theirs = client.post("/api/v1/producers", headers=admin,
                         json=producer_body(engine, FENGCHENG, 3)).json()["id"]
    # another township's entity is hidden by row security: not found, as if it did not exist
    assert_problem(client.patch(f"/api/v1/producers/{theirs}", headers=cnx05,
                                json={"name": "改名"}), 404)
    assert_problem(client.delete(f"/api/v1/producers/{theirs}", headers=cnx05), 404)


def test_location_outside_the_named_township_is_refused(
        client: TestClient, admin: dict, engine: Engine) -> None:
    body = producer_body(engine, FENGCHENG, township_code=CANNEI)
    assert_problem(client.post("/api/v1/producers", json=body, headers=admin), 422, "location",
                   "outside_township")
    outside_county = producer_body(engine, CANNEI)
    outside_county["location"] = {"type": "Point", "coordinates": [116.4, 39.9]}
    assert_problem(client.post("/api/v1/producers", json=outside_county, headers=admin), 422,
                   "location", "outside_all_townships")


def test_plots_get_area_and_grid_and_bad_geometry_is_refused(
        client: TestClient, admin: dict, engine: Engine) -> None:
    site = point_in(engine, CANNEI, 5)
    pid = client.post("/api/v1/producers", headers=admin,
                      json=producer_body(engine, CANNEI) | {"location": site}).json()["id"]
    square = square_around(site, half=0.0005)  # about 100 m x 111 m
    r = client.post(f"/api/v1/producers/{pid}/plots", headers=admin,
                    json={"commodity": "tea", "name": "一号茶园", "geometry": square})
    assert r.status_code == 201, r.text
    plot = r.json()["properties"]
    assert 14 < plot["area_mu"] < 18  # ~10,100 m2 / 666.7
    with engine.connect() as conn:
        inside = conn.execute(text(
            "SELECT ST_Covers(g.boundary, ST_PointOnSurface(p.geom)) FROM plot p "
            "JOIN grid g ON g.id = p.grid_id WHERE p.id = :id"), {"id": plot["id"]}).scalar()
    assert inside is True

    x, y = site["coordinates"]
    bowtie = {"type": "Polygon", "coordinates": [[[x, y], [x + 0.001, y + 0.001],
                                                  [x + 0.001, y], [x, y + 0.001], [x, y]]]}
    body = assert_problem(client.post(f"/api/v1/producers/{pid}/plots", headers=admin,
                                      json={"commodity": "tea", "geometry": bowtie}),
                          422, "geometry", "invalid_geometry")
    assert "自相交" in body["errors"][0]["message"]
    far = square_around(point_in(engine, FENGCHENG, 2))
    assert_problem(client.post(f"/api/v1/producers/{pid}/plots", headers=admin,
                               json={"commodity": "tea", "geometry": far}),
                   422, "geometry", "outside_township")
    assert_problem(client.post(f"/api/v1/producers/{pid}/plots", headers=admin,
                               json={"commodity": "durian", "geometry": site}),
                   422, "commodity", "unknown_commodity")
    unclosed = {"type": "Polygon", "coordinates": [[[x, y], [x + 0.001, y], [x, y + 0.001]]]}
    assert_problem(client.post(f"/api/v1/producers/{pid}/plots", headers=admin,
                               json={"commodity": "tea", "geometry": unclosed}), 422)
    plots = client.get(f"/api/v1/producers/{pid}/plots", headers=admin).json()
    assert len(plots["features"]) == 1


def test_a_plot_is_edited_and_deleted_within_scope_only(
        client: TestClient, admin: dict, engine: Engine) -> None:
    site = point_in(engine, CANNEI, 9)
    pid = client.post("/api/v1/producers", headers=admin,
                      json=producer_body(engine, CANNEI) | {"location": site}).json()["id"]
    plot_id = client.post(f"/api/v1/producers/{pid}/plots", headers=admin,
                          json={"commodity": "tea", "geometry": site}).json()["id"]
    # another township's account may neither edit nor delete it
    other = login(client, "fcz01")
    assert_problem(client.patch(f"/api/v1/plots/{plot_id}", headers=other,
                                json={"name": "别人的"}), 404)  # hidden (sql/022)
    assert_problem(client.delete(f"/api/v1/plots/{plot_id}", headers=other), 404)
    # its own township's account may: a polygon replaces the point and brings its area
    r = client.patch(f"/api/v1/plots/{plot_id}", headers=login(client, "cnx05"),
                     json={"name": "二号茶园", "geometry": square_around(site, half=0.0005)})
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert props["name"] == "二号茶园" and 14 < props["area_mu"] < 18
    assert r.json()["geometry"]["type"] == "Polygon"
    assert client.delete(f"/api/v1/plots/{plot_id}", headers=admin).status_code == 204
    assert_problem(client.get(f"/api/v1/plots/{plot_id}", headers=admin), 404)


def test_filters_and_paging(client: TestClient, admin: dict, engine: Engine) -> None:
    ids = {}
    for serial, township in ((1, CANNEI), (2, CANNEI), (3, FENGCHENG)):
        body = producer_body(engine, township, serial)
        ids[serial] = client.post("/api/v1/producers", json=body, headers=admin).json()["id"]
    site = point_in(engine, CANNEI, 77)
    client.post(f"/api/v1/producers/{ids[2]}/plots", headers=admin,
                json={"commodity": "cowpea", "geometry": site})

    def found(query: str) -> set[int]:
        r = client.get(f"/api/v1/producers?{query}", headers=admin)
        assert r.status_code == 200, r.text
        return {f["id"] for f in r.json()["features"]}

    assert found(f"township={CANNEI}") == {ids[1], ids[2]}
    assert found("commodity=cowpea") == {ids[2]}
    assert found("q=测试3") == {ids[3]}
    x, y = site["coordinates"]
    assert ids[2] in found(f"bbox={x - 1e-4},{y - 1e-4},{x + 1e-4},{y + 1e-4}")  # via its plot
    page = client.get("/api/v1/producers?limit=2&offset=0", headers=admin).json()
    assert page["numberMatched"] == 3 and page["numberReturned"] == 2
    assert_problem(client.get("/api/v1/producers?bbox=1,2,3", headers=admin), 422, "bbox")
    assert_problem(client.get("/api/v1/producers?kind=smallholder", headers=admin), 422, "kind")
    assert found("kind=enterprise") == set(ids.values())
    assert client.get("/api/v1/smallholders", headers=admin).json()["numberMatched"] == 0


def test_validation_errors_never_echo_input(client: TestClient, admin: dict) -> None:
    r = client.post("/api/v1/smallholders", headers=admin,
                    json={"name": "x", "resident_id": 350524198001011234,
                          "location": {"type": "Point", "coordinates": [118, 25]}})
    assert_problem(r, 422, "resident_id", "string_type")
    assert "350524198001011234" not in r.text and "input" not in r.json()["errors"][0]


def test_database_faults_do_not_leak(settings: Settings, tmp_path) -> None:
    broken = settings.model_copy(update={"database_url": settings.url().replace("/t_", "/nope_")})
    with TestClient(create_app(broken)) as c:
        r = c.get("/api/v1/health")
    body = assert_problem(r, 503)
    assert "nope_" not in r.text and "FATAL" not in r.text
    assert body["code"] == "database_unavailable"


def test_credit_clerk_reads_but_does_not_write(
        client: TestClient, engine: Engine) -> None:
    with engine.begin() as conn:
        ensure_account(conn, username="clerk", display_name="执法大队", role=Role.credit_clerk,
                       password=TEST_PASSWORD)
    clerk = login(client, "clerk")
    assert client.get("/api/v1/producers", headers=clerk).status_code == 200
    assert_problem(client.post("/api/v1/producers", headers=clerk,
                               json=producer_body(engine, CANNEI)), 403)


def test_grid_assignment_follows_the_version_valid_on_the_injected_day(
        settings: Settings, engine: Engine) -> None:
    """A grid closed on 2023-07-01 and replaced: a site registered in June goes to the old
    version, one registered in August to the new one (the clock is injected)."""
    from datetime import datetime

    from georeg.clock import fixed_clock

    with engine.begin() as conn:
        old = conn.execute(text(
            "UPDATE grid SET valid_to = DATE '2023-07-01' WHERE code = "
            "(SELECT min(code) FROM grid WHERE township_code = :t) RETURNING id, code"),
            {"t": CANNEI}).one()
        new_id = conn.execute(text(
            "INSERT INTO grid (code, township_code, name, boundary, valid_from) "
            "SELECT code, township_code, name || '（调整后）', boundary, DATE '2023-07-01' "
            "FROM grid WHERE id = :id RETURNING id"), {"id": old.id}).scalar()
        lon, lat = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) AS p FROM grid "
            "WHERE id = :id) x"), {"id": old.id}).one()
    site = {"type": "Point", "coordinates": [lon, lat]}
    grids = {}
    for month, serial in ((6, 1), (8, 2)):
        app = create_app(settings, clock=fixed_clock(datetime(2023, month, 15, 9)))
        with TestClient(app) as c:
            r = c.post("/api/v1/producers", headers=login(c, "admin"),
                       json=producer_body(engine, CANNEI, serial) | {"location": site})
            assert r.status_code == 201, r.text
            grids[month] = r.json()["properties"]["grid_id"]
            assert r.json()["properties"]["grid_code"] == old.code  # the code stays stable
    assert grids == {6: old.id, 8: new_id}


def test_expired_sessions_are_refused(client: TestClient, engine: Engine) -> None:
    # Sessions expire by the database's clock: an absolute limit and an idle limit.
    absolute, idle = login(client, "admin"), login(client, "admin")
    assert client.get("/api/v1/auth/me", headers=absolute).status_code == 200
    with engine.begin() as conn:
        conn.execute(text("UPDATE auth_session SET expires_at = now() - interval '1 second' "
                          "WHERE token_hash = :h"),
                     {"h": token_hash(absolute["Authorization"][7:])})
        conn.execute(text("UPDATE auth_session SET last_seen_at = now() - interval '2 hours' "
                          "WHERE token_hash = :h"), {"h": token_hash(idle["Authorization"][7:])})
    assert_problem(client.get("/api/v1/auth/me", headers=absolute), 401)
    assert_problem(client.get("/api/v1/auth/me", headers=idle), 401)
    assert client.get("/api/v1/auth/me", headers=login(client, "admin")).status_code == 200
