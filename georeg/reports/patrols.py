"""Patrols, trace codes and certificates against the year-keyed plan, per township and month.

Daily coverage: every producer patrolled online every day. Monthly patrols: 20 x producers.
Trace codes: 31 x producers a year; producers averaging fewer than 20 batches a year are
named. Smallholder certificates: the township's yearly number. Yearly targets are pro-rated to
the end of the month (or to today within the current month), as the county judges progress
during the year. Per grid (the map pages' grid layer), the same patrol figures for the grid's
producers, with the monthly target at its township plan's rate per producer.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection

from georeg.database import sql_statement
from georeg.errors import FieldError, InvalidInput

PER_PRODUCER_BATCHES = 20  # 年平均赋码出证不少于20批次

COLUMNS = [
    ("township_code", "乡镇代码"), ("township_name", "乡镇"), ("producers", "生产主体数"),
    ("days", "统计天数"), ("daily_coverage_percent", "日巡查覆盖率(%)"),
    ("full_coverage_days", "全覆盖天数"), ("monthly_patrols", "本月巡查次数"),
    ("monthly_patrols_target", "本月巡查目标"), ("trace_codes_ytd", "年内赋码批次"),
    ("trace_codes_target_ytd", "年内赋码目标(按期)"), ("smallholder_certificates_ytd",
                                                  "年内散户合格证(张)"),
    ("smallholder_certificates_target_ytd", "散户合格证目标(按期)"),
    ("producers_below_20", "赋码不足20批/年的主体数"), ("behind_label", "落后项"),
]
BEHIND_LABELS = {"daily_coverage": "日巡查未全覆盖", "monthly_patrols": "月巡查次数不足",
                 "trace_codes": "赋码批次不足", "smallholder_certificates": "散户合格证不足"}

# The statement: patrols.sql, beside this module.
_REPORT = sql_statement("georeg.reports", "patrols.sql")
_GRIDS = sql_statement("georeg.reports", "grid_patrols.sql")


def parse_month(value: str) -> tuple[int, int]:
    try:
        year, month = (int(x) for x in value.split("-"))
        date(year, month, 1)
    except ValueError as e:
        msg = "月份格式应为 YYYY-MM，如 2023-05"
        raise InvalidInput(msg, [FieldError("month", "invalid_month", msg)]) from e
    return year, month


@dataclass(frozen=True)
class PatrolMonth:
    """The days of a month counted: from its first day to its last, or to `as_of` within it."""

    start: date
    until: date
    month_days: int

    @property
    def days(self) -> int:
        return (self.until - self.start).days + 1


def patrol_month(year: int, month: int, as_of: date) -> PatrolMonth:
    start = date(year, month, 1)
    if start > as_of:
        msg = "不能统计尚未开始的月份"
        raise InvalidInput(msg, [FieldError("month", "in_future", msg)])
    month_days = calendar.monthrange(year, month)[1]
    return PatrolMonth(start, min(date(year, month, month_days), as_of), month_days)


def daily_coverage_percent(covered_producer_days: int, producers: int, days: int
                           ) -> float | None:
    """Daily coverage: producer-days patrolled online of producers x days (None: no producers)."""
    return round(100 * covered_producer_days / (producers * days), 1) if producers else None


def grid_patrols(conn: Connection, period: PatrolMonth, *, township: str | None = None
                 ) -> dict[int, dict[str, Any]]:
    """Per current grid (of `township`): producers, daily coverage and monthly patrols."""
    rows = conn.execute(_GRIDS, {"township": township, "start": period.start,
                                 "until": period.until, "year": period.start.year})
    return {r.grid_id: grid_figures(period, producers=r.producers,
                                    covered_producer_days=r.covered_producer_days,
                                    monthly_patrols=r.monthly_patrols,
                                    plan_monthly_patrols=r.plan_monthly_patrols,
                                    plan_producers=r.plan_producers) for r in rows}


def grid_figures(period: PatrolMonth, *, producers: int = 0, covered_producer_days: int = 0,
                 monthly_patrols: int = 0, plan_monthly_patrols: int | None = None,
                 plan_producers: int | None = None) -> dict[str, Any]:
    """A grid's figures; the target is its township plan's monthly patrols per planned
    producer for its producers, pro-rated to the days counted and rounded up as `_share` does
    (in integers: exact)."""
    target = None
    if plan_monthly_patrols is not None and plan_producers:
        target = -(-plan_monthly_patrols * producers * period.days
                   // (plan_producers * period.month_days))
    return {"producers": producers,
            "daily_coverage_percent": daily_coverage_percent(covered_producer_days, producers,
                                                             period.days),
            "monthly_patrols": monthly_patrols, "monthly_patrols_target": target}


def patrol_report(conn: Connection, *, year: int, month: int, as_of: date,
                  county: str | None = None) -> list[dict[str, Any]]:
    period = patrol_month(year, month, as_of)
    month_start, until, days = period.start, period.until, period.days
    # Share of the year (and of the month) that has passed by `until`.
    year_days = 366 if calendar.isleap(year) else 365
    year_share = ((until - date(year, 1, 1)).days + 1) / year_days
    month_share = days / period.month_days
    batches_due = PER_PRODUCER_BATCHES * year_share
    rows = conn.execute(_REPORT, {"year": year, "month_start": month_start, "until": until,
                                  "year_start": date(year, 1, 1), "county": county,
                                  "batches_due": batches_due}).all()
    out = []
    for r in rows:
        d: dict[str, Any] = {
            "township_code": r.township_code, "township_name": r.township_name,
            "producers": r.producers, "days": days, "until": until.isoformat(),
            "daily_coverage_percent": daily_coverage_percent(r.covered_producer_days,
                                                             r.producers, days),
            "full_coverage_days": r.full_coverage_days if r.producers else None,
            "monthly_patrols": r.monthly_patrols,
            "monthly_patrols_target": _share(r.monthly_target, month_share),
            "trace_codes_ytd": r.trace_codes_ytd,
            "trace_codes_target_ytd": _share(r.trace_target, year_share),
            "smallholder_certificates_ytd": r.smallholder_certificates_ytd,
            "smallholder_certificates_target_ytd": _share(r.smallholder_target, year_share),
            "producers_below_20": len(r.producers_below),
            "producers_below_20_names": r.producers_below,
            "plan_targets": {"monthly_patrols": r.monthly_target, "annual_trace_codes":
                             r.trace_target, "annual_smallholder_certificates":
                             r.smallholder_target},
        }
        behind = []
        if r.producers and r.full_coverage_days < days:
            behind.append("daily_coverage")
        if d["monthly_patrols_target"] is not None and r.monthly_patrols < \
                d["monthly_patrols_target"]:
            behind.append("monthly_patrols")
        if d["trace_codes_target_ytd"] is not None and r.trace_codes_ytd < \
                d["trace_codes_target_ytd"]:
            behind.append("trace_codes")
        if d["smallholder_certificates_target_ytd"] is not None and \
                r.smallholder_certificates_ytd < d["smallholder_certificates_target_ytd"]:
            behind.append("smallholder_certificates")
        d["behind"] = behind
        d["behind_label"] = "、".join(BEHIND_LABELS[b] for b in behind) or "无"
        out.append(d)
    return out


def _share(target: int | None, share: float) -> int | None:
    """A yearly or monthly target pro-rated, rounded up: half a patrol still has to be done."""
    if target is None:
        return None
    return int(-(-target * share // 1))


