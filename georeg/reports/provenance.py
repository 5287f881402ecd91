"""Completeness and accuracy of provenance collection: township x key product."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from georeg.database import sql_statement
from georeg.errors import FieldError, NotFound

COLUMNS = [
    ("township_code", "乡镇代码"), ("township_name", "乡镇"), ("commodity", "品种代码"),
    ("commodity_name", "品种"), ("entities", "登记主体数"), ("collected", "已采集主体数"),
    ("percent_complete", "完成率(%)"), ("flagged_points", "待核查点位数"),
    ("rejected_points", "被拒点位数"), ("due", "截止日期"), ("status_label", "完成情况"),
]
STATUS_LABELS = {"met": "已按期完成", "missed": "逾期未完成", "open": "进行中",
                 "no_entities": "无登记主体"}

# The statement: provenance.sql, beside this module.
_REPORT = sql_statement("georeg.reports", "provenance.sql")


def _status(row: Any, as_of: date) -> str:
    if row.entities == 0:
        return "no_entities"
    if row.collected_by_due == row.entities:
        return "met"
    return "missed" if as_of > row.due else "open"


def provenance_report(conn: Connection, *, year: int, as_of: date,
                      county: str | None = None) -> list[dict[str, Any]]:
    """One row per township and key product; `as_of` is today in China Standard Time."""
    if not conn.execute(text("SELECT 1 FROM provenance_deadline WHERE year = :y LIMIT 1"),
                        {"y": year}).first():
        raise NotFound(f"{year} 年没有产地溯源采集任务",
                       [FieldError("year", "no_plan", "该年度没有采集任务")])
    rows = conn.execute(_REPORT, {"year": year, "start": date(year, 1, 1),
                                  "as_of": min(as_of, date(year, 12, 31)), "county": county})
    out = []
    for r in rows:
        d = r._asdict()
        d["percent_complete"] = round(100 * r.collected / r.entities, 1) if r.entities else None
        d["status"] = _status(r, as_of)
        d["status_label"] = STATUS_LABELS[d["status"]]
        out.append(d)
    return out


def latest_year(conn: Connection, today: date) -> int:
    year = conn.execute(text("SELECT max(year) FROM provenance_deadline WHERE year <= :y"),
                        {"y": today.year}).scalar()
    return year or today.year
