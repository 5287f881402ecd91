"""Patrols, trace codes and certificates against the year-keyed plan, per township and month.

Daily coverage: every producer patrolled online every day. Monthly patrols: 20 x producers.
Trace codes: 31 x producers a year; producers averaging fewer than 20 batches a year are
named. Smallholder certificates: the township's yearly number. Yearly targets are pro-rated to
the end of the month (or to today within the current month), as the county judges progress
during the year.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

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

_REPORT = text("""
WITH tw AS (
    SELECT code, name FROM township
    WHERE CAST(:county AS text) IS NULL OR county_code = :county),
prod AS (SELECT e.id, e.name, e.township_code FROM entity e JOIN tw ON tw.code = e.township_code
         WHERE e.is_producer),
daily AS (
    SELECT p.township_code, pa.day, count(DISTINCT pa.entity_id) AS covered
    FROM patrol pa JOIN prod p ON p.id = pa.entity_id
    WHERE pa.kind = 'online' AND pa.day BETWEEN :month_start AND :until
    GROUP BY 1, 2),
monthly AS (
    SELECT p.township_code, count(*) AS n
    FROM patrol pa JOIN prod p ON p.id = pa.entity_id
    WHERE pa.day BETWEEN :month_start AND :until GROUP BY 1),
per_producer AS (
    SELECT p.township_code, p.id, p.name, count(c.id) AS batches
    FROM prod p LEFT JOIN certificate c ON c.entity_id = p.id AND c.trace_code IS NOT NULL
         AND c.issued_on BETWEEN :year_start AND :until
    GROUP BY 1, 2, 3),
smallholder_certs AS (
    SELECT e.township_code, count(*) AS n
    FROM certificate c JOIN entity e ON e.id = c.entity_id AND e.kind = 'smallholder'
    WHERE c.issued_on BETWEEN :year_start AND :until GROUP BY 1),
targets AS (
    SELECT unit, metric, target FROM plan_target WHERE year = :year)
SELECT tw.code AS township_code, tw.name AS township_name,
       (SELECT count(*) FROM prod p WHERE p.township_code = tw.code) AS producers,
       coalesce((SELECT sum(covered)::int FROM daily d WHERE d.township_code = tw.code), 0)
           AS covered_producer_days,
       (SELECT count(*) FROM daily d WHERE d.township_code = tw.code
          AND d.covered >= (SELECT count(*) FROM prod p WHERE p.township_code = tw.code))
           AS full_coverage_days,
       coalesce((SELECT n FROM monthly m WHERE m.township_code = tw.code), 0) AS monthly_patrols,
       coalesce((SELECT sum(batches)::int FROM per_producer pp WHERE pp.township_code = tw.code), 0)
           AS trace_codes_ytd,
       coalesce((SELECT n FROM smallholder_certs s WHERE s.township_code = tw.code), 0)
           AS smallholder_certificates_ytd,
       (SELECT coalesce(json_agg(json_build_object('entity_id', pp.id, 'name', pp.name,
                                                   'batches', pp.batches) ORDER BY pp.batches,
                                 pp.id), '[]')
        FROM per_producer pp WHERE pp.township_code = tw.code
          AND pp.batches < :batches_due) AS producers_below,
       (SELECT target FROM targets WHERE unit = tw.code AND metric = 'monthly_patrols')
           AS monthly_target,
       (SELECT target FROM targets WHERE unit = tw.code AND metric = 'annual_trace_codes')
           AS trace_target,
       (SELECT target FROM targets WHERE unit = tw.code
          AND metric = 'annual_smallholder_certificates') AS smallholder_target
FROM tw ORDER BY tw.code
""")


def parse_month(value: str) -> tuple[int, int]:
    try:
        year, month = (int(x) for x in value.split("-"))
        date(year, month, 1)
    except ValueError as e:
        msg = "月份格式应为 YYYY-MM，如 2023-05"
        raise InvalidInput(msg, [FieldError("month", "invalid_month", msg)]) from e
    return year, month


def patrol_report(conn: Connection, *, year: int, month: int, as_of: date,
                  county: str | None = None) -> list[dict[str, Any]]:
    month_start = date(year, month, 1)
    month_end = date(year, month, calendar.monthrange(year, month)[1])
    if month_start > as_of:
        msg = "不能统计尚未开始的月份"
        raise InvalidInput(msg, [FieldError("month", "in_future", msg)])
    until = min(month_end, as_of)
    days = (until - month_start).days + 1
    # Share of the year (and of the month) that has passed by `until`.
    year_days = 366 if calendar.isleap(year) else 365
    year_share = ((until - date(year, 1, 1)).days + 1) / year_days
    month_share = days / ((month_end - month_start).days + 1)
    batches_due = PER_PRODUCER_BATCHES * year_share
    rows = conn.execute(_REPORT, {"year": year, "month_start": month_start, "until": until,
                                  "year_start": date(year, 1, 1), "county": county,
                                  "batches_due": batches_due}).all()
    out = []
    for r in rows:
        d: dict[str, Any] = {
            "township_code": r.township_code, "township_name": r.township_name,
            "producers": r.producers, "days": days, "until": until.isoformat(),
            "daily_coverage_percent": round(100 * r.covered_producer_days
                                            / (r.producers * days), 1) if r.producers else None,
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


