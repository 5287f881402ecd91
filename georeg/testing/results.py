"""Recording rapid tests and lab results: validation, township scope, batches, credit events.

A batch (JSON or a file) is checked as a whole, every problem named by its record (or file row)
number and field, and stored all or nothing, with the patrols' batch check (georeg.activity):
unknown entities, entities outside a township account's township, and each row's own rules.
A record already stored (same unit, sample number and method; same lab and report number)
is skipped, so a re-submission adds nothing.

Credit record (same transaction as the result):
- a failed rapid test or a failed lab result (any kind) appends a `sampling` / `fail` event,
  which lists the entity on the key-supervision list (georeg.credit.listing);
- a passed supervisory sampling (监督抽查) appends a `sampling` / `pass` event;
- passed rapid tests and passed routine or risk monitoring are not credit events: they are
  screening and monitoring, not the supervisory sampling the credit record lists, and at
  ~20 rapid tests per producer a year they would drown the record (and lift every grade);
- a lab sample to review (a detection without a limit) writes nothing until a person decides
  (georeg.testing.review), and then follows the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnClause,
    ColumnElement,
    Connection,
    Date,
    FromClause,
    Text,
    case,
    column,
    func,
    literal,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from georeg.accounts import Account, Role
from georeg.activity import _check_batch, _record_error, insert_batch
from georeg.credit.events import record_event
from georeg.errors import FieldError, Forbidden, InvalidInput, NotFound
from georeg.tables import account as _account
from georeg.tables import commodity as commodity_table
from georeg.tables import entity, township
from georeg.tables import mrl as _mrl
from georeg.testing.mrl import Analyte, judge, normalize_substance, sample_result
from georeg.testing.vocab import (
    BASIS_LABELS,
    COUNTY_UNIT,
    COUNTY_UNIT_LABEL,
    JUDGEMENT_LABELS,
    LAB_KIND_LABELS,
    METHOD_CATEGORIES,
    METHOD_LABELS,
    RESULT_LABELS,
)
from georeg.values import cell_date, cell_text

RECORDING_ROLES = frozenset({Role.township_supervisor, Role.county_supervisor, Role.admin})
MAX_BATCH = 5000

_METHODS = {**{k: k for k in METHOD_LABELS}, **{v: k for k, v in METHOD_LABELS.items()},
            "胶体金法": "colloidal_gold", "胶体金": "colloidal_gold",
            "酶抑制法": "enzyme_inhibition", "酶抑制": "enzyme_inhibition",
            "兽残": "veterinary", "兽药残留": "veterinary", "兽药残留快检": "veterinary"}
_RAPID_RESULTS = {"pass": "pass", "fail": "fail", "合格": "pass", "不合格": "fail",
                  "阴性": "pass", "阳性": "fail"}
_LAB_KINDS = {**{k: k for k in LAB_KIND_LABELS}, **{v: k for k, v in LAB_KIND_LABELS.items()},
              "例行监测（风险监测）": "routine_monitoring"}
_NOT_DETECTED = {"nd", "未检出", "-"}

RAPID_FIELDS = ("entity_id", "commodity", "sampled_on", "unit", "method", "parameter", "result",
                "sample_no", "plan_id", "target_no")
LAB_FIELDS = ("entity_id", "commodity", "sampled_on", "unit", "kind", "lab", "report_no",
              "sample_no", "plan_id", "target_no", "analytes")
ANALYTE_FIELDS = ("substance", "value_mg_kg", "not_detected", "lod_mg_kg")


def check_may_record(account: Account) -> None:
    if account.role not in RECORDING_ROLES:
        raise Forbidden("只有乡镇监管员、县级监管员和系统管理员可以登记检测结果")


class _Parser:
    """Reads one submitted record into typed values, noting what is wrong with which field."""

    def __init__(self, number: int, raw: dict[str, Any], allowed: tuple[str, ...],
                 errors: list[FieldError], prefix: str = "") -> None:
        self.number, self.raw, self.errors, self.prefix = number, raw, errors, prefix
        for key in raw:
            if key not in allowed and key != "_row":
                self.fail(key, "not_allowed", f"不认识的字段 {key}")

    def fail(self, field: str, code: str, message: str) -> None:
        self.errors.append(_record_error(self.number, self.prefix + field, code, message))

    def text(self, field: str, *, required: bool = False, label: str = "") -> str | None:
        value = self.raw.get(field)
        if value is not None and not isinstance(value, str | int | float):
            self.fail(field, "invalid", f"{label or field}应为文本")
            return None
        value = cell_text(value)
        if value is None and required:
            self.fail(field, "required", f"缺少{label or field}")
        return value

    def integer(self, field: str, *, required: bool = False, label: str = "") -> int | None:
        value = self.raw.get(field)
        if value is None or value == "":
            if required:
                self.fail(field, "required", f"缺少{label or field}")
            return None
        if isinstance(value, bool) or not (isinstance(value, int) or str(value).isdigit()):
            self.fail(field, "not_an_integer", f"{label or field}应为整数")
            return None
        return int(value)

    def day(self, field: str, label: str) -> date | None:
        value = self.raw.get(field)
        if value is None or value == "":
            self.fail(field, "required", f"缺少{label}")
            return None
        parsed = cell_date(value) if isinstance(value, str | date | int | float) else None
        if parsed is None:
            self.fail(field, "invalid_date", f"{label}应为日期，如 2023-05-04")
        return parsed

    def choice(self, field: str, choices: dict[str, str], label: str,
               default: str | None = None) -> str | None:
        value = self.text(field)
        if value is None:
            if default is None:
                self.fail(field, "required", f"缺少{label}")
            return default
        found = choices.get(value) or choices.get(value.lower())
        if found is None:
            allowed = "、".join(sorted({k for k, v in choices.items() if k == v}))
            self.fail(field, "invalid_choice", f"{label}应为：{allowed}（或对应中文）")
        return found

    def decimal(self, field: str, label: str) -> Decimal | None:
        value = self.raw.get(field)
        if value is None or value == "":
            return None
        try:
            d = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            d = None
        if isinstance(value, bool) or d is None or not d.is_finite() or d < 0:
            self.fail(field, "invalid_number", f"{label}应为不小于 0 的数（mg/kg）")
            return None
        return d


def _lookups(conn: Connection) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Commodity name or slug -> slug, slug -> category, unit name or code -> unit."""
    rows = conn.execute(text("SELECT slug, name_zh, category FROM commodity")).all()
    commodities = {r.slug: r.slug for r in rows} | {r.name_zh: r.slug for r in rows}
    units = {COUNTY_UNIT: COUNTY_UNIT, COUNTY_UNIT_LABEL: COUNTY_UNIT, "县本级": COUNTY_UNIT}
    for code, name in conn.execute(text("SELECT code, name FROM township")).all():
        units[code] = units[name] = code
    return commodities, {r.slug: r.category for r in rows}, units


def _common(p: _Parser, account: Account, commodities: dict[str, str],
            units: dict[str, str], *, sample_no_required: bool) -> dict[str, Any]:
    """The fields rapid tests and lab samples share; a unit left out is the account's own."""
    entity_id = p.integer("entity_id", required=True, label="主体编号")
    commodity_text = p.text("commodity", required=True, label="品种")
    commodity = commodities.get(commodity_text or "") or commodities.get(
        (commodity_text or "").lower())
    if commodity_text and commodity is None:
        p.fail("commodity", "unknown_commodity", "未知的农产品品种")
    sampled_on = p.day("sampled_on", "抽样日期")
    unit_text = p.text("unit")
    unit = (account.township_code or COUNTY_UNIT) if unit_text is None else units.get(unit_text)
    if unit is None:
        p.fail("unit", "unknown_unit", "检测单位应为 county（县级）或 12 位乡镇代码（或乡镇名称）")
    sample_no = p.text("sample_no", required=sample_no_required, label="样品编号")
    before = len(p.errors)
    plan_id, target_no = p.integer("plan_id"), p.integer("target_no")
    if (plan_id is None) != (target_no is None) and len(p.errors) == before:
        p.fail("target_no", "plan_target_incomplete", "抽样计划编号与目标序号须同时填写")
    return {"_row": p.number, "entity_id": entity_id, "commodity": commodity,
            "sampled_on": sampled_on, "unit": unit, "sample_no": sample_no,
            "plan_id": plan_id, "target_no": target_no}


def _rows(raw_rows: list[dict[str, Any]], parse: Callable[[_Parser], dict[str, Any]],
          allowed: tuple[str, ...], errors: list[FieldError]) -> list[dict[str, Any]]:
    if not raw_rows:
        raise InvalidInput("没有要登记的记录", [FieldError("body", "empty", "没有要登记的记录")])
    if len(raw_rows) > MAX_BATCH:
        msg = f"一批至多 {MAX_BATCH} 条"
        raise InvalidInput(msg, [FieldError("body", "too_many", msg)])
    out = []
    for i, raw in enumerate(raw_rows, start=1):
        if not isinstance(raw, dict):
            errors.append(_record_error(i, "body", "not_an_object", "每条记录应为对象"))
            continue
        out.append(parse(_Parser(raw.get("_row", i), raw, allowed, errors)))
    return out


def _validate(conn: Connection, rows: list[dict[str, Any]], errors: list[FieldError],
              account: Account, today: date, what: str,
              extra: Callable[[int, dict[str, Any], list[FieldError]], None] | None = None
              ) -> None:
    """The shared batch check (entities, scope) plus dates and units; all errors at once."""
    entity_township = dict(conn.execute(text(
        "SELECT id, township_code FROM entity WHERE id = ANY(:ids)"),
        {"ids": [r["entity_id"] for r in rows if r["entity_id"] is not None]}).all())

    def check(i: int, r: dict[str, Any], errs: list[FieldError]) -> None:
        if r["sampled_on"] is not None and r["sampled_on"] > today:
            errs.append(_record_error(i, "sampled_on", "in_future", "抽样日期不能晚于今天"))
        unit, home = r["unit"], entity_township.get(r["entity_id"])
        if unit is not None and not account.county_wide and unit != account.township_code:
            errs.append(_record_error(i, "unit", "out_of_scope",
                                      "乡镇账号只能登记本乡镇检测的结果"))
        elif (unit not in (None, COUNTY_UNIT) and home is not None and unit != home
              and account.may_write(home)):  # else the entity is out of scope already
            errs.append(_record_error(i, "unit", "unit_mismatch",
                                      "乡镇检测单位只能检测本乡镇主体的样品"))
        if extra is not None:
            extra(i, r, errs)

    checkable = [r for r in rows if r["entity_id"] is not None]
    if checkable:
        try:
            _check_batch(conn, checkable, account, what, check)
        except InvalidInput as e:
            errors.extend(e.errors)
    if errors:
        errors.sort(key=lambda e: int(e.field[1:e.field.index("]")]) if e.field.startswith(
            "[") else 0)
        raise InvalidInput(f"{len(errors)} 处错误，本批未保存", errors)


# --- rapid tests ------------------------------------------------------------------------------

def record_rapid_tests(conn: Connection, raw_rows: list[dict[str, Any]], *, account: Account,
                       today: date) -> dict[str, Any]:
    """Store rapid-test results (all or nothing); failures go to the credit record."""
    check_may_record(account)
    commodities, categories, units = _lookups(conn)
    errors: list[FieldError] = []

    def parse(p: _Parser) -> dict[str, Any]:
        return {**_common(p, account, commodities, units, sample_no_required=True),
                "method": p.choice("method", _METHODS, "检测方法"),
                "parameter": p.text("parameter"),
                "result": p.choice("result", _RAPID_RESULTS, "检测结果")}

    def method_fits(i: int, r: dict[str, Any], errs: list[FieldError]) -> None:
        category = categories.get(r["commodity"] or "")
        if r["method"] and category and category not in METHOD_CATEGORIES[r["method"]]:
            errs.append(_record_error(
                i, "method", "method_commodity",
                f"{METHOD_LABELS[r['method']]}不适用于该品种（农残快检用于种植产品，"
                "兽残快检用于畜禽蛋和水产品）"))

    rows = _rows(raw_rows, parse, RAPID_FIELDS, errors)
    _validate(conn, rows, errors, account, today, "快检结果", method_fits)
    columns = ("entity_id", "commodity", "sampled_on", "unit", "method", "parameter", "result",
               "sample_no", "plan_id", "target_no")
    ids = insert_batch(conn, "rapid_test", columns, rows,
                       conflict_constraint="rapid_test_sample_key",
                       extra={"recorded_by": account.id})
    events = _rapid_test_credit(conn, ids, account)
    return {"created": len(ids), "ids": ids, "skipped_existing": len(rows) - len(ids),
            "failed": len(events), "credit_events": events}


def _rapid_test_credit(conn: Connection, ids: list[int], account: Account) -> list[int]:
    failed = conn.execute(text("""
        SELECT r.id, r.entity_id, r.sampled_on, r.method, r.parameter, r.sample_no,
               c.name_zh AS commodity, coalesce(t.name, :county) AS unit_name
        FROM rapid_test r JOIN commodity c ON c.slug = r.commodity
        LEFT JOIN township t ON t.code = r.unit_township
        WHERE r.id = ANY(:ids) AND r.result = 'fail' ORDER BY r.id"""),
        {"ids": ids, "county": COUNTY_UNIT_LABEL}).all()
    events = []
    for r in failed:
        what = f"，检测项目 {r.parameter}" if r.parameter else ""
        events.append(record_event(
            conn, entity_id=r.entity_id, kind="sampling", outcome="fail",
            occurred_on=r.sampled_on, recorded_by=account.id, issuing_unit=r.unit_name,
            document_no=r.sample_no, evidence_ref=f"rapid_test:{r.id}",
            summary=f"快检不合格：{r.commodity}，{METHOD_LABELS[r.method]}{what}，"
                    f"样品编号 {r.sample_no}"))
    if failed:
        conn.execute(text("""
            UPDATE rapid_test r SET credit_event_id = u.event
            FROM unnest(CAST(:ids AS bigint[]), CAST(:events AS bigint[])) AS u(id, event)
            WHERE r.id = u.id"""), {"ids": [r.id for r in failed], "events": events})
    return events


# --- lab results ------------------------------------------------------------------------------

def record_lab_results(conn: Connection, raw_rows: list[dict[str, Any]], *, account: Account,
                       today: date) -> dict[str, Any]:
    """Store lab samples with their analytes, judged against the MRL table and banned list."""
    check_may_record(account)
    commodities, _, units = _lookups(conn)
    errors: list[FieldError] = []

    def parse(p: _Parser) -> dict[str, Any]:
        row = {**_common(p, account, commodities, units, sample_no_required=False),
               "kind": p.choice("kind", _LAB_KINDS, "监测类型"),
               "lab": p.text("lab", required=True, label="检测机构"),
               "report_no": p.text("report_no", required=True, label="报告编号")}
        row["analytes"] = _analytes(p, errors)
        return row

    rows = _rows(raw_rows, parse, LAB_FIELDS, errors)
    _validate(conn, rows, errors, account, today, "定量检测结果")
    flat = [Analyte(r["commodity"], a["substance"], a["detected"], a["value_mg_kg"])
            for r in rows for a in r["analytes"]]
    judged = iter(judge(conn, flat))
    for r in rows:
        for a in r["analytes"]:
            a["judgement"] = next(judged)
        r["result"] = sample_result([a["judgement"] for a in r["analytes"]])
    stored, events = [], []
    for r in rows:
        sample_id = conn.execute(text("""
            INSERT INTO lab_sample (entity_id, commodity, sampled_on, unit, kind, lab, report_no,
                                    sample_no, result, recorded_by, plan_id, target_no)
            VALUES (:entity_id, :commodity, :sampled_on, :unit, :kind, :lab, :report_no,
                    :sample_no, :result, :recorded_by, :plan_id, :target_no)
            ON CONFLICT ON CONSTRAINT lab_sample_report_key DO NOTHING RETURNING id"""),
            {**{k: r[k] for k in LAB_FIELDS if k != "analytes"}, "result": r["result"],
             "recorded_by": account.id}).scalar()
        if sample_id is None:
            continue
        insert_batch(conn, "lab_analyte", ("sample_id", "substance", "detected", "value_mg_kg",
                                           "lod_mg_kg", "judgement", "basis", "mrl_id",
                                           "limit_mg_kg"),
                     [{"sample_id": sample_id, **a, "judgement": a["judgement"].judgement,
                       "basis": a["judgement"].basis, "mrl_id": a["judgement"].mrl_id,
                       "limit_mg_kg": a["judgement"].limit_mg_kg} for a in r["analytes"]])
        event = _lab_credit(conn, sample_id, r, account)
        if event is not None:
            events.append(event)
        stored.append(_stored_sample(sample_id, r))
    return {"created": len(stored), "ids": [s["id"] for s in stored],
            "skipped_existing": len(rows) - len(stored), "samples": stored,
            "credit_events": events}


def _analytes(p: _Parser, errors: list[FieldError]) -> list[dict[str, Any]]:
    raw = p.raw.get("analytes")
    if not isinstance(raw, list) or not raw:
        p.fail("analytes", "required", "须填写至少一个检测项目（analytes）")
        return []
    out, seen = [], set()
    for j, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            p.fail(f"analytes[{j}]", "not_an_object", "检测项目应为对象")
            continue
        a = _Parser(p.number, item, ANALYTE_FIELDS, errors, prefix=f"analytes[{j}].")
        name = a.text("substance", required=True, label="检测项目（农药/兽药名称）")
        substance = normalize_substance(name) if name else None
        if substance in seen:
            a.fail("substance", "duplicate", "同一样品的检测项目重复")
        seen.add(substance)
        raw_value, nd_flag = item.get("value_mg_kg"), item.get("not_detected")
        if nd_flag is not None and not isinstance(nd_flag, bool):
            a.fail("not_detected", "invalid", "not_detected 应为 true 或 false")
        nd_text = isinstance(raw_value, str) and raw_value.strip().lower() in _NOT_DETECTED
        not_detected = nd_flag is True or nd_text
        before = len(errors)
        value = None if nd_text else a.decimal("value_mg_kg", "检出值")
        value_unreadable = len(errors) > before
        lod = a.decimal("lod_mg_kg", "检出限")
        if not_detected and value is not None:
            a.fail("value_mg_kg", "not_allowed", "标明未检出时不填检出值")
        elif not not_detected and value is None and not value_unreadable:
            a.fail("value_mg_kg", "required", "须填写检出值（mg/kg），或标明未检出（not_detected）")
        elif value is not None and lod is not None and value < lod:
            a.fail("value_mg_kg", "below_lod", "检出值低于检出限，应标明未检出")
        out.append({"substance": substance, "detected": not not_detected,
                    "value_mg_kg": None if not_detected else value, "lod_mg_kg": lod})
    return out


def _lab_credit(conn: Connection, sample_id: int, r: dict[str, Any],
                account: Account, *, reviewed: bool = False) -> int | None:
    """The sample's credit event, if its result is one (module docstring); `reviewed`: the
    result was settled by a person (复核判定), whose decisions are the analytes' `decision`."""
    supervisory = r["kind"] == "supervisory_sampling"
    if not (r["result"] == "fail" or (r["result"] == "pass" and supervisory)):
        return None
    commodity = conn.execute(text("SELECT name_zh FROM commodity WHERE slug = :s"),
                             {"s": r["commodity"]}).scalar_one()
    on_review = "（复核判定）" if reviewed else ""
    if r["result"] == "fail":
        why = "；".join(_failure(a) for a in r["analytes"] if _standing(a) == "fail")
        summary = f"{LAB_KIND_LABELS[r['kind']]}不合格{on_review}：{commodity}，{why}"
    else:
        summary = f"监督抽查合格{on_review}：{commodity}，检测 {len(r['analytes'])} 项"
    event = record_event(conn, entity_id=r["entity_id"], kind="sampling", outcome=r["result"],
                         occurred_on=r["sampled_on"], recorded_by=account.id,
                         issuing_unit=r["lab"], document_no=r["report_no"],
                         evidence_ref=f"lab_sample:{sample_id}", summary=summary)
    conn.execute(text("UPDATE lab_sample SET credit_event_id = :e WHERE id = :id"),
                 {"e": event, "id": sample_id})
    return event


def _standing(a: dict[str, Any]) -> str:
    """An analyte's judgement as it stands: a reviewer's decision, else the automatic one."""
    decision = a.get("decision")
    return decision["judgement"] if decision else a["judgement"].judgement


def _failure(a: dict[str, Any]) -> str:
    decision, j = a.get("decision"), a["judgement"]
    if decision:
        limit = decision["limit_mg_kg"]
        reference = f"，参考限量 {limit} mg/kg" if limit is not None else ""
        return (f"{a['substance']} {a['value_mg_kg']} mg/kg（复核判定不合格{reference}，"
                f"依据：{decision['basis']}）")
    return (f"{a['substance']} {a['value_mg_kg']} mg/kg（{BASIS_LABELS[j.basis]}"
            + (f"，限量 {j.limit_mg_kg} mg/kg" if j.basis == "over_limit" else "") + "）")


def _stored_sample(sample_id: int, r: dict[str, Any]) -> dict[str, Any]:
    return {"id": sample_id, "report_no": r["report_no"], "result": r["result"],
            "result_label": RESULT_LABELS[r["result"]],
            "analytes": [{"substance": a["substance"], "detected": a["detected"],
                          "value_mg_kg": _number(a["value_mg_kg"]),
                          **_judgement_dict(a["judgement"])} for a in r["analytes"]]}


def _judgement_dict(j: Any) -> dict[str, Any]:
    return {"judgement": j.judgement, "judgement_label": JUDGEMENT_LABELS[j.judgement],
            "basis": j.basis, "basis_label": BASIS_LABELS[j.basis], "mrl_id": j.mrl_id,
            "limit_mg_kg": _number(j.limit_mg_kg), "standard": j.standard, "clause": j.clause,
            "banned_source": j.banned_source}


def _number(value: Decimal | None) -> float | None:
    """mg/kg as a JSON number (as the lists give them), not pydantic's string for Decimal."""
    return None if value is None else float(value)


# --- lists ------------------------------------------------------------------------------------

# sql/009_testing.sql, 014_lab_review.sql: the columns the lists read. Light tables: names, and
# types where a filter binds a value (its cast as the column's); results pass through as the
# driver reads them.
_TYPED = {"id": BigInteger, "entity_id": BigInteger, "sampled_on": Date, "unit": Text,
          "commodity": Text, "result": Text, "method": Text, "kind": Text}
_RAPID_COLUMNS = ("id", "entity_id", "commodity", "sampled_on", "unit", "method", "parameter",
                  "result", "sample_no", "credit_event_id", "plan_id", "target_no", "created_at")
_LAB_COLUMNS = ("id", "entity_id", "commodity", "sampled_on", "unit", "kind", "lab", "report_no",
                "sample_no", "result", "credit_event_id", "plan_id", "target_no", "created_at",
                "reviewed_by", "reviewed_at", "review_note")


def _columns(*names: str) -> list[ColumnClause[Any]]:
    return [column(name, _TYPED.get(name)) for name in names]


_rapid_test = table("rapid_test", *_columns(*_RAPID_COLUMNS, "unit_township"))
_lab_sample = table("lab_sample", *_columns(*_LAB_COLUMNS, "unit_township"))
_lab_analyte = table("lab_analyte", *map(column, (
    "id", "sample_id", "substance", "detected", "value_mg_kg", "lod_mg_kg", "judgement", "basis",
    "mrl_id", "limit_mg_kg", "review_judgement", "review_basis", "review_limit_mg_kg")))


def _json_object(**members: Any) -> ColumnElement[Any]:
    """json_build_object of name/value pairs, the names as parameters."""
    return func.json_build_object(*(v for k, e in members.items() for v in (literal(k), e)))


def _lab_select(x: FromClause) -> list[ColumnElement[Any]]:
    """A sample's columns, its reviewer's name and its analytes (JSON, in id order) with the
    standard and clause of the limit used and the reviewer's decision, if any."""
    a, m, r = _lab_analyte.alias("a"), _mrl.alias("m"), _account.alias("r")
    decision = case((a.c.review_judgement.is_not(None), _json_object(
        judgement=a.c.review_judgement, basis=a.c.review_basis,
        limit_mg_kg=a.c.review_limit_mg_kg)))
    analyte = _json_object(
        substance=a.c.substance, detected=a.c.detected, value_mg_kg=a.c.value_mg_kg,
        lod_mg_kg=a.c.lod_mg_kg, judgement=a.c.judgement, basis=a.c.basis, mrl_id=a.c.mrl_id,
        limit_mg_kg=a.c.limit_mg_kg, standard=m.c.standard, clause=m.c.clause,
        decision=decision)
    return [*(x.c[name] for name in _LAB_COLUMNS),
            select(r.c.display_name).where(r.c.id == x.c.reviewed_by)
            .scalar_subquery().label("reviewed_by_name"),
            select(func.json_agg(aggregate_order_by(analyte, a.c.id)))
            .select_from(a.outerjoin(m, m.c.id == a.c.mrl_id)).where(a.c.sample_id == x.c.id)
            .scalar_subquery().label("analytes")]


def _filters(x: FromClause, *, year: int | None, unit: str | None, entity_id: int | None,
             commodity: str | None, result: str | None) -> list[ColumnElement[bool]]:
    """The lists' filters: only those given (None: any)."""
    where = []
    if year is not None:
        where.append(x.c.sampled_on.between(func.make_date(year, 1, 1),
                                            func.make_date(year, 12, 31)))
    for name, value in (("unit", unit), ("entity_id", entity_id), ("commodity", commodity),
                        ("result", result)):
        if value is not None:
            where.append(x.c[name] == value)
    return where


def _listing(conn: Connection, x: FromClause, columns: list[ColumnElement[Any]],
             where: list[ColumnElement[bool]], limit: int, offset: int) -> tuple[int, list[Any]]:
    """The count and one page, newest first, with entity, commodity and unit names."""
    total = conn.execute(select(func.count()).select_from(x).where(*where)).scalar_one()
    e, c, t = entity.alias("e"), commodity_table.alias("c"), township.alias("t")
    rows = conn.execute(
        select(*columns, e.c.name.label("entity_name"), c.c.name_zh.label("commodity_name"),
               func.coalesce(t.c.name, COUNTY_UNIT_LABEL).label("unit_name"))
        .select_from(x.join(e, e.c.id == x.c.entity_id).join(c, c.c.slug == x.c.commodity)
                     .outerjoin(t, t.c.code == x.c.unit_township))
        .where(*where).order_by(x.c.sampled_on.desc(), x.c.id.desc())
        .limit(limit).offset(offset)).all()
    return total, rows


def list_rapid_tests(conn: Connection, *, year: int | None = None, unit: str | None = None,
                     method: str | None = None, result: str | None = None,
                     entity_id: int | None = None, commodity: str | None = None,
                     limit: int = 100, offset: int = 0) -> dict[str, Any]:
    x = _rapid_test.alias("x")
    where = _filters(x, year=year, unit=unit, entity_id=entity_id, commodity=commodity,
                     result=result)
    if method is not None:
        where.append(x.c.method == method)
    total, rows = _listing(conn, x, [x.c[name] for name in _RAPID_COLUMNS], where, limit,
                           offset)
    return {"total": total, "items": [
        {**r._asdict(), "method_label": METHOD_LABELS[r.method],
         "result_label": RESULT_LABELS[r.result]} for r in rows]}


def _lab_item(r: Any) -> dict[str, Any]:
    """A listed sample: the analytes' automatic judgements as recorded and, once a person has
    settled a sample to review, each decision beside its analyte and who decided when."""
    item = r._asdict()
    who = {k: item.pop(k) for k in ("reviewed_by", "reviewed_by_name", "reviewed_at",
                                    "review_note")}
    automatic = "review" if who["reviewed_at"] is not None else r.result
    analytes = []
    for a in r.analytes or []:
        decision = a["decision"]
        if decision is not None:
            decision = {**decision, "judgement_label": JUDGEMENT_LABELS[decision["judgement"]]}
        analytes.append({**a, "judgement_label": JUDGEMENT_LABELS[a["judgement"]],
                         "basis_label": BASIS_LABELS[a["basis"]], "decision": decision})
    return {**item, "kind_label": LAB_KIND_LABELS[r.kind], "result_label": RESULT_LABELS[r.result],
            "automatic_result": automatic, "automatic_result_label": RESULT_LABELS[automatic],
            "review": None if who["reviewed_at"] is None else {
                "reviewed_by": who["reviewed_by"], "reviewed_by_name": who["reviewed_by_name"],
                "reviewed_at": who["reviewed_at"], "note": who["review_note"]},
            "analytes": analytes}


def list_lab_results(conn: Connection, *, year: int | None = None, unit: str | None = None,
                     kind: str | None = None, result: str | None = None,
                     entity_id: int | None = None, commodity: str | None = None,
                     limit: int = 100, offset: int = 0) -> dict[str, Any]:
    x = _lab_sample.alias("x")
    where = _filters(x, year=year, unit=unit, entity_id=entity_id, commodity=commodity,
                     result=result)
    if kind is not None:
        where.append(x.c.kind == kind)
    total, rows = _listing(conn, x, _lab_select(x), where, limit, offset)
    return {"total": total, "items": [_lab_item(r) for r in rows]}


def get_lab_result(conn: Connection, sample_id: int) -> dict[str, Any]:
    """One sample, as list_lab_results gives it."""
    x = _lab_sample.alias("x")
    _, rows = _listing(conn, x, _lab_select(x), [x.c.id == sample_id], 1, 0)
    if not rows:
        raise NotFound("定量检测样品不存在",
                       [FieldError("sample_id", "not_found", "定量检测样品不存在")])
    return _lab_item(rows[0])
