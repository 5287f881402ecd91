"""Tables out: CSV in UTF-8 with BOM (so Excel in China opens it) and XLSX, zh-CN headings."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

Columns = Sequence[tuple[str, str]]  # (key, zh-CN heading)


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


def to_csv(rows: Sequence[dict[str, Any]], columns: Columns) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([heading for _, heading in columns])
    for row in rows:
        writer.writerow(["" if row.get(k) is None else _cell(row.get(k)) for k, _ in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(rows: Sequence[dict[str, Any]], columns: Columns, *, title: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]  # Excel's limit on sheet names
    ws.append([heading for _, heading in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([_cell(row.get(k)) for k, _ in columns])
    for i, (key, heading) in enumerate(columns, start=1):
        width = max([len(heading) * 2] + [len(str(r.get(key) or "")) for r in rows[:200]])
        ws.column_dimensions[get_column_letter(i)].width = min(40, width + 2)
        if rows and isinstance(rows[0].get(key), date | datetime):
            for cell in ws[get_column_letter(i)][1:]:
                cell.number_format = "yyyy-mm-dd"
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
