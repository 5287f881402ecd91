"""Patrols and certificates from CSV/XLSX sheets with Chinese headers, all or nothing.

Every problem is named by the row number Excel shows; entities by 主体编号 or 统一社会信用代码.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, text

from georeg.commodities import commodity_names
from georeg.errors import FieldError, InvalidInput
from georeg.ids import IdentifierError, normalize_uscc
from importers.tables import SheetRow, cell_date, cell_text, read_table

ENTITY_HEADERS = {"主体编号": "entity_id", "主体id": "entity_id", "entity_id": "entity_id",
                  "统一社会信用代码": "uscc", "信用代码": "uscc", "uscc": "uscc"}
PATROL_HEADERS = ENTITY_HEADERS | {
    "巡查人": "inspector", "检查人": "inspector", "方式": "kind", "巡查方式": "kind",
    "巡查时间": "patrolled_at", "时间": "patrolled_at", "日期": "patrolled_at",
    "结果": "result", "巡查结果": "result", "发现问题": "findings", "问题": "findings",
    "整改要求": "follow_up", "跟进": "follow_up", "整改期限": "follow_up_due",
    "编号": "external_id", "巡查编号": "external_id"}
PATROL_NAMES = {"entity_id": "主体编号", "uscc": "统一社会信用代码", "inspector": "巡查人",
                "kind": "方式", "patrolled_at": "巡查时间"}
CERTIFICATE_HEADERS = ENTITY_HEADERS | {
    "批次号": "batch_no", "批次": "batch_no", "开证日期": "issued_on", "日期": "issued_on",
    "品种": "commodity", "产品": "commodity", "数量": "quantity", "单位": "unit",
    "追溯码": "trace_code"}
CERTIFICATE_NAMES = {"entity_id": "主体编号", "uscc": "统一社会信用代码", "batch_no": "批次号",
                     "issued_on": "开证日期", "quantity": "数量"}
KINDS = {"线上": "online", "线上巡查": "online", "online": "online", "现场": "field",
         "现场检查": "field", "field": "field"}
RESULTS = {"正常": "normal", "无问题": "normal", "normal": "normal", "发现问题": "problem",
           "有问题": "problem", "problem": "problem"}


def row_error(row: SheetRow, field: str, code: str, message: str) -> FieldError:
    return FieldError(f"[{row.number}].{field}", code, f"第 {row.number} 行：{message}")


def resolve_entities(conn: Connection, rows: list[SheetRow],
                     errors: list[FieldError]) -> list[Any]:
    """Entity id per row (None where unresolved; the error is recorded)."""
    usccs: dict[int, str] = {}
    for r in rows:
        if cell_text(r.cells.get("entity_id")) is None and cell_text(r.cells.get("uscc")):
            try:
                usccs[r.number] = normalize_uscc(str(r.cells["uscc"]))
            except IdentifierError as e:
                errors.append(row_error(r, "uscc", e.code, e.message))
    by_uscc = dict(conn.execute(text("SELECT uscc, id FROM entity WHERE uscc = ANY(:u)"),
                                {"u": list(set(usccs.values()))}).all())
    given_ids = [int(t) for r in rows if (t := cell_text(r.cells.get("entity_id"))) and t.isdigit()]
    known = set(conn.execute(text("SELECT id FROM entity WHERE id = ANY(:i)"),
                             {"i": given_ids}).scalars())
    out: list[Any] = []
    for r in rows:
        given = cell_text(r.cells.get("entity_id"))
        if given is not None:
            out.append(int(given) if given.isdigit() else None)
            if not given.isdigit():
                errors.append(row_error(r, "entity_id", "not_an_integer", "主体编号应为整数"))
            elif int(given) not in known:
                errors.append(row_error(r, "entity_id", "unknown_entity", "主体不存在"))
        elif r.number in usccs:
            out.append(by_uscc.get(usccs[r.number]))
            if out[-1] is None:
                errors.append(row_error(r, "uscc", "unknown_entity", "没有这个信用代码的主体"))
        else:
            out.append(None)
            if not any(e.field.startswith(f"[{r.number}].uscc") for e in errors):
                errors.append(row_error(r, "entity_id", "missing",
                                        "缺少主体编号或统一社会信用代码"))
    return out


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    day = cell_date(value)
    if day is not None:
        return datetime.combine(day, time(9))  # a date alone: the working morning
    try:
        return datetime.fromisoformat(str(value).strip().replace("/", "-"))
    except ValueError:
        return None


def patrol_sheet(data: bytes, filename: str) -> list[SheetRow]:
    """The file's rows, read without the database (the API does it before its transaction)."""
    return read_table(data, filename, headers=PATROL_HEADERS, names=PATROL_NAMES,
                      required={"inspector", "patrolled_at"}, any_of={"entity_id", "uscc"})


def certificate_sheet(data: bytes, filename: str) -> list[SheetRow]:
    return read_table(data, filename, headers=CERTIFICATE_HEADERS, names=CERTIFICATE_NAMES,
                      required={"batch_no", "issued_on", "quantity"},
                      any_of={"entity_id", "uscc"})


def read_patrols(conn: Connection, source: bytes | list[SheetRow], filename: str = ""
                 ) -> list[dict[str, Any]]:
    """Patrol records of a file's bytes or of its rows already read by `patrol_sheet`."""
    rows = patrol_sheet(source, filename) if isinstance(source, bytes) else source
    errors: list[FieldError] = []
    ids = resolve_entities(conn, rows, errors)
    out = []
    for r, entity_id in zip(rows, ids, strict=True):
        c = r.cells
        kind = KINDS.get(cell_text(c.get("kind")) or "线上")
        result = RESULTS.get(cell_text(c.get("result")) or "正常")
        moment = _moment(c.get("patrolled_at"))
        for field, ok, message in (("kind", kind, "方式应为 线上 或 现场"),
                                   ("result", result, "结果应为 正常 或 发现问题"),
                                   ("patrolled_at", moment, "巡查时间无法识别"),
                                   ("inspector", cell_text(c.get("inspector")), "缺少巡查人")):
            if not ok:
                errors.append(row_error(r, field, "invalid", message))
        out.append({"_row": r.number, "entity_id": entity_id,
                    "inspector": cell_text(c.get("inspector")), "kind": kind,
                    "patrolled_at": moment, "result": result,
                    "findings": cell_text(c.get("findings")),
                    "follow_up": cell_text(c.get("follow_up")),
                    "follow_up_due": cell_date(c["follow_up_due"])
                    if c.get("follow_up_due") else None,
                    "external_id": cell_text(c.get("external_id"))})
    if errors:
        raise InvalidInput(f"{len(errors)} 处错误，本文件未导入", errors)
    return out


def read_certificates(conn: Connection, source: bytes | list[SheetRow], filename: str = ""
                      ) -> list[dict[str, Any]]:
    rows = certificate_sheet(source, filename) if isinstance(source, bytes) else source
    errors: list[FieldError] = []
    ids = resolve_entities(conn, rows, errors)
    commodities = commodity_names(conn)
    out = []
    for r, entity_id in zip(rows, ids, strict=True):
        c = r.cells
        issued = cell_date(c.get("issued_on"))
        try:
            quantity = Decimal(str(c.get("quantity")).strip())
        except (InvalidOperation, ValueError):
            quantity = None
        if issued is None:
            errors.append(row_error(r, "issued_on", "invalid", "开证日期无法识别"))
        if quantity is None or quantity <= 0:
            errors.append(row_error(r, "quantity", "invalid", "数量应为正数"))
        commodity = cell_text(c.get("commodity"))
        out.append({"_row": r.number, "entity_id": entity_id,
                    "batch_no": cell_text(c.get("batch_no")), "issued_on": issued,
                    "commodity": commodities.get(commodity or "", commodity),
                    "quantity": quantity, "unit": cell_text(c.get("unit")) or "kg",
                    "trace_code": cell_text(c.get("trace_code"))})
    if errors:
        raise InvalidInput(f"{len(errors)} 处错误，本文件未导入", errors)
    return out
