"""Bulk import of credit events from CSV or XLSX with Chinese headers, all or nothing.

Headers: 主体编号 or 统一社会信用代码 (one of them per row), 类型 (label such as 行政处罚, or
code), 日期, 发证/处罚单位, 文号, 摘要, 证据, 结果 (label such as 不合格 / 严重, or code).
Every problem is reported with its row number as Excel shows it; one bad row stores nothing.
The rows are stored by georeg.credit.events.insert_events in one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from georeg.accounts import Account
from georeg.credit.events import check_fields, check_may_record, insert_events, may_record
from georeg.credit.vocab import KIND_LABELS, OUTCOME_LABELS
from georeg.errors import FieldError, InvalidInput
from georeg.ids import IdentifierError, normalize_uscc
from importers.tables import SheetRow, cell_date, cell_text, read_table

MAX_ROWS = 5000
MAX_ERRORS = 200  # enough to fix a file; a wholly wrong file need not list 5,000 rows

# Normalised header -> field. NFKC turns a full-width slash (／) into "/".
HEADERS = {
    "主体编号": "entity_id", "主体id": "entity_id",
    "统一社会信用代码": "uscc", "信用代码": "uscc",
    "类型": "kind", "事件类型": "kind",
    "日期": "occurred_on", "发生日期": "occurred_on",
    "发证/处罚单位": "issuing_unit", "发证单位": "issuing_unit", "处罚单位": "issuing_unit",
    "实施单位": "issuing_unit",
    "文号": "document_no",
    "摘要": "summary",
    "证据": "evidence_ref", "证据材料": "evidence_ref",
    "结果": "outcome",
}
COLUMN_NAMES = {"entity_id": "主体编号", "uscc": "统一社会信用代码", "kind": "类型",
                "occurred_on": "日期", "issuing_unit": "发证/处罚单位", "document_no": "文号",
                "summary": "摘要", "evidence_ref": "证据", "outcome": "结果"}
_KINDS = {**{v: k for k, v in KIND_LABELS.items()}, **{k: k for k in KIND_LABELS},
          **dict.fromkeys(("监督抽查", "抽检", "例行监测", "风险监测", "定量监测", "快检",
                           "快速检测"), "sampling")}
_OUTCOMES = {**{v: k for k, v in OUTCOME_LABELS.items()}, **{k: k for k in OUTCOME_LABELS},
             "正常": "normal", "无问题": "normal", "较重": "major"}


def read_event_file(data: bytes, filename: str = "") -> list[SheetRow]:
    """The data rows of a CSV or XLSX file (first sheet), keyed by field."""
    return read_table(data, filename, headers=HEADERS, required={"kind", "occurred_on"},
                      any_of={"entity_id", "uscc"}, names=COLUMN_NAMES)


def _parse(row: SheetRow, today: date, errors: list[FieldError]) -> dict[str, Any]:
    def fail(field: str, code: str, message: str) -> None:
        errors.append(FieldError(f"[{row.number}].{field}", code,
                                 f"第 {row.number} 行“{COLUMN_NAMES[field]}”：{message}"))

    c = row.cells
    out: dict[str, Any] = {f: cell_text(c.get(f)) for f in ("issuing_unit", "document_no",
                                                        "summary", "evidence_ref")}
    raw_id = cell_text(c.get("entity_id"))
    out["entity_id"] = int(raw_id) if raw_id and raw_id.isdigit() else None
    if raw_id and out["entity_id"] is None:
        fail("entity_id", "invalid", "应为整数")
    out["uscc"] = None
    if cell_text(c.get("uscc")):
        try:
            out["uscc"] = normalize_uscc(cell_text(c.get("uscc")) or "")
        except IdentifierError as e:
            fail("uscc", e.code, e.message)
    elif not raw_id:
        fail("entity_id", "required", "须填写主体编号或统一社会信用代码")
    kind = cell_text(c.get("kind"))
    out["kind"] = _KINDS.get(kind or "")
    outcome = cell_text(c.get("outcome"))
    out["outcome"] = _OUTCOMES.get(outcome) if outcome else None
    if outcome and out["outcome"] is None:
        fail("outcome", "invalid_outcome", "无法识别的结果")
    day = None if c.get("occurred_on") is None else cell_date(c["occurred_on"])
    out["occurred_on"] = day
    if day is None:
        fail("occurred_on", "invalid_date", "应为日期，如 2024-03-15")
    elif day > today:
        fail("occurred_on", "in_future", "事件日期不能晚于今天")
    for e in check_fields(out["kind"], out["outcome"], out["summary"]):
        if e.field != "outcome" or not outcome or out["outcome"] is not None:
            fail(e.field, e.code, e.message)
    return out


def _resolve(conn: Connection, rows: Sequence[SheetRow], parsed: list[dict[str, Any]],
             account: Account, errors: list[FieldError]) -> None:
    ids = [p["entity_id"] for p in parsed if p["entity_id"] is not None]
    usccs = [p["uscc"] for p in parsed if p["uscc"] is not None]
    found = conn.execute(text(
        "SELECT id, uscc, township_code FROM entity WHERE id = ANY(CAST(:ids AS bigint[])) "
        "OR uscc = ANY(CAST(:usccs AS text[]))"), {"ids": ids, "usccs": usccs}).all()
    by_id = {r.id: r for r in found}
    by_uscc = {r.uscc: r for r in found if r.uscc}
    for row, p in zip(rows, parsed, strict=True):
        where = f"第 {row.number} 行"
        entity = by_id.get(p["entity_id"]) if p["entity_id"] is not None else None
        if p["uscc"] is not None:
            match = by_uscc.get(p["uscc"])
            if match is None:
                errors.append(FieldError(f"[{row.number}].uscc", "unknown_entity",
                                         f"{where}：该统一社会信用代码未登记"))
                continue
            if p["entity_id"] is not None and match.id != p["entity_id"]:
                errors.append(FieldError(f"[{row.number}].uscc", "mismatch",
                                         f"{where}：主体编号与统一社会信用代码不是同一主体"))
                continue
            entity = match
        elif p["entity_id"] is not None and entity is None:
            errors.append(FieldError(f"[{row.number}].entity_id", "unknown_entity",
                                     f"{where}：主体不存在"))
            continue
        if entity is None:
            continue
        p["entity_id"] = entity.id
        if not may_record(account, entity.township_code):
            errors.append(FieldError(f"[{row.number}].entity_id", "out_of_scope",
                                     f"{where}：无权为该主体登记信用事件"))


def import_events(conn: Connection, rows: Sequence[SheetRow], account: Account) -> list[int]:
    """Store every row as an event, or none of them; returns the new ids in row order."""
    if not rows:
        msg = "文件中没有数据行"
        raise InvalidInput(msg, [FieldError("file", "empty", msg)])
    if len(rows) > MAX_ROWS:
        msg = f"每次最多导入 {MAX_ROWS} 行，本文件有 {len(rows)} 行"
        raise InvalidInput(msg, [FieldError("file", "too_many_rows", msg)])
    check_may_record(account)
    today = conn.execute(text("SELECT georeg_today()")).scalar_one()
    errors: list[FieldError] = []
    parsed = [_parse(r, today, errors) for r in rows]
    _resolve(conn, rows, parsed, account, errors)
    if errors:
        errors.sort(key=lambda e: int(e.field[1:e.field.index("]")]))
        raise InvalidInput(f"{len(errors)} 处错误，本文件未导入", errors[:MAX_ERRORS])
    return insert_events(conn, parsed, account=account, today=today)
