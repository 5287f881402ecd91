"""Rapid tests, lab results against the MRL table, credit side effects and testing progress."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from api.app import create_app
from georeg.accounts import Role, ensure_account, get_account
from georeg.clock import fixed_clock
from georeg.config import DATA_DIR, Settings
from georeg.credit.listing import current_members
from georeg.database import transaction
from georeg.errors import Forbidden, InvalidInput
from georeg.testing.progress import testing_progress as progress_report
from importers import testing_files
from tests.conftest import TEST_PASSWORD
from tests.helpers import login

FIXTURES = Path(__file__).parent / "fixtures"
MRL_FIXTURE = FIXTURES / "mrl_fixture.csv"  # invented limits, labelled as such in the file
CANNEI = "350524113000"  # 参内镇 (account cnx05): quota 460 = 200 + 240 + 20
FENGCHENG = "350524100000"  # 凤城镇 (account fcz01): quota 460 = 200 + 260 + 0
TODAY = datetime(2023, 12, 31, 10)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with engine.begin() as conn:
        ensure_account(conn, username="clerk01", display_name="信用管理员", role=Role.credit_clerk,
                       password=TEST_PASSWORD)
        ensure_account(conn, username="col05", display_name="参内采集员", role=Role.collector,
                       password=TEST_PASSWORD, township_code=CANNEI)
    with TestClient(create_app(settings, clock=fixed_clock(TODAY))) as c:
        yield c


def entity(engine: Engine, township: str, kind: str = "enterprise", name: str = "") -> int:
    with engine.begin() as conn:
        return conn.execute(text("""
            INSERT INTO entity (kind, name, township_code, location)
            SELECT :kind, :name, code, ST_PointOnSurface(boundary) FROM township WHERE code = :t
            RETURNING id"""), {"kind": kind, "name": name or f"测试主体{kind}",
                               "t": township}).scalar_one()


def rapid(entity_id: int, sample_no: int = 1, **extra: Any) -> dict[str, Any]:
    return {"entity_id": entity_id, "commodity": "cowpea", "sampled_on": "2023-05-04",
            "method": "colloidal_gold", "parameter": "克百威", "result": "pass",
            "sample_no": f"S-{entity_id}-{sample_no}", **extra}


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def load_fixture_mrl(engine: Engine, data: bytes | None = None) -> dict[str, Any]:
    with transaction(engine, TODAY.date()) as conn:
        admin = get_account(conn, conn.execute(text(
            "SELECT id FROM account WHERE username = 'admin'")).scalar_one())
        assert admin is not None
        return testing_files.import_mrl(conn, data or MRL_FIXTURE.read_bytes(), "mrl_fixture.csv",
                              account=admin)


# --- reference data ---------------------------------------------------------------------------

def test_reference_data_lab_target_and_banned_list(engine: Engine) -> None:
    with engine.connect() as conn:
        lab = conn.execute(text("SELECT target, source FROM plan_target WHERE year = 2023 "
                                "AND unit = 'county' AND metric = 'lab_monitoring_batches'")).one()
        banned = conn.execute(text("SELECT substance, categories FROM banned_substance")).all()
    assert lab.target == 1774 and "66号" in lab.source
    with (DATA_DIR / "anxi-2023" / "banned_pesticides_moa199.csv").open(encoding="utf-8") as f:
        names = {r["pesticide_cn"] for r in csv.DictReader(f)}
    assert {b.substance for b in banned} == names and len(names) == 19
    assert all(set(b.categories) == {"vegetable", "fruit", "tea"} for b in banned)


# --- recording rapid tests --------------------------------------------------------------------

def test_a_bad_batch_names_row_and_field_and_stores_nothing(
        client: TestClient, engine: Engine) -> None:
    pid = entity(engine, CANNEI)
    egg = {"commodity": "chicken_egg"}
    r = client.post("/api/v1/testing/rapid-tests", headers=login(client, "cnx05"), json=[
        rapid(pid),
        rapid(pid, sample_no=2, method="胶体金"),               # a label is fine
        rapid(999_999, sample_no=3),                            # unknown entity
        rapid(pid, sample_no=4, sampled_on="2024-01-01"),       # after today (31 Dec 2023)
        rapid(pid, sample_no=5, method="dipstick", result="ok"),  # two bad choices
        {k: v for k, v in rapid(pid).items() if k != "sample_no"},  # no sample number
        rapid(pid, sample_no=7, **egg),                         # pesticide method on eggs
        rapid(pid, sample_no=8, sampled_on="5月4日"),            # not a date
    ])
    assert r.status_code == 422, r.text
    found = [(e["field"], e["code"]) for e in r.json()["errors"]]
    assert found == [("[3].entity_id", "unknown_entity"), ("[4].sampled_on", "in_future"),
                     ("[5].method", "invalid_choice"), ("[5].result", "invalid_choice"),
                     ("[6].sample_no", "required"), ("[7].method", "method_commodity"),
                     ("[8].sampled_on", "invalid_date")]
    assert all(e["message"].startswith("第 ") for e in r.json()["errors"])
    assert count(engine, "SELECT count(*) FROM rapid_test") == 0


def test_future_dates_are_refused_by_the_database(engine: Engine) -> None:
    pid = entity(engine, CANNEI)
    for table, extra in (("rapid_test", "method, result, sample_no"),
                         ("lab_sample", "kind, lab, report_no, result")):
        values = ("'colloidal_gold', 'pass', 'S-1'" if table == "rapid_test"
                  else "'routine_monitoring', '检测站', 'R-1', 'pass'")
        with pytest.raises(IntegrityError) as e, engine.begin() as conn:
            conn.execute(text("SELECT set_config('georeg.today', '2023-06-01', true)"))
            conn.execute(text(f"""
                INSERT INTO {table} (entity_id, commodity, sampled_on, unit, recorded_by, {extra})
                SELECT :e, 'cowpea', DATE '2023-06-02', 'county', id, {values}
                FROM account WHERE username = 'admin'"""), {"e": pid})
        assert e.value.orig.diag.constraint_name == f"{table}_not_in_future"


def test_township_accounts_record_only_their_township(
        client: TestClient, engine: Engine) -> None:
    mine, theirs = entity(engine, CANNEI), entity(engine, FENGCHENG)
    cnx05 = login(client, "cnx05")
    r = client.post("/api/v1/testing/rapid-tests", headers=cnx05, json=[
        rapid(mine), rapid(theirs), rapid(mine, sample_no=3, unit="county")])
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("[2].entity_id", "out_of_scope"), ("[3].unit", "out_of_scope")]
    ok = client.post("/api/v1/testing/rapid-tests", headers=cnx05, json=rapid(mine))
    assert ok.status_code == 201 and ok.json()["created"] == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT unit FROM rapid_test")).scalar_one() == CANNEI
    # County-wide accounts may record any unit, but a township tests its own entities.
    admin = login(client, "admin")
    r = client.post("/api/v1/testing/rapid-tests", headers=admin,
                    json=rapid(theirs, unit=CANNEI))
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("[1].unit",
                                                                       "unit_mismatch")]
    assert client.post("/api/v1/testing/rapid-tests", headers=admin,
                       json=rapid(theirs, unit="凤城镇")).status_code == 201
    for who in ("clerk01", "col05"):
        assert client.post("/api/v1/testing/rapid-tests", headers=login(client, who),
                           json=rapid(mine, sample_no=9)).status_code == 403


def test_a_resubmitted_batch_adds_nothing(client: TestClient, engine: Engine) -> None:
    pid = entity(engine, CANNEI)
    body = [rapid(pid), rapid(pid, sample_no=2, method="enzyme_inhibition")]
    first = client.post("/api/v1/testing/rapid-tests", headers=login(client), json=body)
    assert first.json()["created"] == 2
    again = client.post("/api/v1/testing/rapid-tests", headers=login(client), json=body)
    assert again.json() == {"created": 0, "ids": [], "skipped_existing": 2, "failed": 0,
                            "credit_events": []}
    listed = client.get("/api/v1/testing/rapid-tests?year=2023&method=enzyme_inhibition",
                        headers=login(client)).json()
    assert listed["total"] == 1 and listed["items"][0]["method_label"] == "农残快检（酶抑制法）"


def test_rapid_tests_from_a_file(client: TestClient, engine: Engine) -> None:
    pid = entity(engine, CANNEI)
    sheet = ("主体编号,品种,抽样日期,检测方法,检测项目,检测结果,样品编号\n"
             f"{pid},豇豆,2023/5/4,胶体金法,克百威,合格,F-1\n"
             f"{pid},鸡蛋,2023-05-05,兽残快检,恩诺沙星,阳性,F-2\n")
    files = {"file": ("快检.csv", sheet.encode("gb18030"), "text/csv")}
    r = client.post("/api/v1/testing/rapid-tests/import", headers=login(client, "cnx05"),
                    files=files)
    assert r.status_code == 201, r.text
    assert r.json()["created"] == 2 and r.json()["failed"] == 1
    bad = sheet.replace("2023-05-05", "2024-05-05").replace("F-", "G-")
    r = client.post("/api/v1/testing/rapid-tests/import", headers=login(client, "cnx05"),
                    files={"file": ("快检.csv", bad.encode(), "text/csv")})
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("[3].sampled_on",
                                                                       "in_future")]


# --- MRL table and judgement ------------------------------------------------------------------

def lab(entity_id: int, report_no: str, commodity: str, *analytes: dict[str, Any],
        kind: str = "routine_monitoring") -> dict[str, Any]:
    return {"entity_id": entity_id, "commodity": commodity, "sampled_on": "2023-06-01",
            "kind": kind, "lab": "测试检测站", "report_no": report_no, "analytes": list(analytes)}


def found(substance: str, value: float) -> dict[str, Any]:
    return {"substance": substance, "value_mg_kg": value}


def nd(substance: str) -> dict[str, Any]:
    return {"substance": substance, "not_detected": True, "lod_mg_kg": 0.005}


def test_lab_results_are_judged_against_the_mrl_table(
        client: TestClient, engine: Engine) -> None:
    load_fixture_mrl(engine)
    pid = entity(engine, CANNEI)
    r = client.post("/api/v1/testing/lab-results", headers=login(client), json=[
        lab(pid, "R-1", "cowpea", found("测试农药甲", 0.51)),   # over the cowpea limit 0.5
        lab(pid, "R-2", "cowpea", found("测试农药甲", 0.5)),    # at the limit: passes
        lab(pid, "R-3", "celery", found("测试农药甲", 0.3)),    # no celery row: vegetable 0.2
        lab(pid, "R-4", "cowpea", found("克百威", 0.01)),      # banned: fails below any limit
        lab(pid, "R-5", "tea", found("甲拌磷", 0.002)),        # banned, no limit at all
        lab(pid, "R-6", "cowpea", found("未列入农药", 0.3), nd("测试农药甲")),  # no limit
        lab(pid, "R-7", "chicken_egg", found("测试兽药乙", 0.001)),  # 不得检出
        lab(pid, "R-8", "quail_egg", found("测试兽药丙", 0.1)),   # category egg (禽蛋) 0.1
        lab(pid, "R-9", "chicken_egg", found("克百威", 0.05)),    # not banned for eggs
        lab(pid, "R-10", "cowpea", nd("克百威"), nd("未列入农药")),  # nothing detected
    ])
    assert r.status_code == 201, r.text
    samples = r.json()["samples"]
    assert [s["result"] for s in samples] == ["fail", "pass", "fail", "fail", "fail", "review",
                                              "fail", "pass", "review", "pass"]
    basis = [[a["basis"] for a in s["analytes"]] for s in samples]
    assert basis == [["over_limit"], ["within_limit"], ["over_limit"], ["banned"], ["banned"],
                     ["no_limit", "not_detected"], ["over_limit"], ["within_limit"],
                     ["no_limit"], ["not_detected", "not_detected"]]
    assert samples[2]["analytes"][0]["limit_mg_kg"] == 0.2  # the category's limit
    assert samples[3]["analytes"][0]["banned_source"] == "农业部公告第199号"
    assert samples[5]["result_label"] == "待复核"
    stored = client.get("/api/v1/testing/lab-results?result=review",
                        headers=login(client)).json()
    assert sorted(s["report_no"] for s in stored["items"]) == ["R-6", "R-9"]
    assert stored["items"][0]["analytes"][0]["judgement"] == "no_limit"


def test_lab_result_errors_name_sample_analyte_and_field(
        client: TestClient, engine: Engine) -> None:
    pid = entity(engine, CANNEI)
    r = client.post("/api/v1/testing/lab-results", headers=login(client), json=[
        lab(pid, "R-1", "cowpea", found("毒死蜱", 0.1)),
        lab(pid, "R-2", "cowpea", {"substance": "毒死蜱"}, {"substance": "毒死蜱",
                                                           "value_mg_kg": -1}),
        lab(pid, "R-3", "cowpea", {"substance": "毒死蜱", "value_mg_kg": 0.001,
                                   "lod_mg_kg": 0.005}, kind="抽检"),
        {**lab(pid, "R-4", "cowpea"), "analytes": []},
    ])
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("[2].analytes[1].value_mg_kg", "required"),
        ("[2].analytes[2].substance", "duplicate"),
        ("[2].analytes[2].value_mg_kg", "invalid_number"),
        ("[3].kind", "invalid_choice"),
        ("[3].analytes[1].value_mg_kg", "below_lod"),
        ("[4].analytes", "required")]
    assert count(engine, "SELECT count(*) FROM lab_sample") == 0


def test_mrl_import_needs_a_source_and_reports_bad_rows(engine: Engine) -> None:
    good = MRL_FIXTURE.read_text(encoding="utf-8")
    bad = good + "\n".join([
        "测试农药丁,豇豆,0.1,GB 2763-2021,,FIXTURE：无条款",            # row 8: no clause
        "测试农药丁,芹菜,0.1,GB 2763-2021,FIXTURE-表1,",                # row 9: no text
        "测试农药丁,火星菜,0.1,GB 2763-2021,FIXTURE-表1,FIXTURE",       # row 10: commodity
        "测试农药丁,韭菜,很少,GB2763,FIXTURE-表1,FIXTURE",              # row 11: limit, std
        "测试农药甲,豇豆,0.3,GB 2763-2021,FIXTURE-表1,FIXTURE：重复",   # row 12: dup of row 3
    ]) + "\n"
    with pytest.raises(InvalidInput) as e:
        load_fixture_mrl(engine, bad.encode())
    assert [(x.field, x.code) for x in e.value.errors] == [
        ("[8].clause", "required"), ("[9].source_text", "required"),
        ("[10].commodity", "unknown_commodity"), ("[11].limit", "invalid"),
        ("[11].standard", "invalid"), ("[12].substance", "duplicate")]
    assert "第 12 行" in e.value.errors[-1].message and "第 3 行" in e.value.errors[-1].message
    assert count(engine, "SELECT count(*) FROM mrl") == 0
    # The header itself must have the source columns.
    no_source = "农药/兽药,食品,最大残留限量(mg/kg)\n测试农药甲,豇豆,0.5\n"
    with pytest.raises(InvalidInput) as e:
        load_fixture_mrl(engine, no_source.encode())
    assert e.value.errors[0].code == "no_header" and "原文" in e.value.errors[0].message


def test_mrl_reimport_changes_nothing_and_a_new_limit_keeps_the_old(
        client: TestClient, engine: Engine) -> None:
    first = load_fixture_mrl(engine)
    assert (first["added"], first["replaced"], first["unchanged"]) == (5, 0, 0)
    snapshot = "SELECT string_agg(concat_ws('|', id, limit_mg_kg, superseded_at), ',' " \
               "ORDER BY id) FROM mrl"
    before = count(engine, snapshot)
    again = load_fixture_mrl(engine)
    assert (again["added"], again["replaced"], again["unchanged"]) == (0, 0, 5)
    assert count(engine, snapshot) == before
    pid = entity(engine, CANNEI)
    client.post("/api/v1/testing/lab-results", headers=login(client),
                json=lab(pid, "R-1", "cowpea", found("测试农药甲", 0.45)))
    # The county loads a lower limit (an .xlsx this time): the old version stays, closed.
    wb = openpyxl.Workbook()
    for row in csv.reader(io.StringIO(MRL_FIXTURE.read_text(encoding="utf-8"))):
        wb.active.append([0.4 if c == "0.5" and row[0] == "测试农药甲" else c for c in row])
    buf = io.BytesIO()
    wb.save(buf)
    changed = load_fixture_mrl(engine, buf.getvalue())
    assert (changed["added"], changed["replaced"], changed["unchanged"]) == (0, 1, 4)
    rows = client.get("/api/v1/testing/mrl?substance=测试农药甲&history=true",
                      headers=login(client)).json()["items"]
    cowpea = [(r["limit_mg_kg"], r["current"]) for r in rows if r["commodity"] == "cowpea"]
    assert sorted(cowpea) == [(0.4, True), (0.5, False)]
    # The earlier result keeps the limit it was judged against; a new one meets the new limit.
    client.post("/api/v1/testing/lab-results", headers=login(client),
                json=lab(pid, "R-2", "cowpea", found("测试农药甲", 0.45)))
    items = client.get("/api/v1/testing/lab-results", headers=login(client)).json()["items"]
    judged = {s["report_no"]: (s["result"], s["analytes"][0]["limit_mg_kg"]) for s in items}
    assert judged == {"R-1": ("pass", 0.5), "R-2": ("fail", 0.4)}


def test_only_county_roles_load_mrl(engine: Engine) -> None:
    with transaction(engine, TODAY.date()) as conn:
        township = get_account(conn, conn.execute(text(
            "SELECT id FROM account WHERE username = 'cnx05'")).scalar_one())
        assert township is not None
        with pytest.raises(Forbidden):
            testing_files.import_mrl(conn, MRL_FIXTURE.read_bytes(), "x.csv", account=township)


# --- credit record ----------------------------------------------------------------------------

def events(engine: Engine, entity_id: int) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT kind, outcome, split_part(evidence_ref, ':', 1) FROM credit_event "
            "WHERE entity_id = :e ORDER BY id"), {"e": entity_id})]


def test_a_failed_rapid_test_lists_the_entity(client: TestClient, engine: Engine) -> None:
    good, bad = entity(engine, CANNEI, name="合格茶厂"), entity(engine, CANNEI, name="问题豆农")
    r = client.post("/api/v1/testing/rapid-tests", headers=login(client, "cnx05"), json=[
        rapid(good), rapid(bad, result="不合格", sample_no=2)])
    assert r.json()["failed"] == 1 and len(r.json()["credit_events"]) == 1
    assert events(engine, good) == []  # a passed rapid test is no credit event
    assert events(engine, bad) == [("sampling", "fail", "rapid_test")]
    with engine.connect() as conn:
        members = current_members(conn)
        linked = conn.execute(text("SELECT credit_event_id FROM rapid_test WHERE entity_id = :e"),
                              {"e": bad}).scalar_one()
    assert [(m["entity_id"], m["reasons"]) for m in members] == [(bad, "近12个月抽样检测不合格")]
    assert linked == r.json()["credit_events"][0]
    record = client.get(f"/api/v1/credit/{bad}", headers=login(client, "clerk01")).json()
    assert [(e["summary"], e["issuing_unit"]) for e in record["events"]] == [
        (f"快检不合格：豇豆，农残快检（胶体金法），检测项目 克百威，样品编号 S-{bad}-2", "参内镇")]
    listing = client.get("/api/v1/credit/key-supervision", headers=login(client, "clerk01"))
    assert [row["entity_id"] for row in listing.json()["rows"]] == [bad]


def test_lab_results_write_credit_events_by_kind(client: TestClient, engine: Engine) -> None:
    ids = [entity(engine, CANNEI, name=f"主体{i}") for i in range(5)]
    r = client.post("/api/v1/testing/lab-results", headers=login(client), json=[
        lab(ids[0], "R-1", "cowpea", found("克百威", 0.01), kind="routine_monitoring"),
        lab(ids[1], "R-2", "cowpea", nd("克百威"), kind="supervisory_sampling"),
        lab(ids[2], "R-3", "cowpea", nd("克百威"), kind="risk_monitoring"),
        lab(ids[3], "R-4", "cowpea", found("毒死蜱", 0.01), kind="supervisory_sampling"),
        lab(ids[4], "R-5", "cowpea", found("甲拌磷", 0.02), kind="supervisory_sampling"),
    ])
    assert r.status_code == 201, r.text
    assert [events(engine, i) for i in ids] == [
        [("sampling", "fail", "lab_sample")],   # any failed lab result
        [("sampling", "pass", "lab_sample")],   # a passed supervisory sampling
        [],                                     # a passed risk monitoring sample
        [],                                     # to review: nothing until someone decides
        [("sampling", "fail", "lab_sample")]]
    with engine.connect() as conn:
        listed = {m["entity_id"] for m in current_members(conn)}
    assert listed == {ids[0], ids[4]}


def test_a_refused_batch_writes_no_credit_event(client: TestClient, engine: Engine) -> None:
    pid = entity(engine, CANNEI)
    r = client.post("/api/v1/testing/rapid-tests", headers=login(client), json=[
        rapid(pid, result="fail"), rapid(999_999, sample_no=2)])
    assert r.status_code == 422
    assert count(engine, "SELECT count(*) FROM credit_event") == 0
    assert count(engine, "SELECT count(*) FROM key_supervision_listing") == 0


# --- progress ---------------------------------------------------------------------------------

def insert_tests(engine: Engine, unit: str, entity_id: int, method: str, commodity: str,
                 spans: list[tuple[str, str, int]]) -> None:
    """`n` rapid tests spread over each (first day, last day, n)."""
    with transaction(engine, TODAY.date()) as conn:
        for start, end, n in spans:
            conn.execute(text("""
                INSERT INTO rapid_test (entity_id, commodity, sampled_on, unit, method, result,
                                        sample_no, recorded_by)
                SELECT :e, :c, CAST(:start AS date) + (g % (CAST(:end AS date)
                                                            - CAST(:start AS date) + 1)),
                       :unit, :m, 'pass',
                       concat(CAST(:m AS text), '-', CAST(:start AS text), '-', g),
                       (SELECT id FROM account WHERE username = 'admin')
                FROM generate_series(1, :n) g"""),
                {"e": entity_id, "c": commodity, "start": start, "end": end, "unit": unit,
                 "m": method, "n": n})


def row(report: dict[str, Any], unit: str, method: str) -> dict[str, Any]:
    return next(r for r in report["rows"] if r["unit"] == unit and r["method"] == method)


def progress(engine: Engine, day: date, **kw: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        return progress_report(conn, year=2023, as_of=day, **kw)


def test_quotas_are_the_notice_s(engine: Engine) -> None:
    report = progress(engine, date(2023, 12, 31))
    quotas = {r["method"]: r["quota"] for r in report["rows"] if r["unit"] == "all"}
    assert quotas == {"total": 12_200, "colloidal_gold": 5_800, "enzyme_inhibition": 5_690,
                      "veterinary": 710}
    assert quotas["total"] == quotas["colloidal_gold"] + quotas["enzyme_inhibition"] \
        + quotas["veterinary"]
    with (DATA_DIR / "anxi-2023" / "rapid_test_quotas.csv").open(encoding="utf-8-sig") as f:
        sheet = {r["unit"]: int(r["total"]) for r in csv.DictReader(f)}
    units = {r["unit_name"]: r["quota"] for r in report["rows"]
             if r["method"] == "total" and r["unit"] != "all"}
    assert units == sheet and units["县级"] == 1_100
    assert sorted(set(units.values()) - {1_100}) == [460, 465]
    assert report["lab_monitoring"]["target"] == 1_774
    assert report["poultry_egg_share"]["required_by_year_end"] == 610  # 5 % of 12,200
    assert report["behind"] and all(b["fell_behind_in"] == 1 for b in report["behind"])


def test_sequential_progress_quarter_by_quarter(engine: Engine) -> None:
    cannei, feng = entity(engine, CANNEI), entity(engine, FENGCHENG)
    egg = entity(engine, CANNEI, name="蛋鸡场")
    # 参内镇 colloidal gold (200): 50 by Q1 (25 % = 50), 99 by Q2 (< 100), 150 by Q3,
    # 200 by 10 December: it fell behind in Q2 and caught up.
    insert_tests(engine, CANNEI, cannei, "colloidal_gold", "cowpea",
                 [("2023-01-05", "2023-03-31", 50), ("2023-04-01", "2023-06-30", 49),
                  ("2023-07-01", "2023-09-30", 51), ("2023-10-01", "2023-12-10", 50)])
    # 参内镇 veterinary (20): all on eggs, in Q1.
    insert_tests(engine, CANNEI, egg, "veterinary", "chicken_egg",
                 [("2023-02-01", "2023-02-28", 20)])
    # 凤城镇 enzyme inhibition (260): 65, 130, 195 on time; the rest after 10 December.
    insert_tests(engine, FENGCHENG, feng, "enzyme_inhibition", "cowpea",
                 [("2023-01-02", "2023-03-31", 65), ("2023-04-01", "2023-06-30", 65),
                  ("2023-07-01", "2023-09-30", 65), ("2023-12-11", "2023-12-20", 65)])

    q1 = progress(engine, date(2023, 5, 1), quarter=1)
    gold = row(q1, CANNEI, "colloidal_gold")
    assert (gold["q1_due"], gold["q1_done"], gold["status"]) == (50, 50, "on_track")
    assert q1["until"] == "2023-03-31" and gold["q2_done"] is None

    mid = progress(engine, date(2023, 5, 1))  # Q2 under way: only Q1 is judged
    assert row(mid, CANNEI, "colloidal_gold")["quarters_judged"] == [1]

    year = progress(engine, date(2024, 2, 1))  # a past year: all four checkpoints
    gold = row(year, CANNEI, "colloidal_gold")
    assert [gold[f"q{q}_done"] for q in range(1, 5)] == [50, 99, 150, 200]
    assert [gold[f"q{q}_due"] for q in range(1, 5)] == [50, 100, 150, 200]
    assert (gold["fell_behind_in"], gold["behind_quarters"], gold["status"]) == \
        (2, [2], "caught_up")
    enzyme = row(year, FENGCHENG, "enzyme_inhibition")
    assert (enzyme["done"], enzyme["q4_done"], enzyme["q4_due"]) == (260, 195, 260)
    assert (enzyme["fell_behind_in"], enzyme["behind_now"]) == (4, True)
    total = row(year, CANNEI, "total")  # 460: 115, 230, 345, 460 due
    assert [total[f"q{q}_done"] for q in range(1, 5)] == [70, 119, 170, 220]
    assert (total["fell_behind_in"], total["status"]) == (1, "behind")
    assert total["q1_due"] == 115
    named = {(b["unit_name"], b["method"]) for b in year["behind"]}
    assert {("参内镇", "colloidal_gold"), ("凤城镇", "enzyme_inhibition"), ("参内镇", "total"),
            ("县级", "total")} <= named
    assert ("参内镇", "veterinary") not in named  # 20 of 20 in Q1
    # Poultry and eggs: 20 of 480 tests county-wide = 4.17 %, short of 5 %.
    share = year["poultry_egg_share"]
    assert (share["poultry_egg_veterinary"], share["all_rapid_tests"]) == (20, 480)
    assert (share["percent"], share["met"]) == (4.17, False)
    insert_tests(engine, CANNEI, egg, "veterinary", "chicken_egg",
                 [("2023-03-01", "2023-03-02", 6)])
    share = progress(engine, date(2024, 2, 1))["poultry_egg_share"]
    assert (share["percent"], share["met"]) == (5.35, True)  # 26 of 486


def test_lab_monitoring_progress_and_smallholder_share(
        client: TestClient, engine: Engine) -> None:
    farm, holder = entity(engine, CANNEI), entity(engine, CANNEI, kind="smallholder")
    body = [lab(farm if i % 4 else holder, f"R-{i}", "cowpea", nd("克百威"),
                kind="risk_monitoring") for i in range(8)]
    assert client.post("/api/v1/testing/lab-results", headers=login(client),
                       json=body).status_code == 201
    report = client.get("/api/v1/reports/testing-progress?year=2023",
                        headers=login(client)).json()
    lab_row = report["lab_monitoring"]
    assert (lab_row["target"], lab_row["done"], lab_row["by_kind"]["risk_monitoring"]["done"]) \
        == (1774, 8, 8)
    assert (lab_row["smallholder_share"]["percent"], lab_row["smallholder_share"]["met"]) == \
        (25.0, True)
    assert lab_row["status"] == "behind"  # 8 by 31 March when 444 were due


def test_progress_report_downloads(client: TestClient, engine: Engine) -> None:
    auth = login(client)
    r = client.get("/api/v1/reports/testing-progress?year=2023&quarter=2&format=csv",
                   headers=auth)
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("检测单位,任务,全年任务,已完成")
    assert any(line.startswith("全县合计,快检合计,12200,0") for line in lines)
    assert any(line.startswith("县级,定量监测（批次）,1774,0") for line in lines)
    x = client.get("/api/v1/reports/testing-progress?year=2023&format=xlsx", headers=auth)
    ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
    assert ws["A1"].value == "检测单位"
    assert client.get("/api/v1/reports/testing-progress?year=2024&quarter=1",
                      headers=auth).status_code == 422  # not begun on 31 December 2023


def test_demo_year_has_shortfalls_and_listed_failures(engine: Engine, cipher: Any) -> None:
    from importers import demo
    from importers.demo.testing import generate_testing

    demo.generate(engine, seed=5, cipher=cipher)
    with transaction(engine, date(2024, 1, 15)) as conn:
        counts = generate_testing(conn, seed=5)
    assert counts["快检不合格"] > 0 and counts["列入重点监管名单"] > 0
    report = progress(engine, date(2024, 1, 15))
    total = row(report, "all", "total")
    assert 11_000 < total["done"] < 13_000
    assert {b["unit"] for b in report["behind"] if b["method"] == "total"}
    assert 1_600 < report["lab_monitoring"]["done"] < 1_774
    assert report["lab_monitoring"]["smallholder_share"]["met"]
    with engine.connect() as conn:
        unlinked = conn.execute(text(
            "SELECT count(*) FROM rapid_test WHERE result = 'fail' AND credit_event_id IS NULL"
        )).scalar_one()
        listed = conn.execute(text(
            "SELECT count(DISTINCT entity_id) FROM key_supervision_listing "
            "WHERE reason_code = 'sampling_failed'")).scalar_one()
    assert unlinked == 0 and listed > 0
    # Regenerating replaces the demo results instead of adding to them.
    with transaction(engine, date(2024, 1, 15)) as conn:
        assert generate_testing(conn, seed=5) == counts
    assert count(engine, "SELECT count(*) FROM rapid_test") == counts["快检结果"]


def test_command_line(db_url: str, engine: Engine, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli import main

    env = {"GEOREG_DATABASE_URL": db_url, "GEOREG_STATE_DIR": str(tmp_path)}

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.output

    assert "新增 5" in run("import", "mrl", str(MRL_FIXTURE))
    assert "未变 5" in run("import", "mrl", str(MRL_FIXTURE))
    pid = entity(engine, CANNEI)
    sheet = tmp_path / "快检.csv"
    sheet.write_text(f"主体编号,品种,抽样日期,检测单位,检测方法,检测结果,样品编号\n"
                     f"{pid},豇豆,2023-02-01,参内镇,胶体金法,合格,C-1\n", encoding="utf-8")
    assert "导入 1 条" in run("import", "rapid-tests", str(sheet), "--as", "cnx05")
    table = run("report", "testing-progress", "--year", "2023")
    assert "参内镇" in table and "禽肉禽蛋兽残快检占全县快检：0/1" in table
    out = tmp_path / "p.xlsx"
    run("report", "testing-progress", "--year", "2023", "--format", "xlsx", "-o", str(out))
    assert openpyxl.load_workbook(out).active["A1"].value == "检测单位"
