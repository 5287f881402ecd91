"""Deregistration (注销) instead of deletion: every record stays, reports count the entity in the
periods it was active, hard deletion only by an administrator of unreferenced records."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from api.app import create_app
from georeg.clock import fixed_clock
from georeg.config import Settings
from tests.helpers import login, point_in, square_around, uscc

CANNEI = "350524113000"  # 参内镇, account cnx05
PHONE = "13912345678"

ACTIVITY = ("patrol", "certificate", "rapid_test", "plot", "site_point")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=fixed_clock(datetime(2023, 8, 15, 10)))) as c:
        yield c


def counts(engine: Engine, entity_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t} WHERE entity_id = :e"),
                                {"e": entity_id}).scalar_one() for t in ACTIVITY}


def patrol(entity_id: int, day: date) -> dict[str, Any]:
    return {"entity_id": entity_id, "inspector": "陈监管", "kind": "online",
            "patrolled_at": f"{day}T09:00:00"}


def report_row(client: TestClient, month: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/reports/patrols?month={month}", headers=login(client))
    assert r.status_code == 200, r.text
    return next(x for x in r.json()["rows"] if x["township_code"] == CANNEI)


def producer_count(client: TestClient) -> int:
    fc = client.get("/api/v1/townships").json()
    return next(f["properties"]["producer_count"] for f in fc["features"]
                if f["properties"]["code"] == CANNEI)


@pytest.fixture
def farms(client: TestClient, engine: Engine) -> list[int]:
    """Three producers of 参内镇 with plots, May's daily patrols, certificates, a rapid test and
    a site point each."""
    admin = login(client)
    ids = []
    for i in range(3):
        site = point_in(engine, CANNEI, seed=400 + i)
        r = client.post("/api/v1/producers", headers=admin, json={
            "name": f"参内注销测试茶厂{i}", "kind": "enterprise", "uscc": uscc(400 + i),
            "phone": PHONE, "location": site})
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        ids.append(pid)
        plot = client.post(f"/api/v1/producers/{pid}/plots", headers=admin,
                           json={"commodity": "cowpea", "geometry": square_around(site)})
        assert plot.status_code == 201, plot.text
        point = client.post("/api/v1/collections/points", headers=admin, json={
            "type": "FeatureCollection", "features": [{
                "type": "Feature", "geometry": site, "properties": {
                    "client_uuid": str(uuid.uuid4()), "entity_id": pid, "commodity": "cowpea",
                    "collected_at": "2023-05-03T09:30:00", "accuracy_m": 5}}]})
        assert point.status_code == 200 and point.json()["results"][0]["status"] in (
            "accepted", "accepted_with_flags"), point.text
    may = [date(2023, 5, 1) + timedelta(days=d) for d in range(31)]
    r = client.post("/api/v1/patrols", headers=admin,
                    json=[patrol(p, day) for day in may for p in ids])
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/certificates", headers=admin, json=[
        {"entity_id": p, "batch_no": f"D-{p}-{i}", "issued_on": "2023-05-10", "quantity": 10,
         "trace_code": f"DT-{p}-{i}"} for p in ids for i in range(2)])
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/testing/rapid-tests", headers=admin, json=[
        {"entity_id": p, "commodity": "cowpea", "sampled_on": "2023-05-04",
         "method": "colloidal_gold", "parameter": "克百威", "result": "pass",
         "sample_no": f"DS-{p}"} for p in ids])
    assert r.status_code == 201, r.text
    return ids


def test_deregistration_keeps_every_record_and_the_earlier_reports(
        client: TestClient, engine: Engine, farms: list[int]) -> None:
    victim = farms[0]
    kept = counts(engine, victim)
    assert kept == {"patrol": 31, "certificate": 2, "rapid_test": 1, "plot": 1,
                    "site_point": 1}
    may_before = report_row(client, "2023-05")
    assert may_before["producers"] == 3 and may_before["monthly_patrols"] == 93
    assert report_row(client, "2023-07")["producers"] == 3
    assert producer_count(client) == 3

    r = client.post(f"/api/v1/producers/{victim}/deregister", headers=login(client, "cnx05"),
                    json={"on": "2023-06-30", "reason": "停止经营，营业执照已注销"})
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert props["status"] == "deregistered" and props["status_label"] == "已注销"
    assert props["deregistered_on"] == "2023-06-30"
    assert props["deregistration_reason"] == "停止经营，营业执照已注销"

    assert counts(engine, victim) == kept  # nothing cascaded, nothing deleted
    assert report_row(client, "2023-05") == may_before  # the period it was active: unchanged
    june = report_row(client, "2023-06")
    assert june["producers"] == 3  # active until 30 June
    july = report_row(client, "2023-07")
    assert july["producers"] == 2  # deregistered before July began
    assert producer_count(client) == 2  # today's count

    # readable by id, left out of lists unless asked for
    admin = login(client)
    one = client.get(f"/api/v1/producers/{victim}", headers=admin).json()["properties"]
    assert one["status_label"] == "已注销" and one["deregistered_on"] == "2023-06-30"

    def listed(status: str | None) -> set[int]:
        q = f"&status={status}" if status else ""
        r = client.get(f"/api/v1/producers?township={CANNEI}{q}", headers=admin)
        assert r.status_code == 200, r.text
        return {f["id"] for f in r.json()["features"]}

    assert listed(None) == set(farms[1:]) == listed("active")
    assert listed("deregistered") == {victim}
    assert listed("all") == set(farms)
    assert client.get("/api/v1/producers?status=gone", headers=admin).status_code == 422


def test_no_new_activity_after_deregistration(
        client: TestClient, engine: Engine, farms: list[int]) -> None:
    victim = farms[0]
    admin = login(client)
    assert client.post(f"/api/v1/producers/{victim}/deregister", headers=admin,
                       json={"on": "2023-06-30", "reason": "停产"}).status_code == 200
    # the last day is still a day of business
    assert client.post("/api/v1/patrols", headers=admin,
                       json=[patrol(victim, date(2023, 6, 30))]).status_code == 201
    r = client.post("/api/v1/patrols", headers=admin, json=[
        patrol(farms[1], date(2023, 7, 5)), patrol(victim, date(2023, 7, 5))])
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("[2].patrolled_at",
                                                          "entity_deregistered")]
    assert "2023-06-30" in errors[0]["message"] and "注销" in errors[0]["message"]
    r = client.post("/api/v1/certificates", headers=admin, json=[
        {"entity_id": victim, "batch_no": "late", "issued_on": "2023-07-02", "quantity": 1}])
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "entity_deregistered"
    r = client.post("/api/v1/testing/rapid-tests", headers=admin, json=[
        {"entity_id": victim, "commodity": "cowpea", "sampled_on": "2023-07-04",
         "method": "colloidal_gold", "parameter": "克百威", "result": "pass",
         "sample_no": "late"}])
    assert r.status_code == 422, r.text
    assert any(e["code"] == "entity_deregistered" for e in r.json()["errors"]), r.text
    # a site point collected after it: rejected with its own reason, nothing stored
    site = point_in(engine, CANNEI, seed=400)
    r = client.post("/api/v1/collections/points", headers=admin, json={
        "type": "FeatureCollection", "features": [{
            "type": "Feature", "geometry": site, "properties": {
                "client_uuid": str(uuid.uuid4()), "entity_id": victim, "commodity": "cowpea",
                "collected_at": "2023-07-03T09:30:00", "accuracy_m": 5}}]})
    result = r.json()["results"][0]
    assert result["status"] == "rejected", result
    assert counts(engine, victim)["site_point"] == 1
    # and the database refuses any other path, per statement
    with pytest.raises(IntegrityError, match="after its deregistration"), engine.begin() as conn:
        conn.execute(text("INSERT INTO patrol (entity_id, inspector, kind, patrolled_at, result) "
                          "VALUES (:e, '陈', 'online', '2023-07-01 09:00+08', 'normal')"),
                     {"e": victim})


def test_deregistration_is_checked(client: TestClient, engine: Engine,
                                   farms: list[int]) -> None:
    admin = login(client)
    url = f"/api/v1/producers/{farms[0]}/deregister"
    assert client.post(url, headers=admin, json={"on": "2023-06-30"}).status_code == 422
    r = client.post(url, headers=admin, json={"on": "2023-06-30", "reason": "   "})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = client.post(url, headers=admin, json={"on": "2023-08-16", "reason": "停产"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "in_future"
    with engine.begin() as conn:
        conn.execute(text("UPDATE entity SET registered_on = '2023-06-01' WHERE id = :e"),
                     {"e": farms[0]})
    r = client.post(url, headers=admin, json={"on": "2023-05-31", "reason": "停产"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "before_registration"
    # another township's account may not (row security hides the record: 404); its own may, once
    assert client.post(url, headers=login(client, "fcz01"),
                       json={"on": "2023-06-30", "reason": "停产"}).status_code == 404
    assert client.post(url, headers=login(client, "cnx05"),
                       json={"on": "2023-06-30", "reason": "停产"}).status_code == 200
    r = client.post(url, headers=admin, json={"on": "2023-07-30", "reason": "停产"})
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "already_deregistered"
    # a smallholder is deregistered under its own path only
    assert client.post(f"/api/v1/smallholders/{farms[1]}/deregister", headers=admin,
                       json={"on": "2023-06-30", "reason": "停产"}).status_code == 404


def test_hard_deletion_is_for_administrators_and_unreferenced_records(
        client: TestClient, engine: Engine, farms: list[int]) -> None:
    victim = farms[0]
    r = client.delete(f"/api/v1/producers/{victim}", headers=login(client, "cnx05"))
    assert r.status_code == 403 and "注销" in r.json()["detail"]
    admin = login(client)
    r = client.delete(f"/api/v1/producers/{victim}", headers=admin)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    named = {e["field"]: e["message"] for e in body["errors"]}
    assert named == {"certificate": "合格证 2 条", "patrol": "巡查记录 31 条",
                     "plot": "地块 1 条", "rapid_test": "快速检测记录 1 条",
                     "site_point": "溯源采集点位 1 条"}
    assert "参内注销测试茶厂" not in r.text and PHONE not in r.text  # no personal details
    assert counts(engine, victim)["patrol"] == 31

    # a record entered by mistake, nothing referring to it: the administrator may delete it
    mistake = client.post("/api/v1/producers", headers=admin, json={
        "name": "误录主体", "kind": "buyer", "location": point_in(engine, CANNEI, 9)}).json()["id"]
    assert client.delete(f"/api/v1/producers/{mistake}",
                         headers=login(client, "cnx05")).status_code == 403
    assert client.delete(f"/api/v1/producers/{mistake}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/producers/{mistake}", headers=admin).status_code == 404

    # plots: one with a site point is referenced; retire it instead
    with engine.connect() as conn:
        plot_id = conn.execute(text("SELECT id FROM plot WHERE entity_id = :e"),
                               {"e": victim}).scalar_one()
        conn.execute(text("UPDATE site_point SET plot_id = :p WHERE entity_id = :e"),
                     {"p": plot_id, "e": victim})
        conn.commit()
    assert client.delete(f"/api/v1/plots/{plot_id}", headers=login(client, "cnx05")
                         ).status_code == 403
    r = client.delete(f"/api/v1/plots/{plot_id}", headers=admin)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "site_point", r.text
    r = client.post(f"/api/v1/plots/{plot_id}/retire", headers=login(client, "cnx05"),
                    json={"on": "2023-08-01", "reason": "改种"})
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["retired_on"] == "2023-08-01"
    fc = client.get("/api/v1/townships").json()
    plots = next(f["properties"]["plot_count"] for f in fc["features"]
                 if f["properties"]["code"] == CANNEI)
    assert plots == 2  # the retired plot leaves today's count


def test_no_foreign_key_cascades_from_entity_or_plot(engine: Engine, client: TestClient,
                                                     farms: list[int]) -> None:
    with engine.connect() as conn:
        loose = conn.execute(text("""
            SELECT conrelid::regclass::text || '.' || conname FROM pg_constraint
            WHERE contype = 'f' AND confrelid IN ('entity'::regclass, 'plot'::regclass)
              AND confdeltype <> 'r'""")).scalars().all()
    assert loose == []
    with pytest.raises(IntegrityError, match="violates foreign key"), engine.begin() as conn:
        conn.execute(text("DELETE FROM plot WHERE entity_id = :e"), {"e": farms[0]})
        conn.execute(text("DELETE FROM patrol WHERE entity_id = :e"), {"e": farms[0]})
        conn.execute(text("DELETE FROM certificate WHERE entity_id = :e"), {"e": farms[0]})
        conn.execute(text("DELETE FROM rapid_test WHERE entity_id = :e"), {"e": farms[0]})
        conn.execute(text("DELETE FROM entity WHERE id = :e"), {"e": farms[0]})  # points left
    assert counts(engine, farms[0])["site_point"] == 1


def test_sampling_frames_leave_out_entities_deregistered_before_the_day(
        client: TestClient, engine: Engine, farms: list[int]) -> None:
    from georeg.sampling.candidates import fetch_frame

    admin = login(client)
    assert client.post(f"/api/v1/producers/{farms[0]}/deregister", headers=admin,
                       json={"on": "2023-06-30", "reason": "停产"}).status_code == 200

    def frame_ids(day: date) -> set[int]:
        with engine.connect() as conn:
            area = conn.execute(text("SELECT ST_AsEWKB(boundary) FROM township WHERE code = :c"),
                                {"c": CANNEI}).scalar_one()
            frame = fetch_frame(conn, area_ewkb=bytes(area), commodities=["cowpea"],
                                srid=4547, today=day, exclude_days=0, with_credit=False)
        return {int(i) for i in frame.entity_id}

    assert frame_ids(date(2023, 6, 30)) == set(farms)
    assert frame_ids(date(2023, 7, 1)) == set(farms[1:])
