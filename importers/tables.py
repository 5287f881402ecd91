"""Spreadsheets in: CSV (UTF-8, BOM, or GB18030 as Excel in China saves it) or XLSX (first
sheet), with Chinese headers mapped to field names, rows numbered as Excel shows them."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import openpyxl
from openpyxl.utils.datetime import from_excel

from georeg.errors import FieldError, InvalidInput

HEADER_SEARCH_ROWS = 5  # a title row above the header is common in county templates
_DATE_TEXT = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


class TableFileError(InvalidInput):
    code = "invalid_file"
    title = "文件无法读取"


@dataclass(frozen=True)
class SheetRow:
    number: int  # the row number Excel shows (header on row 1: first data row is 2)
    cells: dict[str, Any]  # field -> raw cell value


def _fail(code: str, message: str) -> TableFileError:
    return TableFileError(message, [FieldError("file", code, message)])


def header_key(value: Any, headers: Mapping[str, str]) -> str | None:
    """A heading -> its field; NFKC turns full-width forms (／, （）) into ASCII."""
    if value is None:
        return None
    return headers.get(re.sub(r"\s", "", unicodedata.normalize("NFKC", str(value))).lower())


def _table(rows: list[tuple[int, list[Any]]], headers: Mapping[str, str], required: set[str],
           any_of: set[str], names: Mapping[str, str]) -> list[SheetRow]:
    heads = [[header_key(c, headers) for c in cells] for _, cells in rows[:HEADER_SEARCH_ROWS]]
    at = next((i for i, keys in enumerate(heads) if required <= set(keys)), None)
    if at is None:
        wanted = "、".join(f"“{names[f]}”" for f in sorted(required))
        raise _fail("no_header", f"找不到表头：须有{wanted}列")
    keys = heads[at]
    if any_of and not any_of & set(keys):
        raise _fail("no_entity_column",
                    "须有" + "或".join(f"“{names[f]}”" for f in sorted(any_of)) + "列")
    out = []
    for number, cells in rows[at + 1:]:
        values = {k: c for k, c in zip(keys, cells, strict=False) if k is not None}
        if any(v is not None and str(v).strip() for v in values.values()):
            out.append(SheetRow(number, values))
    return out


def _decode(data: bytes) -> str:
    # Excel in China saves CSV as GB18030/GBK unless told "CSV UTF-8".
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as e:
        raise _fail("unknown_encoding",
                    "无法识别文件的文字编码（应为 UTF-8 或 GB18030/GBK）") from e


def read_table(data: bytes, filename: str, *, headers: Mapping[str, str], required: set[str],
               names: Mapping[str, str], any_of: set[str] | None = None) -> list[SheetRow]:
    """The data rows of a CSV or XLSX file (first sheet), keyed by field."""
    if data.startswith(b"PK") or filename.lower().endswith((".xlsx", ".xlsm")):
        try:
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
            raise _fail("bad_xlsx", "XLSX 文件已损坏或不是 Excel 文件") from e
        ws = wb.worksheets[0]
        rows = [(n, list(r)) for n, r in enumerate(ws.iter_rows(values_only=True), start=1)]
        wb.close()
    else:
        try:
            rows = [(n, list(r)) for n, r in enumerate(
                csv.reader(io.StringIO(_decode(data), newline="")), start=1)]
        except csv.Error as e:
            raise _fail("bad_csv", "CSV 文件格式错误") from e
    return _table(rows, headers, required, any_of or set(), names)


def cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def cell_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        moment = from_excel(value)  # a date cell formatted as a number
        return moment.date() if isinstance(moment, datetime) else None
    s = unicodedata.normalize("NFKC", str(value)).strip()
    m = _DATE_TEXT.fullmatch(s) or (re.fullmatch(r"(\d{4})(\d{2})(\d{2})", s))
    try:
        return date(int(m[1]), int(m[2]), int(m[3])) if m else None
    except ValueError:
        return None
