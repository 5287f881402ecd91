"""Spreadsheets in: the table-reading basics every file reader shares, and `read_table`.

The basics, owned here for `read_table` and the point reader (`importers.point_files`): CSV
bytes decoded as UTF-8 (with or without BOM), GB18030 (as Excel in China saves CSV) or UTF-16
with a BOM; CSV and XLSX rows numbered as Excel shows them; the header looked for among the
first non-blank rows; dates written as text. They raise `Unreadable`, which each reader words
for its own users.

`read_table` reads a CSV or XLSX file (first sheet) with Chinese headers mapped to field
names, for the activity, credit and testing sheets.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openpyxl
from openpyxl.cell.read_only import EMPTY_CELL
from openpyxl.utils import range_boundaries
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import DATA_TAG, DIMENSION_TAG
from openpyxl.xml.functions import iterparse

from georeg.errors import FieldError, InvalidInput

# Cell values have one owner in the kernel (API records use them too); re-exported for readers.
from georeg.values import DATE_TEXT as DATE_TEXT
from georeg.values import cell_date as cell_date
from georeg.values import cell_text as cell_text
from importers.limits import check_row_count, check_zip_bytes

HEADER_SEARCH_ROWS = 5  # a title row or two above the header is common in county templates
# Columns read from an XLSX sheet: read-only mode pads every row to the sheet's width, and one
# cell in column XFD would make each row 16,384 cells. County sheets have a few dozen.
XLSX_MAX_COLUMNS = 200
_EMPTY_ID = {id(EMPTY_CELL)}

Row = tuple[int, Sequence[object]]  # (the row number Excel shows, its cells)


class Unreadable(Exception):
    """The basics below could not read the file; `line` is where, when known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.line = line


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- text ---------------------------------------------------------------------------------------

def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), then GB18030 (a superset of GBK, as Excel in China saves
    CSV); UTF-16 only with a BOM (Excel's "Unicode text"). Never guesses beyond that, so a
    file is either read correctly or refused (`Unreadable`, with the line), not turned into
    mojibake."""
    error: UnicodeDecodeError | None = None
    text: str | None = None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:  # an odd length: a truncated file that ends mid-character
            text = data[: len(data) - len(data) % 2].decode("utf-16")
        except UnicodeDecodeError as e:
            error = e
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            error = e
        if error is not None:
            prefix = data[: error.start].decode("utf-8-sig")
            if sum(ord(c) > 127 for c in prefix) >= 3:
                # Clearly UTF-8 so far: GB18030 would turn all of it into mojibake. Cut off
                # mid-character means a truncated file (the short last row is reported); any
                # other bad byte means a damaged file.
                text = prefix if error.reason == "unexpected end of data" else None
            else:
                try:
                    text, error = data.decode("gb18030"), None
                except UnicodeDecodeError as e:
                    error = e
    if text is not None and "\x00" not in text:  # NUL: UTF-16 without BOM, or binary
        return text.removeprefix("\ufeff")
    raise Unreadable("unknown encoding",
                     data[: error.start].count(b"\n") + 1 if error else None)


def csv_rows(text: str, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """Excel's row number = the CSV record number (a quoted multi-line cell is still one row).
    A syntax error raises `Unreadable` with the csv module's reason and line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    row_no = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise Unreadable(str(e), reader.line_num) from None
        row_no += 1
        check_row_count(row_no)
        yield row_no, cells


# --- XLSX ---------------------------------------------------------------------------------------

def _size_from_the_head(self: Any) -> None:
    """ReadOnlyWorksheet._get_size, reading only up to <sheetData>.

    openpyxl's own waits for the *end* of <sheetData> when a sheet has no <dimension>, i.e.
    parses the whole sheet while the workbook opens, before any row limit can apply: a 700 KB
    file of 2 million rows kept the server busy for 14 minutes. Without a dimension the rows
    are read to the end of the sheet (or the row limit), as openpyxl does then anyway. The
    width is capped at XLSX_MAX_COLUMNS either way."""
    src = self._get_source()
    try:
        for _, element in iterparse(src, events=("start",)):
            if element.tag == DIMENSION_TAG and element.get("ref"):
                with contextlib.suppress(ValueError, TypeError):
                    (self._min_column, self._min_row, self._max_column,
                     self._max_row) = range_boundaries(element.get("ref"))
                break
            if element.tag == DATA_TAG:
                break
    finally:
        src.close()
    self._min_column = min(self._min_column or 1, XLSX_MAX_COLUMNS)
    self._max_column = min(self._max_column or XLSX_MAX_COLUMNS, XLSX_MAX_COLUMNS)


ReadOnlyWorksheet._get_size = _size_from_the_head

def open_workbook(data: bytes) -> Any:
    """A read-only workbook (close it when done); `Unreadable` names the failure's type.
    The zip's directory is checked against the limits first (a 700 KB file can unzip to GBs)."""
    check_zip_bytes(data)
    try:
        return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as e:
        raise Unreadable(type(e).__name__) from e


def _cell_value(cell: Any) -> object:
    return cell.value


def xlsx_rows(ws: Any, value: Callable[[Any], object] = _cell_value
              ) -> Iterator[tuple[int, list[object]]]:
    """A sheet's rows with the number Excel shows; `value` reads one cell."""
    row_no = 0
    # Counted as read, blank rows too: read-only mode pads the gaps up to the last used row.
    for read, row in enumerate(ws.iter_rows(), 1):
        check_row_count(read)
        if set(map(id, row)) <= _EMPTY_ID:  # padding only (by identity, at C speed): blank
            row_no += 1
            yield row_no, []
            continue
        # Read-only rows may start at the sheet's first used row: take the number from a real
        # cell (padding cells have none).
        row_no = next((c.row for c in row if getattr(c, "row", None)), row_no + 1)
        yield row_no, [value(c) for c in row]


# --- header -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Header:
    row: int
    keys: tuple[str | None, ...]  # the field of each column; None where unnamed
    width: int  # index of the last non-blank header cell + 1

    @property
    def columns(self) -> dict[str, list[int]]:
        """Field -> its column indexes, in sheet order."""
        out: dict[str, list[int]] = {}
        for i, key in enumerate(self.keys):
            if key is not None:
                out.setdefault(key, []).append(i)
        return out


def head_rows(rows: Iterator[Row]) -> list[Row]:
    """The first non-blank rows, where the header is looked for; `rows` continues after them."""
    head: list[Row] = []
    for n, (row_no, cells) in enumerate(rows, 1):
        if any(not is_blank(c) for c in cells):
            head.append((row_no, cells))
        if len(head) == HEADER_SEARCH_ROWS or n >= 10 * HEADER_SEARCH_ROWS:
            break
    return head


def find_header(head: Sequence[Row], key_of: Callable[[object], str | None],
                accept: Callable[[set[str]], bool]) -> Header | None:
    """The first of `head` whose headings (`key_of` each non-blank cell) `accept` takes."""
    for row_no, cells in head:
        keys = tuple(None if is_blank(c) else key_of(c) for c in cells)
        if accept({k for k in keys if k is not None}):
            width = max(i for i, c in enumerate(cells) if not is_blank(c)) + 1
            return Header(row_no, keys, width)
    return None


# --- read_table ---------------------------------------------------------------------------------

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


def _table(rows: Iterator[Row], headers: Mapping[str, str], required: set[str],
           any_of: set[str], names: Mapping[str, str]) -> list[SheetRow]:
    head = head_rows(rows)
    header = find_header(head, lambda c: header_key(c, headers), lambda keys: required <= keys)
    if header is None:
        wanted = "、".join(f"“{names[f]}”" for f in sorted(required))
        raise _fail("no_header", f"找不到表头：须有{wanted}列")
    if any_of and not any_of & set(header.columns):
        raise _fail("no_entity_column",
                    "须有" + "或".join(f"“{names[f]}”" for f in sorted(any_of)) + "列")
    out = []
    for number, cells in [*(r for r in head if r[0] > header.row), *rows]:
        values = {k: c for k, c in zip(header.keys, cells, strict=False) if k is not None}
        if any(v is not None and str(v).strip() for v in values.values()):
            out.append(SheetRow(number, values))
    return out


def read_table(data: bytes, filename: str, *, headers: Mapping[str, str], required: set[str],
               names: Mapping[str, str], any_of: set[str] | None = None) -> list[SheetRow]:
    """The data rows of a CSV or XLSX file (first sheet), keyed by field."""
    if data.startswith(b"PK") or filename.lower().endswith((".xlsx", ".xlsm")):
        try:
            wb = open_workbook(data)
        except Unreadable as e:
            raise _fail("bad_xlsx", "XLSX 文件已损坏或不是 Excel 文件") from e
        try:
            rows: list[Row] = list(xlsx_rows(wb.worksheets[0]))
        finally:
            wb.close()
    else:
        try:
            text = decode_text(data)
        except Unreadable as e:
            raise _fail("unknown_encoding",
                        "无法识别文件的文字编码（应为 UTF-8 或 GB18030/GBK）") from e
        try:
            rows = list(csv_rows(text))
        except Unreadable as e:
            raise _fail("bad_csv", "CSV 文件格式错误") from e
    return _table(iter(rows), headers, required, any_of or set(), names)
