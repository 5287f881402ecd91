"""CSV/TXT and XLSX point files: the header (with coordinate columns) looked for in the first
rows, then one record per non-blank row, numbered as Excel shows it. Decoding, row numbering
and the header search are the shared table basics of importers.tables."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import defusedxml.ElementTree as safe_et

from importers.point_files.aliases import canonical_key
from importers.point_files.records import PointFileError, PointRecord, RecordError, build, decode
from importers.point_files.values import show
from importers.tables import (
    HEADER_SEARCH_ROWS,
    Header,
    Row,
    Unreadable,
    csv_rows,
    find_header,
    head_rows,
    is_blank,
    open_workbook,
    xlsx_rows,
)

_DELIMITERS = (",", "\t", ";", "|")


def _has_coordinates(keys: set[str]) -> bool:
    return {"longitude", "latitude"} <= keys or "coordinates" in keys


def _find_header(head: Sequence[Row]) -> Header | None:
    return find_header(head, canonical_key, _has_coordinates)


def _no_columns_error(rows: Sequence[Row], where: str) -> PointFileError:
    seen = ""
    if rows:
        names = [show(c) for c in rows[0][1] if not is_blank(c)][:8]
        seen = f"（第{rows[0][0]}行是：{'、'.join(names)}）" if names else ""
    return PointFileError(
        "no_coordinate_columns",
        f"{where}前{HEADER_SEARCH_ROWS}行中找不到经度、纬度两列{seen}；"
        "表头应包含“经度”“纬度”（或 lon/lat、lng/lat、x/y），或一列“坐标”写成“经度,纬度”",
    )


def _table_records(head: list[Row], rows: Iterator[Row], where: str,
                   check_width: bool) -> list[PointRecord]:
    header = _find_header(head)
    if header is None:
        raise _no_columns_error(head, where)
    cols = header.columns

    def cell(cells: Sequence[object], key: str) -> object:
        return next((cells[i] for i in cols.get(key, ()) if i < len(cells)
                     and not is_blank(cells[i])), None)

    def record(row_no: int, cells: Sequence[object]) -> PointRecord:
        errs = []
        if check_width and len(cells) < header.width:
            # A CSV cut off mid-row (an interrupted download or copy) loses its last columns.
            errs.append(RecordError("row", "too_few_columns",
                                    f"该行只有{len(cells)}列，表头有{header.width}列（文件可能不完整）"))
        attrs = {k: [cells[i] if i < len(cells) else None for i in idx] for k, idx in cols.items()}
        return build(row_no, cell(cells, "longitude"), cell(cells, "latitude"), attrs, errs,
                     pair=(cell(cells, "coordinates") or "") if "coordinates" in cols else None)

    records = [record(n, c) for n, c in head if n > header.row]
    for row_no, cells in rows:
        if any(not is_blank(c) for c in cells):
            records.append(record(row_no, cells))
    return records


def _csv_rows(text: str, delimiter: str) -> Iterator[Row]:
    try:
        yield from csv_rows(text, delimiter)
    except Unreadable as e:
        raise PointFileError("bad_csv", f"CSV 文件第{e.line}行格式错误：{e}", e.line) from None


def read_csv(data: bytes) -> list[PointRecord]:
    text = decode(data, "CSV 文件")
    if not text.strip():
        raise PointFileError("empty", "文件是空的")
    # The delimiter is the one under which a header with coordinates appears; fall back to the
    # most frequent candidate on the first line so the "no columns" message shows real headers.
    chosen, best = None, 0
    for delimiter in _DELIMITERS:
        try:
            header = _find_header(head_rows(csv_rows(text, delimiter)))
        except Unreadable:
            continue
        # The most recognised columns wins: "lon<TAB>lat" read with commas is one cell that
        # looks like a "lonlat" coordinates column.
        if header is not None and len(header.columns) > best:
            chosen, best = delimiter, len(header.columns)
    if chosen is None:
        first = text.lstrip().splitlines()[0]
        chosen = max(_DELIMITERS, key=first.count)
    rows = _csv_rows(text, chosen)
    return _table_records(head_rows(rows), rows, "CSV 文件", check_width=True)


def _format_has_time(number_format: str) -> bool:
    fmt = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", number_format or "")
    return bool(re.search(r"[hs]", fmt, re.I))


def _xlsx_value(cell: Any) -> object:
    value = cell.value
    if isinstance(value, str):
        return value
    if isinstance(value, datetime) and not _format_has_time(getattr(cell, "number_format", "")):
        return value.date()  # a date-only cell: do not invent a 00:00 collection time
    return value


def read_xlsx(data: bytes) -> list[PointRecord]:
    try:
        wb = open_workbook(data)
    except Unreadable as e:
        raise PointFileError("bad_xlsx", f"Excel 文件已损坏或不完整，无法打开（{e}）") from None
    try:
        first_head: list[Row] = []
        for ws in wb.worksheets:
            rows = xlsx_rows(ws, _xlsx_value)
            head = head_rows(rows)
            first_head = first_head or head
            if _find_header(head) is None:
                continue
            records = _table_records(head, rows, f"Excel 工作表“{ws.title}”", check_width=False)
            if not records:
                raise PointFileError("empty", f"Excel 工作表“{ws.title}”表头下面没有数据")
            return records
    except (zipfile.BadZipFile, safe_et.ParseError, KeyError, OSError, ValueError) as e:
        raise PointFileError("bad_xlsx", f"Excel 文件已损坏或不完整（{type(e).__name__}）"
                             ) from None
    finally:
        wb.close()
    raise _no_columns_error(first_head, "Excel 文件各工作表")
