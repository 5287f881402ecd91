"""Cell values as offices type them: text trimmed, dates from Excel cells or Chinese text.

Both API records and spreadsheet rows (importers.tables) pass through these, so a date written
2023年3月5日, 2023/3/5, 20230305 or as an Excel date cell means the same day everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any

from openpyxl.utils.datetime import from_excel

# A date as written: 2023-03-05, 2023/3/5, 2023.3.5, 2023年3月5日 (NFKC-normalised text).
DATE_TEXT = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


def cell_text(value: Any) -> str | None:
    """Trimmed text, None when blank; a whole float (Excel's 12.0) reads as 12."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def cell_date(value: Any) -> date | None:
    """The day a cell means, or None when it means none."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        moment = from_excel(value)  # a date cell formatted as a number
        return moment.date() if isinstance(moment, datetime) else None
    s = unicodedata.normalize("NFKC", str(value)).strip()
    m = DATE_TEXT.fullmatch(s) or (re.fullmatch(r"(\d{4})(\d{2})(\d{2})", s))
    try:
        return date(int(m[1]), int(m[2]), int(m[3])) if m else None
    except ValueError:
        return None
