"""Test results and the MRL table from CSV/XLSX sheets with Chinese headers, all or nothing.

Rapid tests: entities by 主体编号 or 统一社会信用代码 (as the patrol files), rows handed to
georeg.testing.results.record_rapid_tests. MRL files: every row names its standard, clause and
the standard's own words; parsed rows go to georeg.testing.mrl.store_mrl, which versions them.
Every problem is named by the row number Excel shows and its field.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection

from georeg.accounts import Account
from georeg.commodities import commodity_names
from georeg.errors import FieldError, InvalidInput
from georeg.testing.mrl import (
    CATEGORY_NAMES,
    NOT_DETECTABLE,
    check_may_load,
    normalize_standard,
    normalize_substance,
    store_mrl,
)
from importers.activity_files import ENTITY_HEADERS, resolve_entities, row_error
from importers.tables import SheetRow, cell_text, read_table

# --- rapid tests ------------------------------------------------------------------------------

RAPID_FILE_HEADERS = ENTITY_HEADERS | {
    "品种": "commodity", "产品": "commodity", "样品名称": "commodity",
    "抽样日期": "sampled_on", "检测日期": "sampled_on", "日期": "sampled_on",
    "检测单位": "unit", "单位": "unit",
    "检测方法": "method", "方法": "method",
    "检测项目": "parameter", "检测参数": "parameter", "项目": "parameter",
    "检测结果": "result", "结果": "result", "判定": "result",
    "样品编号": "sample_no", "编号": "sample_no", "批次号": "sample_no"}
RAPID_FILE_NAMES = {"entity_id": "主体编号", "uscc": "统一社会信用代码", "commodity": "品种",
                    "sampled_on": "抽样日期", "method": "检测方法", "result": "检测结果",
                    "sample_no": "样品编号"}


def rapid_test_sheet(data: bytes, filename: str) -> list[SheetRow]:
    """The file's rows, read without the database (the API does it before its transaction)."""
    return read_table(data, filename, headers=RAPID_FILE_HEADERS, names=RAPID_FILE_NAMES,
                      required={"commodity", "sampled_on", "method", "result", "sample_no"},
                      any_of={"entity_id", "uscc"})


def mrl_sheet(data: bytes, filename: str) -> list[SheetRow]:
    return read_table(data, filename, headers=MRL_HEADERS, names=MRL_NAMES,
                      required=set(MRL_NAMES))


def read_rapid_test_file(conn: Connection, source: bytes | list[SheetRow], filename: str = ""
                         ) -> list[dict[str, Any]]:
    """A CSV/XLSX sheet of rapid tests (bytes, or rows from `rapid_test_sheet`) as records
    for record_rapid_tests."""
    sheet = rapid_test_sheet(source, filename) if isinstance(source, bytes) else source
    errors: list[FieldError] = []
    ids = resolve_entities(conn, sheet, errors)
    if errors:
        raise InvalidInput(f"{len(errors)} 处错误，本文件未导入", errors)
    fields = ("commodity", "unit", "method", "parameter", "result", "sample_no")
    return [{"_row": r.number, "entity_id": entity_id,
             "sampled_on": r.cells.get("sampled_on"),
             **{f: cell_text(r.cells.get(f)) for f in fields if cell_text(r.cells.get(f))}}
            for r, entity_id in zip(sheet, ids, strict=True)]


# --- the MRL table ----------------------------------------------------------------------------

MAX_ERRORS = 200
MRL_HEADERS = {
    "农药/兽药": "substance", "农药": "substance", "兽药": "substance", "农药名称": "substance",
    "兽药名称": "substance", "药物名称": "substance", "物质": "substance",
    "substance": "substance",
    "食品": "commodity", "食品名称": "commodity", "食品类别/名称": "commodity",
    "品种": "commodity", "产品": "commodity", "品种/类别": "commodity",
    "commodity": "commodity",
    "最大残留限量(mg/kg)": "limit", "最大残留限量": "limit", "限量(mg/kg)": "limit",
    "限量": "limit", "mrl(mg/kg)": "limit", "mrl": "limit", "limit_mg_kg": "limit",
    "标准": "standard", "标准号": "standard", "依据标准": "standard", "standard": "standard",
    "条款": "clause", "条款/表": "clause", "表/条款": "clause", "条款号": "clause",
    "clause": "clause",
    "原文": "source_text", "标准原文": "source_text", "来源原文": "source_text",
    "source_text": "source_text", "source": "source_text",
}
MRL_NAMES = {"substance": "农药/兽药", "commodity": "食品", "limit": "最大残留限量(mg/kg)",
             "standard": "标准", "clause": "条款", "source_text": "原文"}


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def read_mrl_rows(conn: Connection, source: bytes | list[SheetRow], filename: str = ""
                  ) -> list[dict[str, Any]]:
    """Parsed rows of an MRL file; every problem reported with its row number and field."""
    sheet = mrl_sheet(source, filename) if isinstance(source, bytes) else source
    if not sheet:
        raise InvalidInput("文件中没有数据行", [FieldError("file", "empty", "文件中没有数据行")])
    commodities = commodity_names(conn)
    errors: list[FieldError] = []
    out: list[dict[str, Any]] = []
    seen: dict[tuple[str, str | None, str | None], int] = {}
    for r in sheet:
        parsed = _parse_mrl_row(r, commodities, errors)
        if parsed is None:
            continue
        key = (parsed["substance"], parsed["commodity"], parsed["category"])
        if key in seen:
            errors.append(row_error(r, "substance", "duplicate",
                                    f"与第 {seen[key]} 行是同一物质、同一食品，一个文件只能有一行"))
        seen.setdefault(key, r.number)
        out.append(parsed)
    if errors:
        raise InvalidInput(f"{len(errors)} 处错误，本文件未导入", errors[:MAX_ERRORS])
    return out


def _parse_mrl_row(r: SheetRow, commodities: dict[str, str],
                   errors: list[FieldError]) -> dict[str, Any] | None:
    c = r.cells
    before = len(errors)
    texts = {f: cell_text(c.get(f)) for f in ("substance", "commodity", "standard", "clause",
                                              "source_text")}
    for field, value in texts.items():
        if value is None:
            why = "缺少出处（每行须注明标准、条款和原文）" if field in (
                "standard", "clause", "source_text") else f"缺少{MRL_NAMES[field]}"
            errors.append(row_error(r, field, "required", why))
    commodity = category = None
    if texts["commodity"]:
        name = re.sub(r"\s", "", unicodedata.normalize("NFKC", texts["commodity"]))
        commodity = commodities.get(name) or commodities.get(name.lower())
        category = None if commodity else CATEGORY_NAMES.get(name) or CATEGORY_NAMES.get(
            name.lower())
        if commodity is None and category is None:
            errors.append(row_error(r, "commodity", "unknown_commodity",
                                    "未知的品种或类别（应为品种名称，如 豇豆，或类别，如 蔬菜）"))
    raw_limit = cell_text(c.get("limit"))
    limit = Decimal(0) if raw_limit in NOT_DETECTABLE else _decimal(c.get("limit"))
    if raw_limit is None:
        errors.append(row_error(r, "limit", "required", "缺少最大残留限量"))
    elif limit is None or limit < 0:
        errors.append(row_error(r, "limit", "invalid",
                                "最大残留限量应为不小于 0 的数（mg/kg），或“不得检出”"))
    standard = normalize_standard(texts["standard"]) if texts["standard"] else None
    if texts["standard"] and standard is None:
        errors.append(row_error(r, "standard", "invalid",
                                "标准号格式应如 GB 2763-2021 或 GB 31650-2019"))
    if len(errors) > before:
        return None
    return {"_row": r.number, "substance": normalize_substance(texts["substance"] or ""),
            "commodity": commodity, "category": category, "limit_mg_kg": limit,
            "standard": standard, "clause": texts["clause"], "source_text": texts["source_text"]}


def import_mrl(conn: Connection, source: bytes | list[SheetRow], filename: str, *,
               account: Account) -> dict[str, Any]:
    """Load an MRL file: new rows added, changed rows versioned, identical rows left alone."""
    check_may_load(account)  # before reading: a refused account learns nothing of the file
    rows = read_mrl_rows(conn, source, filename)
    return store_mrl(conn, rows, account=account, filename=filename)
