"""Credit records and the key-supervision list (issue 5), against the real database."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from api.app import create_app
from api.routers import credit as credit_router
from cli import main as cli_main
from georeg import credit
from georeg.accounts import Role, ensure_account
from georeg.clock import fixed_clock
from georeg.config import Settings
from georeg.credit.rating import RatingRules, months_before, rules_key
from georeg.database import transaction
from georeg.errors import Conflict, InvalidInput
from tests.conftest import TEST_PASSWORD
from tests.helpers import login, point_in, resident_id, uscc

CANNEI = "350524113000"  # 参内镇, account cnx05
FENGCHENG = "350524100000"  # 凤城镇
TODAY = date(2025, 6, 30)
RID = resident_id(42)
PHONE = "13912345678"


# --- fixtures and helpers ------------------------------------------------------------------

@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    # the template's demo accounts already hold these names (importers.demo.accounts): a no-op
    with engine.begin() as conn:
        ensure_account(conn, username="clerk01", display_name="信用管理员",
                       role=Role.credit_clerk, password=TEST_PASSWORD)
        ensure_account(conn, username="county01", display_name="县农安中心监管员",
                       role=Role.county_supervisor, password=TEST_PASSWORD)
        ensure_account(conn, username="col05", display_name="参内镇采集员",
                       role=Role.collector, password=TEST_PASSWORD, township_code=CANNEI)
    app = create_app(settings, clock=fixed_clock(datetime(2025, 6, 30, 10)))
    if not any(getattr(r, "path", "").startswith("/api/v1/credit") for r in app.routes):
        app.include_router(credit_router.router, prefix="/api/v1")
    with TestClient(app) as c:
        yield c


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    return login(client, "admin")


@pytest.fixture
def clerk(client: TestClient) -> dict[str, str]:
    return login(client, "clerk01")


def make_producer(client: TestClient, engine: Engine, auth: dict, *, serial: int,
                  township: str = CANNEI, name: str | None = None) -> int:
    r = client.post("/api/v1/producers", headers=auth, json={
        "name": name or f"安溪县测试{serial}茶业有限公司", "kind": "enterprise",
        "uscc": uscc(serial), "phone": "13812345678",
        "location": point_in(engine, township, seed=serial)})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def make_smallholder(client: TestClient, engine: Engine, auth: dict) -> int:
    r = client.post("/api/v1/smallholders", headers=auth, json={
        "name": "陈阿福", "resident_id": RID, "phone": PHONE,
        "location": point_in(engine, CANNEI, seed=77)})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def event(kind: str, day: str, outcome: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"kind": kind, "occurred_on": day, "summary": f"{kind} {day}",
            "issuing_unit": "安溪县农业农村局", "document_no": "安农罚〔2025〕1号", **extra}
    if outcome:
        body["outcome"] = outcome
    return body


def post_event(client: TestClient, auth: dict, entity_id: int, body: dict) -> Any:
    return client.post(f"/api/v1/credit/{entity_id}/events", headers=auth, json=body)


def assert_problem(r: Any, status: int, field: str | None = None,
                   code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    if field:
        assert any(e["field"] == field and (code is None or e["code"] == code)
                   for e in body["errors"]), body
    return body


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def account_id(engine: Engine, username: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT id FROM account WHERE username = :u"),
                            {"u": username}).scalar_one()


def flag(engine: Engine, entity_id: int) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT key_supervision FROM entity WHERE id = :id"),
                            {"id": entity_id}).scalar_one()


# --- events ----------------------------------------------------------------------------------

KIND_CASES = [
    ("licence", None, "行政许可", None),
    ("penalty", "major", "行政处罚", "严重"),
    ("patrol", "normal", "日常巡查", "未发现问题"),
    ("sampling", "pass", "抽样检测", "合格"),
    ("special_inspection", "problem", "专项检查", "发现问题"),
    ("reward", None, "奖励", None),
]


def test_each_event_kind_is_recorded_with_its_labels(
        client: TestClient, engine: Engine, admin: dict, clerk: dict) -> None:
    pid = make_producer(client, engine, admin, serial=1)
    for i, (kind, outcome, _, _) in enumerate(KIND_CASES):
        r = post_event(client, clerk, pid, event(kind, f"2025-0{i + 1}-15", outcome,
                                                 evidence_ref=f"档案盒{i}"))
        assert r.status_code == 201, r.text
        assert r.json()["kind"] == kind and r.json()["status"] == "effective"
    record = client.get(f"/api/v1/credit/{pid}", headers=clerk).json()
    events = sorted(record["events"], key=lambda e: e["occurred_on"])
    got = [(e["kind"], e["outcome"], e["kind_label"], e["outcome_label"]) for e in events]
    assert got == KIND_CASES
    assert {e["recorded_by"] for e in events} == {"信用管理员"}
    assert events[0]["evidence_ref"] == "档案盒0" and events[0]["action"] == "record"

    # outcomes belong to their kinds
    assert_problem(post_event(client, clerk, pid, event("sampling", "2025-06-01")), 422,
                   "outcome", "invalid_outcome")
    assert_problem(post_event(client, clerk, pid, event("penalty", "2025-06-01", "fail")), 422,
                   "outcome", "invalid_outcome")
    assert_problem(post_event(client, clerk, pid, event("licence", "2025-06-01", "pass")), 422,
                   "outcome", "not_allowed")
    assert_problem(post_event(client, clerk, pid, event("visit", "2025-06-01")), 422, "kind")
    assert_problem(post_event(client, clerk, pid, {**event("reward", "2025-06-01"),
                                                   "summary": "  "}), 422, "summary")
    assert count(engine, "credit_event") == 6


def test_bad_input_is_a_clear_4xx_and_changes_nothing(
        client: TestClient, engine: Engine, admin: dict, clerk: dict) -> None:
    pid = make_producer(client, engine, admin, serial=1)
    other = make_producer(client, engine, admin, serial=2)
    first = post_event(client, clerk, pid, event("reward", "2025-05-01")).json()["id"]
    foreign = post_event(client, clerk, other, event("reward", "2025-05-01")).json()["id"]
    before = count(engine, "credit_event")

    assert_problem(post_event(client, clerk, 999_999, event("reward", "2025-05-01")), 404,
                   "entity_id", "unknown_entity")
    assert_problem(post_event(client, clerk, pid, event("reward", "2025-07-01")), 422,
                   "occurred_on", "in_future")
    assert_problem(post_event(client, clerk, pid, {"corrects": 999_999, "action": "void",
                                                   "reason": "录入错误"}),
                   422, "corrects", "unknown_event")
    assert_problem(post_event(client, clerk, pid, {"corrects": foreign, "action": "void",
                                                   "reason": "录入错误"}),
                   422, "corrects", "other_entity")
    assert_problem(post_event(client, clerk, pid, {"corrects": first, "action": "void"}),
                   422, "reason", "required")
    assert_problem(post_event(client, clerk, pid, {"corrects": first, "action": "void",
                                                   "reason": "错", "summary": "新摘要"}),
                   422, "action", "void_with_changes")
    assert_problem(post_event(client, clerk, pid, {**event("reward", "2025-05-01"),
                                                   "reason": "无"}), 422, "reason")
    assert count(engine, "credit_event") == before

    # The database refuses the same on its own (a caller that skips the Python checks).
    admin_id = account_id(engine, "admin")
    with pytest.raises(InvalidInput) as future, transaction(engine, today=TODAY) as conn:
        conn.execute(text("INSERT INTO credit_event (entity_id, kind, occurred_on, summary, "
                          "recorded_by) VALUES (:e, 'reward', '2025-07-01', 'x', :a)"),
                     {"e": pid, "a": admin_id})
    assert future.value.errors[0].field == "occurred_on"
    with pytest.raises(InvalidInput) as cross, transaction(engine, today=TODAY) as conn:
        conn.execute(text("INSERT INTO credit_event (entity_id, kind, occurred_on, summary, "
                          "action, corrects, reason, recorded_by) "
                          "VALUES (:e, 'reward', '2025-05-01', 'x', 'void', :c, 'r', :a)"),
                     {"e": pid, "c": foreign, "a": admin_id})
    assert cross.value.errors[0].code == "other_entity"
    assert count(engine, "credit_event") == before


def test_corrections_amend_and_void_and_the_record_is_append_only(
        client: TestClient, engine: Engine, admin: dict, clerk: dict) -> None:
    pid = make_producer(client, engine, admin, serial=1)
    penalty = post_event(client, clerk, pid, event("penalty", "2025-03-01", "minor")).json()
    reward = post_event(client, clerk, pid, event("reward", "2025-04-01")).json()
    assert client.get(f"/api/v1/credit/{pid}", headers=clerk).json()["rating"]["score"] == 95

    amended = post_event(client, clerk, pid, {"corrects": penalty["id"], "action": "amend",
                                              "outcome": "major", "reason": "处罚决定书为严重"})
    assert amended.status_code == 201, amended.text
    a = amended.json()
    # Unchanged fields are carried over from the corrected event.
    assert (a["kind"], a["outcome"], a["occurred_on"], a["summary"], a["corrects"]) == \
        ("penalty", "major", "2025-03-01", penalty["summary"], penalty["id"])
    voided = post_event(client, clerk, pid, {"corrects": reward["id"], "action": "void",
                                             "reason": "奖励已撤销"}).json()

    record = client.get(f"/api/v1/credit/{pid}", headers=clerk).json()
    by_id = {e["id"]: e for e in record["events"]}
    assert by_id[penalty["id"]]["status"] == "superseded"
    assert by_id[penalty["id"]]["superseded_by"] == a["id"]
    assert by_id[a["id"]]["status"] == "effective"
    assert by_id[a["id"]]["corrected"]["id"] == penalty["id"]
    assert by_id[a["id"]]["action_label"] == "更正" and by_id[a["id"]]["reason"]
    assert by_id[reward["id"]]["status"] == "voided"
    assert by_id[voided["id"]]["status"] == "void"
    assert by_id[voided["id"]]["corrected"]["id"] == reward["id"]
    # 100 - 40 (amended to major); the voided reward no longer counts
    rating = record["rating"]
    assert rating["score"] == 60 and rating["grade"] == "C"
    assert [(m["event_id"], m["version_id"], m["points"]) for m in rating["moves"]] == \
        [(penalty["id"], a["id"], -40)]

    # A correction of a correction stays in the same chain; the newest row wins.
    again = post_event(client, clerk, pid, {"corrects": a["id"], "action": "amend",
                                            "outcome": "minor", "reason": "复议改为一般"})
    assert again.status_code == 201
    assert client.get(f"/api/v1/credit/{pid}", headers=clerk).json()["rating"]["score"] == 85

    # UPDATE and DELETE are refused by the trigger, with or without the translation layer.
    for sql in ("UPDATE credit_event SET summary = 'changed' WHERE id = :id",
                "DELETE FROM credit_event WHERE id = :id"):
        with pytest.raises(IntegrityError) as raw, engine.begin() as conn:
            conn.execute(text(sql), {"id": penalty["id"]})
        assert raw.value.orig.diag.constraint_name == "credit_event_append_only"
        with pytest.raises(Conflict), transaction(engine) as conn:
            conn.execute(text(sql), {"id": penalty["id"]})
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT summary, outcome FROM credit_event WHERE id = :id"),
                            {"id": penalty["id"]}).one()
    assert tuple(kept) == (penalty["summary"], "minor")
    # ...and an entity with a credit record cannot be deleted (the refusal names it, sql/020)
    assert_problem(client.delete(f"/api/v1/producers/{pid}", headers=admin), 409,
                   "credit_event", "referenced")


def test_only_demo_entities_events_may_be_purged_and_only_when_asked(
        client: TestClient, engine: Engine, admin: dict, clerk: dict) -> None:
    real = make_producer(client, engine, admin, serial=1)
    demo = make_producer(client, engine, admin, serial=2)
    with engine.begin() as conn:
        conn.execute(text("UPDATE entity SET origin = 'demo' WHERE id = :id"), {"id": demo})
    for entity_id in (real, demo):
        first = post_event(client, clerk, entity_id, event("reward", "2025-05-01")).json()
        post_event(client, clerk, entity_id, {"corrects": first["id"], "action": "void",
                                              "reason": "测试"})
    purge = text("DELETE FROM credit_event WHERE entity_id = :e")
    allow = text("SET LOCAL georeg.purge_demo = 'on'")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(purge, {"e": demo})  # not asked for
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(allow)
        conn.execute(purge, {"e": real})  # asked for, but not demo data
    with engine.begin() as conn:
        conn.execute(allow)
        conn.execute(purge, {"e": demo})
        # nothing cascades from an entity (sql/020): its standing goes too, as in the demo loader
        conn.execute(text("DELETE FROM credit_standing WHERE entity_id = :e"), {"e": demo})
        conn.execute(text("DELETE FROM entity WHERE id = :e"), {"e": demo})
    with engine.connect() as conn:
        left = conn.execute(text("SELECT DISTINCT entity_id FROM credit_event")).scalars().all()
    assert left == [real]


# --- rating ------------------------------------------------------------------------------------

def test_months_before_clamps_to_the_end_of_the_month() -> None:
    assert months_before(date(2024, 3, 31), 1) == date(2024, 2, 29)
    assert months_before(date(2024, 2, 29), 12) == date(2023, 2, 28)
    assert months_before(date(2025, 6, 30), 36) == date(2022, 6, 30)
    assert months_before(date(2025, 1, 15), 13) == date(2023, 12, 15)


def test_grade_arithmetic_by_hand_as_of_different_days(
        client: TestClient, engine: Engine, admin: dict) -> None:
    pid = make_producer(client, engine, admin, serial=1)
    by = account_id(engine, "admin")

    def rec(kind: str, day: date, outcome: str | None = None) -> int:
        with transaction(engine, today=TODAY) as conn:
            return credit.record_event(conn, entity_id=pid, kind=kind, occurred_on=day,
                                       outcome=outcome, summary="测试", recorded_by=by)

    e1 = rec("penalty", date(2025, 1, 10), "minor")  # -15
    e2 = rec("sampling", date(2023, 9, 1), "fail")  # -30, halved after 12 months
    e3 = rec("reward", date(2025, 3, 1))  # +10
    e4 = rec("sampling", date(2022, 5, 1), "pass")  # +2, halved; gone after 36 months
    e5 = rec("patrol", date(2024, 12, 1), "problem")  # -5
    rec("licence", date(2024, 1, 1))  # 0: never a move

    def grade(day: date, rules: RatingRules = credit.DEFAULT_RULES) -> credit.rating.Rating:
        with engine.connect() as conn:
            return credit.grade_as_of(conn, pid, day, rules)

    now = grade(TODAY)  # window (2022-06-30, 2025-06-30], full after 2024-06-30
    assert now.score == Decimal(75) and now.grade == "B"  # 100 - 15 + 10 - 5 - 15
    assert {(m.event_id, m.kind, m.points, m.weight) for m in now.moves} == {
        (e1, "penalty", -15, 1), (e3, "reward", 10, 1), (e5, "patrol", -5, 1),
        (e2, "sampling", -30, Decimal("0.5"))}
    before_penalty = grade(date(2025, 1, 9))  # e1 and e3 lie after the day
    assert before_penalty.score == Decimal(81)  # 100 - 5 - 15 + 1
    assert e4 in {m.event_id for m in before_penalty.moves}
    fresh_fail = grade(date(2024, 8, 31))  # e2 within 12 months: in full
    assert (fresh_fail.score, fresh_fail.grade) == (Decimal(71), "C")  # 100 - 30 + 1
    a_year_on = grade(date(2024, 9, 1))  # exactly 12 months: halved
    assert (a_year_on.score, a_year_on.grade) == (Decimal(86), "B")  # 100 - 15 + 1
    no_decay = RatingRules(full_months=36)
    assert grade(date(2024, 9, 1), no_decay).score == Decimal(72)  # 100 - 30 + 2

    # Corrections apply retroactively: an amended date moves the event out of an earlier day.
    with transaction(engine, today=TODAY) as conn:
        credit.correct_event(conn, entity_id=pid, corrects=e5, action="amend",
                             reason="日期录错", recorded_by=by,
                             changes={"occurred_on": date(2025, 2, 1)})
        credit.correct_event(conn, entity_id=pid, corrects=e1, action="amend",
                             reason="严重", recorded_by=by, changes={"outcome": "major"})
        credit.correct_event(conn, entity_id=pid, corrects=e3, action="void",
                             reason="撤销", recorded_by=by)
    assert grade(date(2025, 1, 9)).score == Decimal(86)  # 100 - 15 + 1
    worst = grade(TODAY)
    assert (worst.score, worst.grade) == (Decimal(40), "D")  # 100 - 40 - 5 - 15
    with engine.connect() as conn:
        assert credit.grades_for(conn, [pid], TODAY) == {pid: (Decimal(40), "D")}
    # the lowest grade lists the entity (with the penalty of the last 12 months)
    with transaction(engine, today=TODAY) as conn:
        credit.refresh_key_supervision(conn, TODAY)
        ks = credit.memberships(conn, pid, TODAY)
    assert {c["reason_code"] for c in ks["current"]} == {"grade_d", "penalty"}


def standing_of(conn: Any, entity_id: int) -> Any:
    return conn.execute(text("SELECT as_of, rules, score, grade, failed_recent "
                             "FROM credit_standing WHERE entity_id = :e"), {"e": entity_id}).first()


def assert_standing_is_the_rating(conn: Any, entity_id: int, day: date,
                                  rules: RatingRules = credit.DEFAULT_RULES) -> None:
    """The stored row equals grade_as_of, and its failed samplings are the rating's effective
    failed samplings dated within the 12 months before `day`."""
    rating = credit.grade_as_of(conn, entity_id, day, rules)
    row = standing_of(conn, entity_id)
    since = months_before(day, 12)
    failed = sum(1 for m in rating.moves
                 if (m.kind, m.outcome) == ("sampling", "fail") and m.occurred_on > since)
    assert row is not None and row.as_of == day and row.rules == rules_key(rules)
    assert (row.score, row.grade, row.failed_recent) == (rating.score, rating.grade, failed)


def test_the_standing_is_the_rating_and_follows_every_event_in_its_transaction(
        client: TestClient, engine: Engine, admin: dict, settings: Settings,
        tmp_path: Path) -> None:
    pid = make_producer(client, engine, admin, serial=1)
    other = make_producer(client, engine, admin, serial=2)
    quiet = make_smallholder(client, engine, admin)  # never an event
    by = account_id(engine, "admin")
    with transaction(engine, today=TODAY) as conn:
        assert standing_of(conn, pid) is None
        # full_since = failed_since = 2024-06-30, window_since = 2022-06-30 (both exclusive)
        steps = [
            dict(kind="sampling", occurred_on=date(2024, 7, 1), outcome="fail"),  # full, recent
            dict(kind="sampling", occurred_on=date(2024, 6, 30), outcome="fail"),  # halved, old
            dict(kind="penalty", occurred_on=date(2025, 1, 10), outcome="minor"),
            dict(kind="reward", occurred_on=date(2022, 7, 1)),  # halved: +5
            dict(kind="reward", occurred_on=date(2022, 6, 30)),  # outside the window
            dict(kind="licence", occurred_on=date(2024, 1, 1)),  # scores nothing
        ]
        ids = []
        for step in steps:  # each write refreshes the standing before the commit
            ids.append(credit.record_event(conn, entity_id=pid, summary="测试", recorded_by=by,
                                           **step))
            assert_standing_is_the_rating(conn, pid, TODAY)
        row = standing_of(conn, pid)
        assert (row.score, row.grade, row.failed_recent) == (Decimal(45), "D", 1)
        # 100 - 30 - 15 - 15 + 5; corrections count at once too
        credit.correct_event(conn, entity_id=pid, corrects=ids[0], action="amend",
                             reason="日期录错", recorded_by=by,
                             changes={"occurred_on": date(2024, 6, 1)})
        assert_standing_is_the_rating(conn, pid, TODAY)
        assert standing_of(conn, pid).failed_recent == 0  # now older than 12 months
        credit.correct_event(conn, entity_id=pid, corrects=ids[2], action="void",
                             reason="撤销", recorded_by=by)
        assert_standing_is_the_rating(conn, pid, TODAY)
        assert (standing_of(conn, pid).score, standing_of(conn, pid).grade) == (Decimal(75), "B")
        credit.record_event(conn, entity_id=other, kind="sampling", occurred_on=TODAY,
                            outcome="pass", summary="合格", recorded_by=by)
        assert_standing_is_the_rating(conn, other, TODAY)
        assert standing_of(conn, quiet) is None  # no events, no row: base

    # A write by another path (SQL, COPY) leaves the row stale, never wrong-and-current.
    with transaction(engine, today=TODAY) as conn:
        conn.execute(text(
            "INSERT INTO credit_event (entity_id, kind, occurred_on, summary, outcome, "
            "recorded_by) VALUES (:e, 'penalty', '2025-06-01', '罚款', 'major', :a)"),
            {"e": other, "a": by})
        stale = standing_of(conn, other)
        assert stale.as_of is None and stale.score is None
        assert credit.refresh_stale_standings(conn, TODAY) == 1
        assert_standing_is_the_rating(conn, other, TODAY)
        assert standing_of(conn, other).score == Decimal(62)  # 100 + 2 - 40

    # The daily refresh, as of days on either side of the decay and window boundaries, and
    # under other rules: every entity with events equals its rating, the others have no row.
    days = [TODAY, date(2025, 6, 1), date(2025, 1, 9), date(2025, 7, 1), date(2024, 7, 1),
            date(2024, 6, 30), date(2023, 7, 1)]
    for day in days:
        for rules in (credit.DEFAULT_RULES, RatingRules(full_months=36, older_weight=Decimal(0))):
            with transaction(engine, today=max(day, TODAY)) as conn:
                assert credit.refresh_standings(conn, day, rules=rules) == 2
                for entity in (pid, other):
                    assert_standing_is_the_rating(conn, entity, day, rules)
                assert standing_of(conn, quiet) is None
    with engine.connect() as conn:
        assert standing_of(conn, pid).as_of == date(2023, 7, 1)
    # the command-line refresh: key-supervision list and standings as of today
    env = {"GEOREG_DATABASE_URL": settings.url(), "GEOREG_PII_KEY": settings.pii_key or "",
           "GEOREG_STATE_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli_main, ["credit", "refresh"], env=env)
    assert result.exit_code == 0, result.output
    assert "信用状况" in result.output and "重算 2 个主体" in result.output


# --- the key-supervision list ----------------------------------------------------------------

def test_a_failed_sample_lists_the_entity_for_twelve_months(
        client: TestClient, engine: Engine, admin: dict, clerk: dict) -> None:
    pid = make_producer(client, engine, admin, serial=1)
    clean = make_producer(client, engine, admin, serial=2)
    post_event(client, clerk, clean, event("sampling", "2025-06-20", "pass"))
    r = post_event(client, clerk, pid, event("sampling", "2025-06-20", "fail"))
    assert r.status_code == 201
    ks = client.get(f"/api/v1/credit/{pid}", headers=clerk).json()["key_supervision"]
    assert ks["listed"] and [c["reason_code"] for c in ks["current"]] == ["sampling_failed"]
    assert ks["current"][0]["listed_on"] == "2025-06-30" and ks["current"][0]["source"] == "rule"
    assert flag(engine, pid) and not flag(engine, clean)

    def refresh(day: date) -> tuple[int, int]:
        with transaction(engine, today=day) as conn:
            return credit.refresh_key_supervision(conn, day)

    assert refresh(date(2025, 12, 1)) == (0, 0)  # idempotent while the rule holds
    assert refresh(date(2026, 6, 19)) == (0, 0) and flag(engine, pid)
    assert refresh(date(2026, 6, 20)) == (0, 1)  # 12 months after the sample
    assert not flag(engine, pid)
    with engine.connect() as conn:
        ks = credit.memberships(conn, pid, date(2026, 6, 20))
        earlier = credit.memberships(conn, pid, date(2026, 1, 1))
    assert not ks["listed"] and len(ks["history"]) == 1
    assert ks["history"][0]["delisted_on"] == date(2026, 6, 20)
    assert earlier["listed"]  # history answers "was it listed on that day?"


def test_a_voided_penalty_delists_and_manual_listing_keeps_history(
        client: TestClient, engine: Engine, admin: dict, clerk: dict) -> None:
    pid = make_producer(client, engine, admin, serial=1)
    county = login(client, "county01")
    penalty = post_event(client, clerk, pid, event("penalty", "2025-02-01", "minor")).json()
    assert flag(engine, pid)

    r = client.post(f"/api/v1/credit/{pid}/key-supervision", headers=county,
                    json={"reason": "群众举报，加密抽检"})
    assert r.status_code == 201, r.text
    assert {c["reason_code"] for c in r.json()["current"]} == {"penalty", "manual"}
    assert_problem(client.post(f"/api/v1/credit/{pid}/key-supervision", headers=county,
                               json={"reason": "再次"}), 409, "entity_id", "already_listed")
    assert_problem(client.post(f"/api/v1/credit/{pid}/key-supervision",
                               headers=login(client, "cnx05"), json={"reason": "x"}), 403)
    assert_problem(client.post(f"/api/v1/credit/{pid}/key-supervision", headers=county,
                               json={"reason": ""}), 422, "reason")
    assert_problem(client.post("/api/v1/credit/999999/key-supervision", headers=county,
                               json={"reason": "x"}), 404)

    # Voiding the penalty closes the rule listing; the manual one stays.
    post_event(client, clerk, pid, {"corrects": penalty["id"], "action": "void",
                                    "reason": "处罚决定已撤销"})
    ks = client.get(f"/api/v1/credit/{pid}", headers=clerk).json()["key_supervision"]
    assert [c["reason_code"] for c in ks["current"]] == ["manual"] and flag(engine, pid)

    d = client.request("DELETE", f"/api/v1/credit/{pid}/key-supervision", headers=clerk,
                       json={"reason": "整改到位"})
    assert d.status_code == 200, d.text
    assert not d.json()["listed"] and not flag(engine, pid)
    history = {h["reason_code"]: h for h in d.json()["history"]}
    assert history["manual"]["listed_by"] == "县农安中心监管员"
    assert history["manual"]["detail"] == "群众举报，加密抽检"
    assert history["manual"]["delist_reason"] == "整改到位"
    assert history["manual"]["delisted_on"] == "2025-06-30"
    assert history["penalty"]["delisted_on"] == "2025-06-30"
    assert_problem(client.request("DELETE", f"/api/v1/credit/{pid}/key-supervision",
                                  headers=clerk, json={"reason": "再次"}), 404)


def test_the_current_list_downloads_and_the_export_is_recorded(
        client: TestClient, engine: Engine, admin: dict, clerk: dict) -> None:
    sid = make_smallholder(client, engine, admin)
    pid = make_producer(client, engine, admin, serial=1)
    post_event(client, clerk, sid, event("sampling", "2025-06-01", "fail"))
    post_event(client, clerk, pid, event("penalty", "2025-06-01", "major"))
    listing = client.get("/api/v1/credit/key-supervision", headers=clerk).json()
    assert [r["entity_id"] for r in listing["rows"]] == sorted([sid, pid])
    assert count(engine, "pii_access") == 0  # a view of names is not an export
    csv = client.get("/api/v1/credit/key-supervision?format=csv", headers=clerk)
    assert csv.status_code == 200
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("主体编号,名称") and len(lines) == 3
    assert "近12个月抽样检测不合格" in csv.text
    with engine.connect() as conn:
        logged = conn.execute(text("SELECT a.username, x.entity_id, x.fields, x.purpose "
                                   "FROM pii_access x JOIN account a ON a.id = x.account_id"
                                   )).all()
    assert [tuple(r)[:3] for r in logged] == [("clerk01", sid, ["name"])]
    assert "key-supervision" in logged[0].purpose


# --- lookup --------------------------------------------------------------------------------------

def test_every_lookup_form(client: TestClient, engine: Engine, admin: dict, clerk: dict,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    p1 = make_producer(client, engine, admin, serial=1, name="安溪县铁观音茶业有限公司")
    p2 = make_producer(client, engine, admin, serial=2, name="铁观音茶业")
    p3 = make_producer(client, engine, admin, serial=3, name="凤城100%_茶园")
    sid = make_smallholder(client, engine, admin)
    post_event(client, clerk, p1, event("sampling", "2025-06-01", "fail"))

    r = client.get("/api/v1/credit/search", params={"q": "铁观音茶业"}, headers=clerk)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["by"] == "name"
    assert [x["id"] for x in body["results"]] == [p2, p1]  # exact name first
    assert body["results"][1]["grade"] == "C" and body["results"][1]["score"] == 70
    assert body["results"][1]["uscc"] == uscc(1)
    partial = client.get("/api/v1/credit/search", params={"q": "观音"}, headers=clerk).json()
    assert {x["id"] for x in partial["results"]} == {p1, p2}
    # LIKE wildcards are literal characters
    for q, ids in (("0%", [p3]), ("%_", [p3]), ("0%_茶", [p3]), ("音%业", []), ("观_茶", [])):
        found = client.get("/api/v1/credit/search", params={"q": q}, headers=clerk).json()
        assert [x["id"] for x in found["results"]] == ids, q
    assert_problem(client.get("/api/v1/credit/search", params={"q": "茶"}, headers=clerk), 422,
                   "q", "too_short")
    two = client.get("/api/v1/credit/search", params={"q": "茶业"}, headers=clerk).json()
    assert [x["id"] for x in two["results"]] == [p2, p1]  # shorter name ranks first
    assert two["truncated"] is False
    monkeypatch.setattr("georeg.credit.lookup.CANDIDATES", 1)  # a broad query: ranked in part
    broad = client.get("/api/v1/credit/search", params={"q": "茶业"}, headers=clerk).json()
    assert broad["truncated"] is True and broad["message"]
    monkeypatch.undo()

    by_code = client.get("/api/v1/credit/search", params={"q": uscc(2).lower()},
                         headers=clerk).json()
    assert by_code["by"] == "uscc" and [x["id"] for x in by_code["results"]] == [p2]
    bad = uscc(2)[:-1] + ("0" if uscc(2)[-1] != "0" else "1")
    r = client.get("/api/v1/credit/search", params={"q": bad}, headers=clerk)
    assert_problem(r, 422, "q", "uscc_check")
    assert bad not in r.text
    r = client.get("/api/v1/credit/search", params={"q": RID}, headers=clerk)
    assert RID not in r.text
    assert_problem(r, 422, "q", "personal_number_in_url")

    found = client.post("/api/v1/credit/search", json={"resident_id": RID.lower()},
                        headers=clerk).json()
    assert found["by"] == "resident_id" and [x["id"] for x in found["results"]] == [sid]
    assert found["results"][0]["resident_id"] == RID[:6] + "********" + RID[-4:]
    assert RID not in str(found)
    by_phone = client.post("/api/v1/credit/search", json={"phone": "139 1234 5678"},
                           headers=clerk).json()
    assert [x["id"] for x in by_phone["results"]] == [sid]
    assert by_phone["results"][0]["phone"] == "139****5678"
    shared = client.post("/api/v1/credit/search", json={"phone": "+86 138-1234-5678"},
                         headers=clerk).json()
    assert [x["id"] for x in shared["results"]] == [p1, p2, p3]
    nobody = client.post("/api/v1/credit/search", json={"resident_id": resident_id(43)},
                         headers=clerk).json()
    assert nobody["results"] == []

    wrong = RID[:-1] + ("1" if RID[-1] != "1" else "2")
    r = client.post("/api/v1/credit/search", json={"resident_id": wrong}, headers=clerk)
    assert_problem(r, 422, "resident_id", "resident_id_check")
    assert wrong not in r.text
    r = client.post("/api/v1/credit/search", json={"phone": "12345"}, headers=clerk)
    assert_problem(r, 422, "phone", "phone_format")
    assert "12345" not in r.text
    assert_problem(client.post("/api/v1/credit/search", json={}, headers=clerk), 422, "body")
    assert_problem(client.post("/api/v1/credit/search", headers=clerk,
                               json={"resident_id": RID, "phone": PHONE}), 422, "body")
    r = client.post("/api/v1/credit/search", json={"resident_id": int(RID[:-1])}, headers=clerk)
    assert_problem(r, 422, "resident_id")
    assert RID[:-1] not in r.text
    assert_problem(client.get("/api/v1/credit/search", params={"q": "茶"}), 401)


# --- personal data --------------------------------------------------------------------------------

def test_masking_and_recorded_full_views(client: TestClient, engine: Engine, admin: dict,
                                         clerk: dict) -> None:
    sid = make_smallholder(client, engine, admin)
    township = login(client, "cnx05")
    masked_id, masked_phone = RID[:6] + "********" + RID[-4:], "139****5678"

    seen = client.get(f"/api/v1/credit/{sid}", headers=township).json()["entity"]
    assert (seen["resident_id"], seen["phone"], seen["pii_masked"]) == \
        (masked_id, masked_phone, True)
    assert_problem(client.get(f"/api/v1/credit/{sid}?reveal=true", headers=township), 403)
    plain = client.get(f"/api/v1/credit/{sid}", headers=clerk)
    assert RID not in plain.text and PHONE not in plain.text
    assert count(engine, "pii_access") == 0

    full = client.get(f"/api/v1/credit/{sid}?reveal=true", headers=clerk).json()["entity"]
    assert (full["resident_id"], full["phone"], full["pii_masked"]) == (RID, PHONE, False)
    with engine.connect() as conn:
        logged = conn.execute(text("SELECT a.username, x.entity_id, x.fields, x.purpose "
                                   "FROM pii_access x JOIN account a ON a.id = x.account_id"
                                   )).all()
    assert [tuple(r)[:3] for r in logged] == [("clerk01", sid, ["resident_id", "phone"])]
    assert "/credit/" in logged[0].purpose


# --- permissions --------------------------------------------------------------------------------

def test_who_may_record_events(client: TestClient, engine: Engine, admin: dict) -> None:
    here = make_producer(client, engine, admin, serial=1, township=CANNEI)
    there = make_producer(client, engine, admin, serial=2, township=FENGCHENG)
    township = login(client, "cnx05")
    assert post_event(client, township, here, event("patrol", "2025-06-01", "normal")
                      ).status_code == 201
    # another township's entity is hidden by row security (sql/022): not found
    assert_problem(post_event(client, township, there, event("patrol", "2025-06-01", "normal")),
                   404)
    assert_problem(post_event(client, login(client, "col05"), here,
                              event("patrol", "2025-06-01", "normal")), 403)
    assert post_event(client, login(client, "county01"), there,
                      event("reward", "2025-06-01")).status_code == 201
    assert count(engine, "credit_event") == 2


# --- bulk import -------------------------------------------------------------------------------

HEADER = ["主体编号", "统一社会信用代码", "类型", "日期", "发证/处罚单位", "文号", "摘要",
          "证据", "结果"]


def upload(client: TestClient, auth: dict, name: str, data: bytes) -> Any:
    return client.post("/api/v1/credit/events/import", headers=auth,
                       files={"file": (name, data)})


def csv_bytes(rows: list[list[Any]], encoding: str = "gb18030") -> bytes:
    lines = [",".join(HEADER)] + [",".join("" if c is None else str(c) for c in r)
                                  for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def test_bulk_import_is_all_or_nothing_with_row_numbers(
        client: TestClient, engine: Engine, admin: dict, clerk: dict) -> None:
    p1 = make_producer(client, engine, admin, serial=1)
    p2 = make_producer(client, engine, admin, serial=2)
    bad = upload(client, clerk, "events.csv", csv_bytes([
        [p1, None, "行政许可", "2025-01-05", "县农业农村局", "安农许〔2025〕3号", "许可", "", ""],
        [None, uscc(99), "奖励", "2025-01-05", "", "", "表彰", "", ""],  # row 3: unknown
        [p2, None, "行政处罚", "2025-08-01", "", "", "罚款", "", "严重"],  # row 4: future
        [p2, None, "抽查", "2025-02-01", "", "", "抽检", "", "不合格"],  # row 5: kind
        [p2, None, "监督抽查", "2025/2/1", "", "", "", "", "很好"],  # row 6: summary, outcome
    ]))
    body = assert_problem(bad, 422)
    fields = [e["field"] for e in body["errors"]]
    assert fields == ["[3].uscc", "[4].occurred_on", "[5].kind", "[6].outcome", "[6].summary"]
    assert all(e["message"].startswith("第 ") for e in body["errors"])
    assert count(engine, "credit_event") == 0

    good = upload(client, clerk, "events.csv", csv_bytes([
        [p1, None, "行政许可", "2025-01-05", "县农业农村局", "安农许〔2025〕3号", "许可", "", ""],
        [None, uscc(2), "监督抽查", "2025年6月1日", "县农安中心", "", "豇豆抽检", "报告B-7",
         "不合格"],
        [p2, uscc(2), "penalty", "20250610", "", "安农罚〔2025〕9号", "罚款", "", "minor"],
    ]))
    assert good.status_code == 201, good.text
    assert good.json()["created"] == 3
    events = client.get(f"/api/v1/credit/{p2}", headers=clerk).json()["events"]
    assert [(e["kind"], e["outcome"], str(e["occurred_on"])) for e in events] == [
        ("penalty", "minor", "2025-06-10"), ("sampling", "fail", "2025-06-01")]
    assert events[1]["evidence_ref"] == "报告B-7" and events[1]["issuing_unit"] == "县农安中心"
    assert flag(engine, p2) and not flag(engine, p1)  # the import refreshed the list
    with engine.connect() as conn:  # and the standings: 100 - 30 - 15
        assert_standing_is_the_rating(conn, p2, TODAY)
        assert (standing_of(conn, p2).score, standing_of(conn, p2).failed_recent) == (55, 1)

    # XLSX with a title row above the header and real date cells
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["2025年信用事件导入"])
    ws.append(HEADER)
    ws.append([p1, None, "奖励", datetime(2025, 3, 8), "县政府", "", "示范基地", None, None])
    buf = io.BytesIO()
    wb.save(buf)
    r = upload(client, clerk, "events.xlsx", buf.getvalue())
    assert r.status_code == 201, r.text
    assert count(engine, "credit_event") == 4
    assert_problem(upload(client, clerk, "x.csv", "名称,日期\r\n甲,2025-01-01\r\n".encode()),
                   422, "file", "no_header")
    assert_problem(upload(client, login(client, "col05"), "events.csv", csv_bytes([
        [p1, None, "奖励", "2025-01-05", "", "", "表彰", "", ""]])), 403)


# --- the printable report and the command line ---------------------------------------------

def test_html_report_shows_the_grade_and_escapes_names(
        client: TestClient, engine: Engine, admin: dict, clerk: dict) -> None:
    r = client.post("/api/v1/smallholders", headers=admin, json={
        "name": "<script>alert(1)</script>陈&林", "resident_id": RID, "phone": PHONE,
        "location": point_in(engine, CANNEI, seed=5)})
    sid = r.json()["id"]
    post_event(client, clerk, sid, event("sampling", "2025-06-01", "fail"))
    page = client.get(f"/api/v1/credit/{sid}/report.html", headers=clerk)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<h1>信用档案</h1>" in html and 'lang="zh-CN"' in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;陈&amp;林" in html
    assert "C级（失信）" in html and "<strong>70</strong>" in html
    assert "在重点监管名单中" in html and "近12个月抽样检测不合格" in html
    assert "@media print" in html and "数据来源" in html
    assert RID not in html and PHONE not in html and RID[:6] + "********" in html
    with engine.connect() as conn:
        logged = conn.execute(text("SELECT entity_id, fields, purpose FROM pii_access")).all()
    assert [(r.entity_id, r.fields) for r in logged] == \
        [(sid, ["name", "resident_id_masked", "phone_masked"])]
    assert "report" in logged[0].purpose
    assert_problem(client.get("/api/v1/credit/999999/report.html", headers=clerk), 404)
    assert_problem(client.get(f"/api/v1/credit/{sid}?as_of=2025-07-01", headers=clerk), 422,
                   "as_of", "in_future")
    earlier = client.get(f"/api/v1/credit/{sid}?as_of=2025-05-31", headers=clerk).json()
    assert earlier["rating"]["grade"] == "A" and not earlier["key_supervision"]["listed"]


def test_show_text_for_the_command_line(client: TestClient, engine: Engine, admin: dict,
                                        clerk: dict) -> None:
    sid = make_smallholder(client, engine, admin)
    first = post_event(client, clerk, sid, event("penalty", "2025-03-01", "minor")).json()
    post_event(client, clerk, sid, {"corrects": first["id"], "action": "amend",
                                    "outcome": "major", "reason": "改为严重"})
    with engine.connect() as conn:
        out = credit.show_text(conn, sid, as_of=TODAY)
    assert "信用档案：陈阿福" in out and RID not in out and RID[:6] + "********" in out
    assert "D级（严重失信），信用分 60" not in out and "C级（失信），信用分 60" in out
    assert f"#{first['id']}" in out and "已被更正" in out and "改为严重" in out
    assert "重点监管名单：在名单中（近12个月受到行政处罚" in out
