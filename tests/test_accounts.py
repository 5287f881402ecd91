"""Accounts, server-side sessions, the forced first change, account management and API keys."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from cli import main as cli
from georeg.cluster import Cluster
from georeg.config import Settings
from georeg.database import make_engine, migrate
from georeg.errors import GeoregError
from georeg.sessions import token_hash
from tests.conftest import TEST_PASSWORD
from tests.helpers import login

CANNEI = "350524113000"  # 参内镇: cnx05 supervises it, col05 collects there
FENGCHENG = "350524100000"  # 凤城镇: fcz01
GOOD_PASSWORD = "Tieguanyin-2024-spring"


def problem(r: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    if code:
        assert body["code"] == code, body
    return body


def sign_in(client: TestClient, username: str, password: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def me(client: TestClient, headers: dict[str, str]) -> int:
    return client.get("/api/v1/auth/me", headers=headers).status_code


def new_collector(client: TestClient, by: dict[str, str], username: str,
                  township: str = CANNEI) -> dict[str, Any]:
    r = client.post("/api/v1/accounts", headers=by, json={
        "username": username, "display_name": "采集员" + username, "role": "collector",
        "township_code": township})
    assert r.status_code == 201, r.text
    return r.json()


def account_id(engine: Engine, username: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT id FROM account WHERE username = :u"),
                            {"u": username}).scalar_one()


# --- sessions -----------------------------------------------------------------------------------


def test_tokens_are_opaque_and_stored_only_as_their_hash(client: TestClient,
                                                         engine: Engine) -> None:
    headers = login(client, "admin")
    token = headers["Authorization"][7:]
    assert token.count(".") == 0 and len(token) >= 40  # not a JWT
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash, kind FROM auth_session")).all()
    assert len(stored) == 1 and stored[0].kind == "password"
    assert bytes(stored[0].token_hash) != token.encode() and len(stored[0].token_hash) == 32
    assert me(client, {"Authorization": "Bearer " + token[:-1] + "x"}) == 401


def test_the_session_check_sets_the_request_scope(client: TestClient, engine: Engine) -> None:
    token = login(client, "cnx05")["Authorization"][7:]
    with engine.begin() as conn:
        found = conn.execute(text("SELECT username FROM georeg_session_account(:h)"),
                             {"h": token_hash(token)}).scalar_one()
        scope = conn.execute(text("SELECT georeg_account_id(), georeg_role(), "
                                  "georeg_township()")).one()
    assert found == "cnx05"
    assert scope[0] == account_id(engine, "cnx05") and scope[1:] == ("township_supervisor",
                                                                      CANNEI)
    with engine.begin() as conn:  # a wrong token sets nothing
        assert conn.execute(text("SELECT * FROM georeg_session_account(:h)"),
                            {"h": token_hash(token + "x")}).first() is None
        assert conn.execute(text("SELECT georeg_role()")).scalar() is None


def test_logout_ends_this_session_only(client: TestClient) -> None:
    one, two = login(client, "cnx05"), login(client, "cnx05")
    assert client.post("/api/v1/auth/logout", headers=one).status_code == 204
    problem(client.get("/api/v1/auth/me", headers=one), 401, "unauthorized")
    assert me(client, two) == 200


def test_disable_reset_and_role_change_end_sessions_at_once(client: TestClient,
                                                            admin: dict[str, str],
                                                            engine: Engine) -> None:
    for username, action in (("fcz01", "disable"), ("cnx05", "reset-password")):
        headers = login(client, username)
        assert me(client, headers) == 200
        r = client.post(f"/api/v1/accounts/{account_id(engine, username)}/{action}",
                        headers=admin)
        assert r.status_code in (200, 204), r.text
        assert me(client, headers) == 401
    # a disabled account cannot sign in; enabled again, it can
    assert client.post("/api/v1/auth/token", data={"username": "fcz01",
                                                   "password": TEST_PASSWORD}).status_code == 401
    assert client.post(f"/api/v1/accounts/{account_id(engine, 'fcz01')}/enable",
                       headers=admin).status_code == 204
    assert me(client, login(client, "fcz01")) == 200

    headers = login(client, "county01")
    r = client.put(f"/api/v1/accounts/{account_id(engine, 'county01')}/role", headers=admin,
                   json={"role": "credit_clerk"})
    assert r.status_code == 204, r.text
    assert me(client, headers) == 401
    assert client.get("/api/v1/auth/me", headers=login(client, "county01")).json()["role"] == (
        "credit_clerk")


def test_password_change_ends_the_other_sessions(client: TestClient, admin: dict[str, str],
                                                 engine: Engine) -> None:
    other = login(client, "cnx05")
    this = login(client, "cnx05")
    r = client.post("/api/v1/auth/password", headers=this,
                    json={"old_password": "wrong-password-1", "new_password": GOOD_PASSWORD})
    problem(r, 422)
    assert r.json()["errors"][0]["field"] == "old_password"
    r = client.post("/api/v1/auth/password", headers=this,
                    json={"old_password": TEST_PASSWORD, "new_password": GOOD_PASSWORD})
    assert r.status_code == 204, r.text
    assert me(client, other) == 401 and me(client, this) == 200
    assert client.post("/api/v1/auth/token", data={
        "username": "cnx05", "password": TEST_PASSWORD}).status_code == 401
    assert me(client, sign_in(client, "cnx05", GOOD_PASSWORD)) == 200


# --- the forced first change --------------------------------------------------------------------


def test_a_new_account_must_change_its_password_first(client: TestClient,
                                                      admin: dict[str, str]) -> None:
    created = new_collector(client, admin, "col09")
    assert created["must_change_password"] is True and len(created["password"]) >= 12
    headers = sign_in(client, "col09", created["password"])
    body = client.get("/api/v1/auth/me", headers=headers).json()
    assert body["must_change_password"] is True and body["role"] == "collector"
    refused = problem(client.get("/api/v1/producers", headers=headers), 403,
                      "password_change_required")
    assert "请先修改初始密码" in refused["detail"]
    for weak, code in (("short-1", "too_short"), ("col09-tea-garden", "contains_username"),
                       ("1234567890", "too_common"), ("aaaaaaaaaaaa", "too_common")):
        r = client.post("/api/v1/auth/password", headers=headers,
                        json={"old_password": created["password"], "new_password": weak})
        assert problem(r, 422)["errors"][0]["code"] == code
    assert client.post("/api/v1/auth/password", headers=headers, json={
        "old_password": created["password"], "new_password": GOOD_PASSWORD}).status_code == 204
    assert client.get("/api/v1/producers", headers=headers).status_code == 200
    assert client.get("/api/v1/auth/me", headers=headers).json()["must_change_password"] is False


def test_demo_accounts_are_marked_and_exempt(client: TestClient) -> None:
    body = client.get("/api/v1/auth/me", headers=login(client, "col05")).json()
    assert body["demo"] is True and body["must_change_password"] is False
    assert body["township_code"] == CANNEI


# --- who manages whom ---------------------------------------------------------------------------


def test_township_supervisors_manage_their_own_collectors_only(client: TestClient,
                                                               admin: dict[str, str],
                                                               engine: Engine) -> None:
    cnx05 = login(client, "cnx05")
    mine = new_collector(client, cnx05, "col21")
    theirs = new_collector(client, admin, "col22", FENGCHENG)
    listed = client.get("/api/v1/accounts", headers=cnx05).json()["items"]
    assert {a["username"] for a in listed} == {"col05", "col21"}
    assert {a["township_code"] for a in listed} == {CANNEI}
    row = next(a for a in listed if a["username"] == "col21")
    assert row["created_by"] == "cnx05" and "password_hash" not in row

    # not another township's collector, not a county role, not another supervisor
    for body in ({"username": "col23", "display_name": "x", "role": "collector",
                  "township_code": FENGCHENG},
                 {"username": "county09", "display_name": "x", "role": "county_supervisor"},
                 {"username": "tsp09", "display_name": "x", "role": "township_supervisor",
                  "township_code": CANNEI}):
        problem(client.post("/api/v1/accounts", headers=cnx05, json=body), 403, "forbidden")
    for target in (theirs["id"], account_id(engine, "county01"), account_id(engine, "admin"),
                   account_id(engine, "fcz01")):
        for action in ("disable", "enable", "reset-password"):
            problem(client.post(f"/api/v1/accounts/{target}/{action}", headers=cnx05), 403)
    problem(client.put(f"/api/v1/accounts/{mine['id']}/role", headers=cnx05,
                       json={"role": "township_supervisor", "township_code": CANNEI}), 403)
    # its own collector: disable, enable, reset
    for action in ("disable", "enable"):
        assert client.post(f"/api/v1/accounts/{mine['id']}/{action}",
                           headers=cnx05).status_code == 204
    reset = client.post(f"/api/v1/accounts/{mine['id']}/reset-password", headers=cnx05)
    assert reset.status_code == 200 and reset.json()["password"] != mine["password"]
    with engine.connect() as conn:
        updated_by = conn.execute(text(
            "SELECT b.username FROM account a JOIN account b ON b.id = a.updated_by "
            "WHERE a.username = 'col21'")).scalar_one()
    assert updated_by == "cnx05"

    # county roles, credit clerks and collectors manage nobody
    for username in ("county01", "clerk01", "col05"):
        headers = login(client, username)
        problem(client.get("/api/v1/accounts", headers=headers), 403)
        problem(client.post(f"/api/v1/accounts/{mine['id']}/disable", headers=headers), 403)
    # the administrator sees everyone
    everyone = client.get("/api/v1/accounts", headers=admin).json()["items"]
    assert {"admin", "county01", "col21", "col22", "svc01"} <= {a["username"] for a in everyone}


def test_account_input_is_checked(client: TestClient, admin: dict[str, str]) -> None:
    def create(**body: Any) -> Any:
        return client.post("/api/v1/accounts", headers=admin,
                           json={"display_name": "x", **body})

    problem(create(username="col05", role="collector", township_code=CANNEI), 409)
    problem(create(username="Bad Name", role="admin"), 422)
    problem(create(username="col30", role="collector"), 422)  # no township
    problem(create(username="county30", role="county_supervisor", township_code=CANNEI), 422)
    problem(create(username="col31", role="collector", township_code=CANNEI,
                   grids=["350524100000001"]), 422)  # a grid of another township
    problem(create(username="svc30", role="service", scopes=["delete"]), 422)
    problem(create(username="svc31", role="service"), 422)  # no scope


def test_a_collector_may_have_grids_of_its_township(client: TestClient, admin: dict[str, str],
                                                    engine: Engine) -> None:
    with engine.connect() as conn:
        codes = conn.execute(text("SELECT DISTINCT code FROM grid WHERE township_code = :t "
                                  "ORDER BY code LIMIT 2"), {"t": CANNEI}).scalars().all()
    r = client.post("/api/v1/accounts", headers=login(client, "cnx05"), json={
        "username": "col32", "display_name": "网格采集员", "role": "collector",
        "township_code": CANNEI, "grids": codes})
    assert r.status_code == 201, r.text
    headers = sign_in(client, "col32", r.json()["password"])
    assert client.get("/api/v1/auth/me", headers=headers).json()["grids"] == sorted(codes)


# --- API keys -----------------------------------------------------------------------------------


def test_api_keys_work_as_bearer_and_stop_when_revoked(client: TestClient,
                                                       admin: dict[str, str]) -> None:
    r = client.post("/api/v1/accounts/api-keys", headers=admin,
                    json={"account": "svc01", "label": "县追溯平台"})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/producers?limit=1", headers=headers).status_code == 200
    assert client.get("/api/v1/auth/me", headers=headers).json()["scopes"] == ["read"]
    # read only: no writes, no account management
    problem(client.post("/api/v1/producers", headers=headers, json={}), 403)
    problem(client.post("/api/v1/accounts/api-keys", headers=headers,
                        json={"account": "svc01"}), 403)
    listed = client.get("/api/v1/accounts/api-keys", headers=admin).json()["items"]
    assert [(k["account"], k["label"]) for k in listed] == [("svc01", "县追溯平台")]
    assert "key" not in listed[0] and "token_hash" not in listed[0]
    # keys are for service accounts only, managed by administrators only
    problem(client.post("/api/v1/accounts/api-keys", headers=admin,
                        json={"account": "cnx05"}), 422)
    problem(client.get("/api/v1/accounts/api-keys", headers=login(client, "cnx05")), 403)
    # a service account has no password to sign in with
    assert client.post("/api/v1/auth/token", data={"username": "svc01",
                                                   "password": ""}).status_code in (401, 422)
    assert client.post(f"/api/v1/accounts/api-keys/{r.json()['id']}/revoke",
                       headers=admin).status_code == 204
    assert client.get("/api/v1/producers?limit=1", headers=headers).status_code == 401


def test_a_collect_key_uploads_points_and_nothing_else(client: TestClient,
                                                       admin: dict[str, str]) -> None:
    r = client.post("/api/v1/accounts", headers=admin, json={
        "username": "svc02", "display_name": "采集App", "role": "service",
        "township_code": CANNEI, "scopes": ["collect"]})
    assert r.status_code == 201 and r.json()["password"] is None, r.text
    key = client.post("/api/v1/accounts/api-keys", headers=admin,
                      json={"account": "svc02"}).json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    problem(client.get("/api/v1/producers", headers=headers), 403)  # no read scope
    problem(client.post("/api/v1/producers", headers=headers, json={}), 403)
    r = client.post("/api/v1/collections/points", headers=headers,
                    json={"type": "FeatureCollection", "features": []})
    assert r.status_code != 403, r.text


# --- command line ---------------------------------------------------------------------------------


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str]:
    """Exit code and output; a domain error (which `georeg` prints) counts as output."""
    result = CliRunner().invoke(cli, list(args), env=env, input=stdin)
    failed = str(result.exception) if isinstance(result.exception, GeoregError) else ""
    return result.exit_code, result.output + failed


def test_accounts_from_the_command_line(settings: Settings, client: TestClient,
                                        engine: Engine) -> None:
    env = {"GEOREG_DATABASE_URL": settings.database_url or "",
           "GEOREG_PII_KEY": settings.pii_key or ""}
    code, out = run_cli(env, "accounts", "add", "col40", "--role", "collector",
                        "--name", "参内采集员丙", "--township", CANNEI)
    assert code == 0, out
    password = out.strip().splitlines()[-1]
    headers = sign_in(client, "col40", password)
    assert client.get("/api/v1/auth/me", headers=headers).json()["must_change_password"]
    code, out = run_cli(env, "accounts", "list")
    assert code == 0 and "col40" in out and "须改密码" in out
    assert run_cli(env, "accounts", "disable", "col40")[0] == 0
    assert me(client, headers) == 401
    assert run_cli(env, "accounts", "enable", "col40")[0] == 0
    code, out = run_cli(env, "accounts", "reset-password", "col40")
    assert code == 0
    assert me(client, sign_in(client, "col40", out.strip().splitlines()[-1])) == 200
    code, out = run_cli(env, "accounts", "set-role", "col40", "township_supervisor",
                        "--township", CANNEI)
    assert code == 0, out
    code, out = run_cli(env, "accounts", "api-key", "create", "svc01", "--label", "对接")
    assert code == 0, out
    key = out.strip().splitlines()[-1]
    assert me(client, {"Authorization": f"Bearer {key}"}) == 200
    code, out = run_cli(env, "accounts", "api-key", "list")
    assert code == 0 and "svc01" in out and key not in out
    key_id = out.strip().splitlines()[-1].split("\t")[0]
    assert run_cli(env, "accounts", "api-key", "revoke", key_id)[0] == 0
    assert me(client, {"Authorization": f"Bearer {key}"}) == 401
    code, out = run_cli(env, "accounts", "disable", "nobody")
    assert code == 1 and "不存在" in out
    with engine.connect() as conn:
        by = conn.execute(text("SELECT created_by FROM account WHERE username = 'col40'"))
        assert by.scalar() is None  # the command line: the owner, no account


@pytest.fixture
def empty_db(cluster: Cluster) -> Iterator[str]:
    """A database with no schema at all, as a new county starts."""
    name = f"e_{secrets.token_hex(6)}"
    cluster.create_database(name)
    yield cluster.url(name)
    cluster.drop_database(name)


def test_init_creates_one_admin_and_refuses_twice(empty_db: str, tmp_path: Any,
                                                  pii_key_text: str) -> None:
    from api.app import create_app

    env = {"GEOREG_DATABASE_URL": empty_db, "GEOREG_STATE_DIR": str(tmp_path / "state")}
    code, out = run_cli(env, "init", "--password-stdin", stdin="short\n")
    assert code == 1 and "至少" in out
    code, out = run_cli(env, "init", "--generate-password")
    assert code == 0, out
    password = out.strip().splitlines()[-1]
    engine = make_engine(empty_db, pool_size=1)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT username, role, must_change_password, demo "
                                     "FROM account")).all()
            assert [tuple(r) for r in rows] == [("admin", "admin", True, False)]
            assert conn.execute(text("SELECT count(*) FROM township")).scalar() == 24
    finally:
        engine.dispose()
    code, out = run_cli(env, "init", "--password-stdin", stdin=GOOD_PASSWORD + "\n")
    assert code == 1 and "已有管理员" in out
    settings = Settings(database_url=empty_db, state_dir=tmp_path / "state", pool_size=2)
    with TestClient(create_app(settings)) as c:
        headers = sign_in(c, "admin", password)
        problem(c.get("/api/v1/accounts", headers=headers), 403, "password_change_required")
        assert c.post("/api/v1/auth/password", headers=headers, json={
            "old_password": password, "new_password": GOOD_PASSWORD}).status_code == 204
        assert c.get("/api/v1/accounts", headers=headers).status_code == 200


def test_the_reference_data_bring_no_account(empty_db: str) -> None:
    from importers import anxi

    engine = make_engine(empty_db, pool_size=1, interactive=False)
    try:
        migrate(engine)
        with engine.begin() as conn:
            anxi.load(conn, seed=1)
            assert conn.execute(text("SELECT count(*) FROM account")).scalar() == 0
    finally:
        engine.dispose()
