"""Settling lab samples to review (复核判定): decisions, the credit record, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from api.app import create_app
from georeg.accounts import Role, ensure_account, get_account
from georeg.clock import fixed_clock
from georeg.config import Settings
from georeg.credit.listing import current_members
from georeg.database import transaction
from importers import testing_files
from tests.conftest import TEST_PASSWORD
from tests.helpers import login

MRL_FIXTURE = Path(__file__).parent / "fixtures" / "mrl_fixture.csv"  # invented limits
CANNEI = "350524113000"  # 参内镇 (account cnx05)
TODAY = datetime(2023, 12, 31, 10)
NO_LIMIT, OTHER = "未列入农药", "另一未列入农药"  # no row in the fixture: judged no_limit
BASIS = "参照 GB 2763-2021 同类蔬菜限量 0.05 mg/kg"


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with engine.begin() as conn:
        ensure_account(conn, username="xj01", display_name="县农安中心复核员",
                       role=Role.county_supervisor, password=TEST_PASSWORD)
        ensure_account(conn, username="clerk01", display_name="信用管理员",
                       role=Role.credit_clerk, password=TEST_PASSWORD)
    with transaction(engine, TODAY.date()) as conn:
        admin = get_account(conn, conn.execute(text(
            "SELECT id FROM account WHERE username = 'admin'")).scalar_one())
        assert admin is not None
        testing_files.import_mrl(conn, MRL_FIXTURE.read_bytes(), "mrl_fixture.csv", account=admin)
    with TestClient(create_app(settings, clock=fixed_clock(TODAY))) as c:
        yield c


def entity(engine: Engine, name: str) -> int:
    with engine.begin() as conn:
        return conn.execute(text("""
            INSERT INTO entity (kind, name, township_code, location)
            SELECT 'enterprise', :name, code, ST_PointOnSurface(boundary) FROM township
            WHERE code = :t RETURNING id"""), {"name": name, "t": CANNEI}).scalar_one()


def found(substance: str, value: float) -> dict[str, Any]:
    return {"substance": substance, "value_mg_kg": value}


def sample(client: TestClient, entity_id: int, report_no: str, *analytes: dict[str, Any],
           kind: str = "routine_monitoring") -> dict[str, Any]:
    r = client.post("/api/v1/testing/lab-results", headers=login(client), json={
        "entity_id": entity_id, "commodity": "cowpea", "sampled_on": "2023-06-01",
        "kind": kind, "lab": "测试检测站", "report_no": report_no, "analytes": list(analytes)})
    assert r.status_code == 201, r.text
    return r.json()["samples"][0]


def decide(substance: str, judgement: str, **extra: Any) -> dict[str, Any]:
    return {"substance": substance, "judgement": judgement, "basis": BASIS, **extra}


def settle(client: TestClient, sample_id: int, *decisions: dict[str, Any],
           user: str = "xj01", **body: Any) -> Any:
    return client.post(f"/api/v1/testing/lab-results/{sample_id}/review", headers=login(
        client, user), json={"decisions": list(decisions), **body})


def events(engine: Engine, entity_id: int) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT kind, outcome, evidence_ref, summary FROM credit_event "
            "WHERE entity_id = :e ORDER BY id"), {"e": entity_id})]


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    """Everything a settlement writes, to show that a refusal wrote none of it."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("""
            SELECT s.id, s.result, s.reviewed_by, s.reviewed_at, s.review_note, s.credit_event_id,
                   a.substance, a.judgement, a.review_judgement, a.review_basis,
                   a.review_limit_mg_kg
            FROM lab_sample s JOIN lab_analyte a ON a.sample_id = s.id ORDER BY a.id"""))] + [
            ("events", conn.execute(text("SELECT count(*) FROM credit_event")).scalar_one()),
            ("listed", conn.execute(text(
                "SELECT count(*) FROM key_supervision_listing")).scalar_one())]


def test_settling_as_fail_writes_one_failure_and_lists_the_entity(
        client: TestClient, engine: Engine) -> None:
    pid = entity(engine, "待复核豆农")
    s = sample(client, pid, "R-1", found(NO_LIMIT, 0.3), found("测试农药甲", 0.1),
               found(OTHER, 0.02))  # 测试农药甲 within the cowpea limit 0.5: passes by itself
    assert s["result"] == "review" and events(engine, pid) == []
    queue = client.get("/api/v1/testing/lab-results?result=review", headers=login(client))
    assert [i["id"] for i in queue.json()["items"]] == [s["id"]]

    r = settle(client, s["id"], decide(NO_LIMIT, "fail", limit_mg_kg=0.05),
               decide(OTHER, "pass", basis="参照同类限量 0.05 mg/kg，未超过"), note="复核意见")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["result"], body["result_label"]) == ("fail", "不合格")  # one fail is enough
    assert (body["automatic_result"], body["review"]["reviewed_by_name"], body["review"]["note"]) \
        == ("review", "县农安中心复核员", "复核意见")
    assert body["review"]["reviewed_at"] is not None
    # the automatic judgements are kept; the decisions stand beside them
    assert [(a["substance"], a["judgement"], a["decision"] and a["decision"]["judgement"])
            for a in body["analytes"]] == [
        (NO_LIMIT, "no_limit", "fail"), ("测试农药甲", "pass", None), (OTHER, "no_limit", "pass")]
    assert body["analytes"][0]["decision"] == {
        "judgement": "fail", "judgement_label": "不合格", "basis": BASIS, "limit_mg_kg": 0.05}
    assert body["analytes"][2]["decision"]["limit_mg_kg"] is None

    [(kind, outcome, ref, summary)] = events(engine, pid)
    assert (kind, outcome, ref) == ("sampling", "fail", f"lab_sample:{s['id']}")
    assert summary == (f"例行监测不合格（复核判定）：豇豆，{NO_LIMIT} 0.3 mg/kg（复核判定不合格，"
                       f"参考限量 0.05 mg/kg，依据：{BASIS}）")
    assert body["credit_event_id"] is not None
    with engine.connect() as conn:
        members = current_members(conn)
    assert [(m["entity_id"], m["reasons"]) for m in members] == [(pid, "近12个月抽样检测不合格")]
    listing = client.get("/api/v1/credit/key-supervision", headers=login(client, "clerk01"))
    assert [row["entity_id"] for row in listing.json()["rows"]] == [pid]

    # the queue is empty; the listing shows the decision
    assert client.get("/api/v1/testing/lab-results?result=review",
                      headers=login(client)).json()["total"] == 0
    [listed] = client.get("/api/v1/testing/lab-results?result=fail",
                          headers=login(client)).json()["items"]
    assert listed == body


def test_settling_as_pass_writes_an_event_only_for_supervisory_sampling(
        client: TestClient, engine: Engine) -> None:
    routine, supervised = entity(engine, "例行监测主体"), entity(engine, "监督抽查主体")
    a = sample(client, routine, "R-1", found(NO_LIMIT, 0.3))
    b = sample(client, supervised, "R-2", found(NO_LIMIT, 0.3), {"substance": "克百威",
               "not_detected": True}, kind="supervisory_sampling")
    assert settle(client, a["id"], decide(NO_LIMIT, "合格")).json()["result"] == "pass"
    r = settle(client, b["id"], decide(NO_LIMIT, "pass", limit_mg_kg=0.5), user="admin")
    assert r.status_code == 200, r.text
    assert (r.json()["result"], r.json()["analytes"][0]["decision"]["judgement"]) == (
        "pass", "pass")
    assert events(engine, routine) == []
    assert events(engine, supervised) == [("sampling", "pass", f"lab_sample:{b['id']}",
                                           "监督抽查合格（复核判定）：豇豆，检测 2 项")]
    with engine.connect() as conn:
        assert current_members(conn) == []
        linked = conn.execute(text("SELECT id, credit_event_id FROM lab_sample ORDER BY id")).all()
    assert [(i, e is not None) for i, e in linked] == [(a["id"], False), (b["id"], True)]


def test_refused_settlements_name_the_field_and_write_nothing(
        client: TestClient, engine: Engine) -> None:
    pid = entity(engine, "待复核主体")
    s = sample(client, pid, "R-1", found(NO_LIMIT, 0.3), found("测试农药甲", 0.1),
               found(OTHER, 0.02))
    done = sample(client, pid, "R-2", found("测试农药甲", 0.1))  # passed by the MRL table
    before = stored(engine)
    both = (decide(NO_LIMIT, "fail"), decide(OTHER, "pass"))

    def refused(status: int, *decisions: dict[str, Any], sample_id: int = s["id"],
                user: str = "xj01", **body: Any) -> list[tuple[str, str]]:
        r = settle(client, sample_id, *decisions, user=user, **body)
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        return [(e["field"], e["code"]) for e in r.json().get("errors", [])]

    assert refused(422, decide(NO_LIMIT, "fail")) == [("decisions", "missing_decision")]
    assert refused(422) == [("decisions", "required"), ("decisions", "missing_decision"),
                            ("decisions", "missing_decision")]
    assert refused(422, *both, decide("不存在的农药", "fail")) == [
        ("decisions[3].substance", "unknown_substance")]
    assert refused(422, *both, decide("测试农药甲", "pass")) == [
        ("decisions[3].substance", "not_under_review")]
    assert refused(422, *both, decide(NO_LIMIT, "pass")) == [
        ("decisions[3].substance", "duplicate")]
    assert refused(422, {"substance": NO_LIMIT, "judgement": "maybe", "basis": " ",
                         "limit_mg_kg": -1, "standard": "x"}, both[1]) == [
        ("decisions[1].standard", "not_allowed"), ("decisions[1].judgement", "invalid_choice"),
        ("decisions[1].basis", "required"), ("decisions[1].limit_mg_kg", "invalid_number")]
    # a reference limit above the value cannot back a failure
    assert refused(422, decide(NO_LIMIT, "fail", limit_mg_kg=0.5), both[1]) == [
        ("decisions[1].judgement", "contradicts_limit")]
    assert refused(422, *both, notes="x") == [("notes", "not_allowed")]
    assert refused(409, decide("测试农药甲", "pass"), sample_id=done["id"]) == [
        ("sample_id", "not_under_review")]
    assert refused(403, *both, user="cnx05") == []  # a township account
    assert refused(403, *both, user="clerk01") == []
    assert refused(404, *both, sample_id=999_999) == [("sample_id", "not_found")]
    assert stored(engine) == before

    assert settle(client, s["id"], *both).status_code == 200
    settled = stored(engine)
    assert settled != before and settled[-2] == ("events", 1)
    assert refused(409, decide(NO_LIMIT, "pass"), decide(OTHER, "pass")) == [
        ("sample_id", "already_settled")]
    assert stored(engine) == settled  # the decision stands, one event


def test_the_decision_is_final_in_the_database(client: TestClient, engine: Engine) -> None:
    pid = entity(engine, "复核主体")
    s = sample(client, pid, "R-1", found(NO_LIMIT, 0.3))
    # a result moves only by a review
    with engine.connect() as conn, pytest.raises(IntegrityError, match="lab_sample_keep_result"):
        conn.execute(text("UPDATE lab_sample SET result = 'pass' WHERE id = :id"), {"id": s["id"]})
    assert settle(client, s["id"], decide(NO_LIMIT, "fail")).status_code == 200
    for sql in ("UPDATE lab_analyte SET review_judgement = 'pass'",
                "UPDATE lab_analyte SET judgement = 'fail'"):
        with engine.connect() as conn, pytest.raises(IntegrityError, match="lab_analyte_keep"):
            conn.execute(text(sql))
    with engine.connect() as conn, pytest.raises(IntegrityError, match="lab_sample_keep_result"):
        conn.execute(text("UPDATE lab_sample SET review_note = '改'"))
