"""The audit trail (sql/021_audit.sql, georeg.audit): who changed what, append-only, no plain
personal numbers, one row per statement on the bulk paths, TRUNCATE guarded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from georeg.accounts import Role, ensure_account
from georeg.clock import fixed_clock
from georeg.config import Settings
from tests.conftest import TEST_PASSWORD
from tests.helpers import login, point_in, resident_id, square_around, uscc

CANNEI = "350524113000"  # 参内镇, account cnx05
FENGCHENG = "350524100000"  # 凤城镇, account fcz01


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=fixed_clock(datetime(2023, 8, 15, 10)))) as c:
        yield c


def events(engine: Engine, table: str, record_id: int) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT * FROM audit_event WHERE table_name = :t AND record_id = :i ORDER BY id"),
            {"t": table, "i": record_id}).all()


def account_id(engine: Engine, username: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT id FROM account WHERE username = :u"),
                            {"u": username}).scalar_one()


def test_create_update_deregister_are_recorded_with_the_account_and_changed_fields(
        client: TestClient, engine: Engine) -> None:
    cnx05 = login(client, "cnx05")
    site = point_in(engine, CANNEI, seed=501)
    r = client.post("/api/v1/producers", headers=cnx05, json={
        "name": "参内审计茶厂", "kind": "enterprise", "uscc": uscc(501), "location": site})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert client.patch(f"/api/v1/producers/{pid}", headers=cnx05,
                        json={"village": "参内村"}).status_code == 200
    assert client.patch(f"/api/v1/producers/{pid}", headers=cnx05,
                        json={"village": "参内村"}).status_code == 200  # no change: no event
    plot = client.post(f"/api/v1/producers/{pid}/plots", headers=cnx05,
                       json={"commodity": "tea", "geometry": square_around(site)})
    assert plot.status_code == 201, plot.text
    assert client.post(f"/api/v1/producers/{pid}/deregister", headers=cnx05,
                       json={"on": "2023-08-01", "reason": "停产"}).status_code == 200

    me = account_id(engine, "cnx05")
    rows = events(engine, "entity", pid)
    assert [e.action for e in rows] == ["insert", "update", "deregister"]
    assert {e.account_id for e in rows} == {me}
    assert {e.township_code for e in rows} == {CANNEI}
    assert rows[0].after["name"] == "参内审计茶厂" and rows[0].before is None
    assert rows[1].before == {"village": None} and rows[1].after == {"village": "参内村"}
    assert rows[2].after == {"deregistered_on": "2023-08-01", "deregistration_reason": "停产",
                             "deregistered_by": me}
    # the API's own database role wrote it (sql/022), not the owner
    assert {e.db_user for e in rows} == {"georeg_api"}

    # the API: newest first, the entity's plot with it, account name and username
    r = client.get(f"/api/v1/audit?table=entity&id={pid}", headers=login(client))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 4
    assert [(e["table"], e["action"]) for e in body["events"]] == [
        ("entity", "deregister"), ("plot", "insert"), ("entity", "update"), ("entity", "insert")]
    assert body["events"][0]["account"] == {"id": me, "username": "cnx05",
                                            "display_name": body["events"][0]["account"][
                                                "display_name"]}
    assert body["events"][0]["account"]["display_name"]
    assert body["events"][0]["action_label"] == "注销"
    paged = client.get(f"/api/v1/audit?table=entity&id={pid}&limit=2&offset=2",
                       headers=login(client)).json()
    assert [e["action"] for e in paged["events"]] == ["update", "insert"]

    # who may read: county-wide supervisors, the township's own supervisor; not others
    assert client.get(f"/api/v1/audit?table=entity&id={pid}", headers=cnx05).json()["total"] == 4
    other = client.get(f"/api/v1/audit?table=entity&id={pid}", headers=login(client, "fcz01"))
    assert other.status_code == 200 and other.json()["total"] == 0
    with engine.begin() as conn:
        ensure_account(conn, username="clerk1", display_name="信用管理员", role=Role.credit_clerk,
                       password=TEST_PASSWORD, township_code=None)
        ensure_account(conn, username="collector9", display_name="采集员", role=Role.collector,
                       password=TEST_PASSWORD, township_code=CANNEI)
        ensure_account(conn, username="county1", display_name="县级监管员",
                       role=Role.county_supervisor, password=TEST_PASSWORD, township_code=None)
    for who in ("clerk1", "collector9"):
        r = client.get(f"/api/v1/audit?table=entity&id={pid}", headers=login(client, who))
        assert r.status_code == 403, r.text
    assert client.get(f"/api/v1/audit?table=entity&id={pid}",
                      headers=login(client, "county1")).json()["total"] == 4
    r = client.get(f"/api/v1/audit?table=secrets&id={pid}", headers=login(client))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "table"


def test_no_plain_personal_number_in_the_trail(client: TestClient, engine: Engine) -> None:
    admin = login(client)
    first, second, phone = resident_id(11), resident_id(12), "13700001111"
    r = client.post("/api/v1/smallholders", headers=admin, json={
        "name": "审计农户", "resident_id": first, "phone": phone,
        "location": point_in(engine, CANNEI, 7)})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert client.patch(f"/api/v1/smallholders/{sid}", headers=admin,
                        json={"resident_id": second, "phone": "13700002222"}).status_code == 200
    rows = events(engine, "entity", sid)
    assert [e.action for e in rows] == ["insert", "update"]
    assert rows[1].after["resident_id_hash"] == rows[1].after["resident_id_enc"] == "***"
    assert rows[1].before["phone_enc"] == "***"
    with engine.connect() as conn:
        trail = conn.execute(text(
            "SELECT string_agg(concat(before::text, after::text), ' ') FROM audit_event")
        ).scalar_one()
    for number in (first, second, phone, "13700002222"):
        assert number not in trail
        assert number[-8:] not in trail


def test_an_upload_is_one_audit_row_with_its_count_and_ids(
        client: TestClient, engine: Engine) -> None:
    admin = login(client)
    site = point_in(engine, CANNEI, seed=21)
    pid = client.post("/api/v1/producers", headers=admin, json={
        "name": "参内豇豆审计社", "kind": "cooperative", "uscc": uscc(21, "93350524"),
        "location": site}).json()["id"]
    x, y = site["coordinates"]
    features = [{"type": "Feature",
                 "geometry": {"type": "Point", "coordinates": [x + i * 0.0003, y]},
                 "properties": {"client_uuid": str(uuid.uuid4()), "entity_id": pid,
                                "commodity": "cowpea", "accuracy_m": 5,
                                "collected_at": f"2023-03-0{1 + i}T09:30:00"}}
                for i in range(4)]
    r = client.post("/api/v1/collections/points", headers=admin,
                    json={"type": "FeatureCollection", "features": features})
    assert r.status_code == 200, r.text
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT * FROM audit_event WHERE table_name = 'site_point'")).all()
        ids = conn.execute(text("SELECT id FROM site_point ORDER BY id")).scalars().all()
    assert len(rows) == 1
    assert rows[0].action == "insert" and rows[0].row_count == 4
    assert sorted(rows[0].record_ids) == ids
    assert rows[0].account_id == account_id(engine, "admin")
    assert rows[0].township_code == CANNEI
    # the same upload again stores nothing and records nothing
    assert client.post("/api/v1/collections/points", headers=admin, json={
        "type": "FeatureCollection", "features": features}).status_code == 200
    r = client.get(f"/api/v1/audit?table=site_point&id={ids[2]}", headers=admin).json()
    assert r["total"] == 1 and r["events"][0]["row_count"] == 4

    batch = client.post("/api/v1/patrols", headers=admin, json=[
        {"entity_id": pid, "inspector": "陈", "kind": "online",
         "patrolled_at": f"2023-05-0{d}T09:00:00"} for d in range(1, 6)])
    assert batch.status_code == 201, batch.text
    with engine.connect() as conn:
        patrols = conn.execute(text(
            "SELECT row_count, record_ids FROM audit_event WHERE table_name = 'patrol'")).all()
    assert [(p.row_count, sorted(p.record_ids)) for p in patrols] == [
        (5, sorted(batch.json()["ids"]))]


def test_the_trail_is_append_only(engine: Engine, client: TestClient) -> None:
    admin = login(client)
    client.post("/api/v1/producers", headers=admin, json={
        "name": "只追加", "kind": "buyer", "location": point_in(engine, CANNEI, 3)})
    for statement in ("UPDATE audit_event SET account_id = NULL",
                      "DELETE FROM audit_event", "TRUNCATE audit_event"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar_one() >= 1


def test_truncate_of_an_audited_table_needs_the_demo_loaders_setting(engine: Engine) -> None:
    for table in ("patrol", "site_point_rejection", "account"):
        with pytest.raises(DBAPIError, match="not allowed"), engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table} CASCADE"))
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL georeg.allow_truncate = 'on'"))
        conn.execute(text("TRUNCATE patrol"))
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT action, db_user FROM audit_event WHERE table_name = 'patrol'")).one()
    assert row.action == "truncate"


def test_the_command_line_shows_a_history(engine: Engine, client: TestClient, db_url: str,
                                          settings: Settings) -> None:
    from cli import main

    admin = login(client)
    r = client.post("/api/v1/producers", headers=admin, json={
        "name": "命令行审计", "kind": "buyer", "location": point_in(engine, CANNEI, 4)})
    pid = r.json()["id"]
    client.patch(f"/api/v1/producers/{pid}", headers=admin, json={"village": "西坪村"})
    env = {"GEOREG_DATABASE_URL": db_url, "GEOREG_STATE_DIR": str(settings.state_dir),
           "GEOREG_PII_KEY": settings.pii_key or ""}
    result = CliRunner().invoke(main, ["audit", "show", "entity", str(pid)], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "审计记录 2 条" in lines[0]
    assert "修改" in lines[1] and "admin" in lines[1]
    assert "village: None → 西坪村" in lines[2]
    assert "新增" in lines[3]


def test_a_bulk_pass_over_the_registry_is_one_row_per_statement(
        engine: Engine, client: TestClient) -> None:
    admin = login(client)
    ids = [client.post("/api/v1/producers", headers=admin, json={
        "name": f"批量{i}", "kind": "buyer", "location": point_in(engine, CANNEI, 30 + i)}
    ).json()["id"] for i in range(3)]
    with engine.begin() as conn:
        conn.execute(text("SELECT set_config('georeg.audit_rows', 'off', true)"))
        conn.execute(text("UPDATE entity SET village = '批量村' WHERE id = ANY(:ids)"),
                     {"ids": ids})
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT action, record_id, record_ids, row_count FROM audit_event "
            "WHERE table_name = 'entity' AND action <> 'insert'")).all()
    assert [(r.action, r.record_id, r.record_ids, r.row_count) for r in rows] == [
        ("update", None, sorted(ids), 3)]
    # the record's history finds the statement
    r = client.get(f"/api/v1/audit?table=entity&id={ids[1]}", headers=admin).json()
    assert [e["action"] for e in r["events"]] == ["update", "insert"]
