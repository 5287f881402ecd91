"""Patrols, certificates and the progress report against the county's 2023 targets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from georeg.clock import fixed_clock
from georeg.config import Settings
from tests.helpers import login, point_in, resident_id, uscc

CANNEI = "350524113000"  # 参内镇: 12 producers, 240 patrols a month, 372 trace codes, 4 certs


def app_on(settings: Settings, day: datetime) -> TestClient:
    return TestClient(create_app(settings, clock=fixed_clock(day)))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with app_on(settings, datetime(2023, 6, 15, 10)) as c:
        yield c


@pytest.fixture
def producers(client: TestClient, engine: Engine) -> list[int]:
    admin = login(client)
    return [client.post("/api/v1/producers", headers=admin, json={
        "name": f"参内茶厂{i}", "kind": "enterprise", "uscc": uscc(200 + i),
        "location": point_in(engine, CANNEI, seed=300 + i)}).json()["id"] for i in range(12)]


def patrol(entity_id: int, when: str, **extra: Any) -> dict[str, Any]:
    return {"entity_id": entity_id, "inspector": "陈监管", "kind": "online",
            "patrolled_at": when, **extra}


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_a_bad_batch_names_its_records_and_stores_nothing(
        client: TestClient, producers: list[int], engine: Engine) -> None:
    r = client.post("/api/v1/patrols", headers=login(client), json=[
        patrol(producers[0], "2023-06-01T09:00:00"),
        patrol(999_999, "2023-06-01T09:00:00"),
        patrol(producers[1], "2023-06-20T09:00:00"),  # after the app's today (15 June)
        patrol(producers[2], "2023-06-01T09:00:00", result="problem"),
    ])
    assert r.status_code == 422
    fields = {(e["field"], e["code"]) for e in r.json()["errors"]}
    assert fields == {("[2].entity_id", "unknown_entity"), ("[3].patrolled_at", "in_future"),
                      ("[4].findings", "required")}
    assert count(engine, "patrol") == 0


def test_patrols_are_scoped_and_idempotent_by_external_id(
        client: TestClient, producers: list[int], engine: Engine) -> None:
    body = [patrol(producers[0], "2023-06-01T09:00:00", external_id="P-1"),
            patrol(producers[1], "2023-06-01T23:30:00+08:00", kind="field", result="problem",
                   findings="农药记录不全", follow_up="三日内补齐", follow_up_due="2023-06-04")]
    r = client.post("/api/v1/patrols", headers=login(client, "cnx05"), json=body)
    assert r.status_code == 201 and r.json()["created"] == 2
    again = client.post("/api/v1/patrols", headers=login(client, "cnx05"), json=body[:1])
    assert again.json() == {"created": 0, "ids": [], "skipped_existing": 1}
    assert client.post("/api/v1/patrols", headers=login(client, "fcz01"),
                       json=body[:1]).status_code == 422  # out of that account's scope
    with engine.connect() as conn:
        days = conn.execute(text("SELECT day FROM patrol ORDER BY id")).scalars().all()
    assert days == [date(2023, 6, 1), date(2023, 6, 1)]  # 23:30 CST is still 1 June


def test_certificates_refuse_duplicates_and_future_dates(
        client: TestClient, producers: list[int]) -> None:
    admin = login(client)
    cert = {"entity_id": producers[0], "batch_no": "B-1", "issued_on": "2023-06-01",
            "commodity": "tea", "quantity": 50, "trace_code": "TC-0001"}
    assert client.post("/api/v1/certificates", headers=admin, json=[cert]).status_code == 201
    dup_code = dict(cert, batch_no="B-2")
    assert client.post("/api/v1/certificates", headers=admin, json=[dup_code]).status_code == 409
    future = dict(cert, batch_no="B-3", trace_code=None, issued_on="2023-07-01")
    r = client.post("/api/v1/certificates", headers=admin, json=[future])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "[1].issued_on"


def test_progress_against_the_2023_plan(
        settings: Settings, client: TestClient, producers: list[int], engine: Engine) -> None:
    admin = login(client)
    may = [date(2023, 5, 1) + timedelta(days=d) for d in range(31)]
    batch = [patrol(p, f"{day}T09:00:00") for day in may for p in producers
             if not (p == producers[0] and day == date(2023, 5, 20))]  # one missed
    assert client.post("/api/v1/patrols", headers=admin, json=batch).status_code == 201
    certs = [{"entity_id": p, "batch_no": f"{p}-{i}", "issued_on": f"2023-0{1 + i % 5}-10",
              "quantity": 10, "trace_code": f"TC-{p}-{i}"}
             for p in producers for i in range(3 if p == producers[-1] else 10)]
    holder = client.post("/api/v1/smallholders", headers=admin, json={
        "name": "参内散户", "resident_id": resident_id(5),
        "location": point_in(engine, CANNEI, 77)}).json()["id"]
    certs += [{"entity_id": holder, "batch_no": f"S-{i}", "issued_on": "2023-04-01",
               "quantity": 5} for i in range(2)]
    assert client.post("/api/v1/certificates", headers=admin, json=certs).status_code == 201

    r = client.get("/api/v1/reports/patrols?month=2023-05", headers=admin)
    row = next(x for x in r.json()["rows"] if x["township_code"] == CANNEI)
    assert row["producers"] == 12 and row["days"] == 31
    assert row["full_coverage_days"] == 30
    assert row["daily_coverage_percent"] == round(100 * (12 * 31 - 1) / (12 * 31), 1)
    assert row["monthly_patrols"] == 12 * 31 - 1 and row["monthly_patrols_target"] == 240
    share = (date(2023, 5, 31) - date(2023, 1, 1)).days + 1
    assert row["trace_codes_ytd"] == 11 * 10 + 3
    assert row["trace_codes_target_ytd"] == -(-372 * share // 365)  # 372 = 31 x 12
    assert [p["entity_id"] for p in row["producers_below_20_names"]] == [producers[-1]]
    assert row["smallholder_certificates_ytd"] == 2
    assert row["smallholder_certificates_target_ytd"] == -(-4 * share // 365)
    assert set(row["behind"]) == {"daily_coverage", "trace_codes"}
    assert "参内镇" in r.json()["behind"]

    with app_on(settings, datetime(2024, 1, 10)) as later:
        year_end = later.get("/api/v1/reports/patrols?month=2023-12", headers=login(later))
    row = next(x for x in year_end.json()["rows"] if x["township_code"] == CANNEI)
    assert row["trace_codes_target_ytd"] == 372 and row["monthly_patrols_target"] == 240
    assert row["smallholder_certificates_target_ytd"] == 4
    totals = year_end.json()["rows"]
    assert sum(x["trace_codes_target_ytd"] for x in totals) == 20_615
    assert sum(x["plan_targets"]["monthly_patrols"] for x in totals) == 13_300
    assert len(row["producers_below_20_names"]) == 12  # nobody reached 20 batches in 2023

    csv_body = client.get("/api/v1/reports/patrols?month=2023-05&format=csv", headers=admin)
    assert csv_body.content.startswith(b"\xef\xbb\xbf")
    assert "日巡查覆盖率(%)" in csv_body.content.decode("utf-8-sig").splitlines()[0]
    assert client.get("/api/v1/reports/patrols?month=2023-13", headers=admin).status_code == 422


def test_patrol_and_certificate_files(
        client: TestClient, producers: list[int], engine: Engine, settings: Settings,
        tmp_path) -> None:
    import io

    from click.testing import CliRunner
    from openpyxl import Workbook

    from cli import main

    admin = login(client)
    with engine.connect() as conn:
        coded = conn.execute(text("SELECT uscc FROM entity WHERE id = :i"),
                             {"i": producers[1]}).scalar()
    good = ("安溪县巡查台账\n"  # a title row above the header
            "主体编号,统一社会信用代码,巡查人,方式,巡查时间,结果,发现问题,编号\n"
            f"{producers[0]},,陈监管,线上,2023-06-01 09:00,正常,,F-1\n"
            f",{coded},林协管,现场,2023/6/2,发现问题,农药记录不全,F-2\n")
    r = client.post("/api/v1/patrols/import", headers=admin,
                    files={"file": ("巡查.csv", good.encode("gb18030"), "text/csv")})
    assert r.status_code == 201, r.text
    assert r.json()["created"] == 2
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT entity_id, kind, result, day FROM patrol "
                                   "ORDER BY id")).all()
    assert [tuple(s) for s in stored] == [(producers[0], "online", "normal", date(2023, 6, 1)),
                                          (producers[1], "field", "problem", date(2023, 6, 2))]
    bad = ("主体编号,巡查人,方式,巡查时间\n"
           f"{producers[0]},陈监管,线上,2023-06-03 09:00\n"
           "999999,陈监管,线上,2023-06-03 09:00\n"
           f"{producers[2]},陈监管,飞行,昨天\n")
    r = client.post("/api/v1/patrols/import", headers=admin,
                    files={"file": ("p.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"[3].entity_id", "[4].kind", "[4].patrolled_at"}  # rows as Excel shows
    assert count(engine, "patrol") == 2  # nothing from the bad file

    wb = Workbook()
    ws = wb.active
    ws.append(["统一社会信用代码", "批次号", "开证日期", "品种", "数量", "追溯码"])
    ws.append([coded, "X-1", datetime(2023, 6, 1), "茶叶", 120, "TC-X-1"])
    buf = io.BytesIO()
    wb.save(buf)
    path = tmp_path / "合格证.xlsx"
    path.write_bytes(buf.getvalue())
    env = {"GEOREG_DATABASE_URL": settings.url(), "GEOREG_PII_KEY": settings.pii_key or "",
           "GEOREG_STATE_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["import", "certificates", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert "导入 1 条" in result.output
    with engine.connect() as conn:
        cert = conn.execute(text("SELECT entity_id, commodity, quantity, trace_code "
                                 "FROM certificate")).one()
    assert tuple(cert) == (producers[1], "tea", 120, "TC-X-1")
