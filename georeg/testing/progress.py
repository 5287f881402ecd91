"""Testing progress against the year plan, counted from recorded results only.

Rapid tests, per testing unit (the county level and each township: who tested, as the quotas
of attachment 4 are set) and method, and the county-wide sum. Sequential progress (序时进度),
judged quarter by quarter, each checkpoint on the tests sampled up to it: by the end of Q1, Q2
and Q3 at least 25 %, 50 % and 75 % of the year's quota (rounded up: a quarter of 465 is 117),
and all of it by 10 December. A checkpoint after the report's day is not judged yet. A unit
that missed a checkpoint is named, with the first quarter it fell behind in, even if it has
caught up since: the county scores every quarter.

Also: the poultry-and-egg veterinary rapid tests as a share of all rapid tests (at least 5 %
county-wide), and the lab-monitoring batches (定量监测) against the county's target (1,774 in
2023), with the smallholders' share of risk monitoring and supervisory sampling (at least 25 %).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from georeg.errors import FieldError, InvalidInput
from georeg.testing.vocab import (
    ALL_UNITS,
    ALL_UNITS_LABEL,
    COUNTY_UNIT,
    COUNTY_UNIT_LABEL,
    LAB_KIND_LABELS,
    LAB_METRIC,
    METHOD_LABELS,
    POULTRY_EGG,
    QUOTA_METRICS,
    SMALLHOLDER_SHARE_KINDS,
)

QUARTER_PERCENT = {1: 25, 2: 50, 3: 75, 4: 100}
POULTRY_EGG_MIN_PERCENT = 5
SMALLHOLDER_MIN_PERCENT = 25
TOTAL_LABEL = "快检合计"
LAB_LABEL = "定量监测（批次）"
QUARTER_NAMES = {1: "一季度末", 2: "二季度末", 3: "三季度末", 4: "12月10日"}


def checkpoint(year: int, quarter: int) -> date:
    """The day a quarter's cumulative share is judged: its last day; Q4: 10 December."""
    return {1: date(year, 3, 31), 2: date(year, 6, 30), 3: date(year, 9, 30),
            4: date(year, 12, 10)}[quarter]


def quarter_end(year: int, quarter: int) -> date:
    return date(year, 12, 31) if quarter == 4 else checkpoint(year, quarter)


def due(quota: int, quarter: int) -> int:
    return math.ceil(quota * QUARTER_PERCENT[quarter] / 100)


COLUMNS = [
    ("unit_name", "检测单位"), ("method_label", "任务"), ("quota", "全年任务"),
    ("done", "已完成"), ("percent", "完成率(%)"),
    *[(f"q{q}_{k}", f"{QUARTER_NAMES[q]}{'应完成' if k == 'due' else '已完成'}")
      for q in range(1, 5) for k in ("due", "done")],
    ("poultry_egg_veterinary", "禽肉禽蛋兽残快检"), ("poultry_egg_percent", "禽肉禽蛋兽残占比(%)"),
    ("status_label", "序时进度"),
]

_RAPID = text("""
SELECT r.unit, r.method,
       count(*) AS done,
       count(*) FILTER (WHERE r.sampled_on <= :c1) AS q1,
       count(*) FILTER (WHERE r.sampled_on <= :c2) AS q2,
       count(*) FILTER (WHERE r.sampled_on <= :c3) AS q3,
       count(*) FILTER (WHERE r.sampled_on <= :c4) AS q4,
       count(*) FILTER (WHERE r.method = 'veterinary'
                          AND c.category = ANY(CAST(:poultry_egg AS text[]))) AS poultry_egg
FROM rapid_test r JOIN commodity c ON c.slug = r.commodity
WHERE r.sampled_on BETWEEN :year_start AND :until
  -- a township account: its own unit's row (row security hides other townships' tests)
  AND (georeg_township() IS NULL OR r.unit = georeg_township())
GROUP BY r.unit, r.method
""")

_LAB = text("""
SELECT l.kind,
       count(*) AS done,
       count(*) FILTER (WHERE l.sampled_on <= :c1) AS q1,
       count(*) FILTER (WHERE l.sampled_on <= :c2) AS q2,
       count(*) FILTER (WHERE l.sampled_on <= :c3) AS q3,
       count(*) FILTER (WHERE l.sampled_on <= :c4) AS q4,
       count(*) FILTER (WHERE e.kind = 'smallholder') AS smallholders,
       count(*) FILTER (WHERE l.result = 'fail') AS failed,
       count(*) FILTER (WHERE l.result = 'review') AS review
FROM lab_sample l JOIN entity e ON e.id = l.entity_id
WHERE l.sampled_on BETWEEN :year_start AND :until
GROUP BY l.kind
""")


def latest_year(conn: Connection, as_of: date) -> int:
    """The latest year up to today with rapid-test quotas (today's year if none)."""
    year = conn.execute(text("SELECT max(year) FROM plan_target WHERE metric = :m "
                             "AND year <= :y"), {"m": QUOTA_METRICS["total"],
                                                 "y": as_of.year}).scalar()
    return year or as_of.year


def _period(year: int, quarter: int | None, as_of: date) -> tuple[int, date]:
    if quarter is None:
        quarter = 4 if year < as_of.year else (as_of.month - 1) // 3 + 1
    if quarter not in QUARTER_PERCENT:
        msg = "季度应为 1 到 4"
        raise InvalidInput(msg, [FieldError("quarter", "invalid_quarter", msg)])
    if date(year, 3 * quarter - 2, 1) > as_of:
        msg = "不能统计尚未开始的季度"
        raise InvalidInput(msg, [FieldError("quarter", "in_future", msg)])
    return quarter, min(quarter_end(year, quarter), as_of)


def _judge(quota: int | None, counts: dict[int, int | None], quarter: int,
           until: date, year: int) -> dict[str, Any]:
    """Quarter-by-quarter figures and the sequence judgement of one row."""
    out: dict[str, Any] = {}
    missed: list[int] = []
    judged: list[int] = []
    for q in range(1, 5):
        open_ = q > quarter or checkpoint(year, q) > until
        out[f"q{q}_due"] = due(quota, q) if quota else None
        out[f"q{q}_done"] = None if open_ else counts[q]
        if open_ or not quota:
            continue
        judged.append(q)
        if (counts[q] or 0) < due(quota, q):
            missed.append(q)
    out["quarters_judged"] = judged
    out["behind_quarters"] = missed
    out["fell_behind_in"] = missed[0] if missed else None
    out["behind_now"] = bool(missed) and missed[-1] == judged[-1]
    if not quota:
        out["status"], out["status_label"] = "no_quota", "无任务"
    elif not judged:
        out["status"], out["status_label"] = "not_judged", "尚未到考核节点"
    elif not missed:
        out["status"], out["status_label"] = "on_track", "按序时进度"
    else:
        missed_names = "、".join(QUARTER_NAMES[q] for q in missed)
        out["status"] = "behind" if out["behind_now"] else "caught_up"
        out["status_label"] = (f"落后：{missed_names}未达序时进度" if out["behind_now"]
                               else f"{missed_names}未达序时进度，其后已追上")
    return out


def testing_progress(conn: Connection, *, year: int, quarter: int | None = None,
                     as_of: date) -> dict[str, Any]:
    quarter, until = _period(year, quarter, as_of)
    params = {"year_start": date(year, 1, 1), "until": until,
              "poultry_egg": list(POULTRY_EGG),
              **{f"c{q}": checkpoint(year, q) for q in range(1, 5)}}
    targets = {(r.unit, r.metric): r.target for r in conn.execute(text(
        "SELECT unit, metric, target FROM plan_target WHERE year = :y"
        # a township account: its own quotas, not the others' shown as nothing done
        " AND (georeg_township() IS NULL OR unit = georeg_township())"), {"y": year})}
    names = {COUNTY_UNIT: COUNTY_UNIT_LABEL, **dict(conn.execute(text(
        "SELECT code, name FROM township")).all())}
    done = {(r.unit, r.method): r for r in conn.execute(_RAPID, params)}
    units = sorted({u for u, m in targets if m == QUOTA_METRICS["total"]} | {u for u, _ in done},
                   key=lambda u: (u != COUNTY_UNIT, u))
    rows = []
    for unit in [*units, ALL_UNITS]:
        for method, metric in QUOTA_METRICS.items():
            rows.append(_rapid_row(unit, method, metric, targets, done, names, quarter, until,
                                   year))
    rows = [r for r in rows if r["quota"] or r["done"]]
    share = _poultry_egg_share(rows)
    lab = _lab(conn, params, targets.get((COUNTY_UNIT, LAB_METRIC)), quarter, until, year)
    rows.append(lab.pop("row"))
    behind = [{"unit": r["unit"], "unit_name": r["unit_name"], "method": r["method"],
               "method_label": r["method_label"], "fell_behind_in": r["fell_behind_in"],
               "behind_quarters": r["behind_quarters"], "behind_now": r["behind_now"],
               "status_label": r["status_label"]}
              for r in rows if r["behind_quarters"] and r["unit"] != ALL_UNITS]
    return {"year": year, "quarter": quarter, "as_of": as_of.isoformat(),
            "until": until.isoformat(),
            "checkpoints": [{"quarter": q, "date": checkpoint(year, q).isoformat(),
                             "percent": QUARTER_PERCENT[q],
                             "judged": q <= quarter and checkpoint(year, q) <= until}
                            for q in range(1, 5)],
            "rows": rows, "poultry_egg_share": share, "lab_monitoring": lab,
            "behind": behind}


def _rapid_row(unit: str, method: str, metric: str, targets: dict[tuple[str, str], int],
               done: dict[tuple[str, str], Any], names: dict[str, str], quarter: int,
               until: date, year: int) -> dict[str, Any]:
    units = {u for u, _ in targets if u != ALL_UNITS} | {u for u, _ in done}
    pick_units = units if unit == ALL_UNITS else {unit}
    pick_methods = set(METHOD_LABELS) if method == "total" else {method}
    hits = [r for (u, m), r in done.items() if u in pick_units and m in pick_methods]
    counts: dict[int, int | None] = {q: sum(getattr(r, f"q{q}") for r in hits)
                                     for q in range(1, 5)}
    quota: int | None
    if unit == ALL_UNITS:
        quota = sum(t for (u, m), t in targets.items() if m == metric) or None
    else:
        quota = targets.get((unit, metric))
    n = sum(r.done for r in hits)
    poultry_egg = sum(r.poultry_egg for r in hits)
    row = {"unit": unit, "unit_name": ALL_UNITS_LABEL if unit == ALL_UNITS else names.get(
               unit, unit),
           "method": method, "method_label": TOTAL_LABEL if method == "total"
           else METHOD_LABELS[method], "quota": quota or 0, "done": n,
           "percent": round(100 * n / quota, 1) if quota else None,
           "poultry_egg_veterinary": poultry_egg if method == "total" else None,
           "poultry_egg_percent": round(100 * poultry_egg / n, 2)
           if method == "total" and n else None}
    return row | _judge(quota, counts, quarter, until, year)


def _poultry_egg_share(rows: list[dict[str, Any]]) -> dict[str, Any]:
    total = next((r for r in rows if r["unit"] == ALL_UNITS and r["method"] == "total"), None)
    n = total["done"] if total else 0
    poultry_egg = total["poultry_egg_veterinary"] if total else 0
    quota = total["quota"] if total else 0
    percent = round(100 * poultry_egg / n, 2) if n else None
    return {"poultry_egg_veterinary": poultry_egg, "all_rapid_tests": n, "percent": percent,
            "required_percent": POULTRY_EGG_MIN_PERCENT,
            "required_by_year_end": math.ceil(quota * POULTRY_EGG_MIN_PERCENT / 100),
            "met": percent is not None and percent >= POULTRY_EGG_MIN_PERCENT}


def _lab(conn: Connection, params: dict[str, Any], target: int | None, quarter: int,
         until: date, year: int) -> dict[str, Any]:
    kinds = {r.kind: r for r in conn.execute(_LAB, params)}
    counts: dict[int, int | None] = {q: sum(getattr(r, f"q{q}") for r in kinds.values())
                                     for q in range(1, 5)}
    n = sum(r.done for r in kinds.values())
    share_kinds = [kinds[k] for k in SMALLHOLDER_SHARE_KINDS if k in kinds]
    share_n = sum(r.done for r in share_kinds)
    smallholders = sum(r.smallholders for r in share_kinds)
    share = round(100 * smallholders / share_n, 1) if share_n else None
    row = {"unit": COUNTY_UNIT, "unit_name": COUNTY_UNIT_LABEL, "method": "lab_monitoring",
           "method_label": LAB_LABEL, "quota": target or 0, "done": n,
           "percent": round(100 * n / target, 1) if target else None,
           "poultry_egg_veterinary": None, "poultry_egg_percent": None,
           **_judge(target, counts, quarter, until, year)}
    return {"target": target, "done": n, "percent": row["percent"],
            "status": row["status"], "status_label": row["status_label"],
            "by_kind": {k: {"label": v, "done": kinds[k].done if k in kinds else 0,
                            "failed": kinds[k].failed if k in kinds else 0,
                            "review": kinds[k].review if k in kinds else 0}
                        for k, v in LAB_KIND_LABELS.items()},
            "smallholder_share": {"kinds": list(SMALLHOLDER_SHARE_KINDS), "samples": share_n,
                                  "smallholders": smallholders, "percent": share,
                                  "required_percent": SMALLHOLDER_MIN_PERCENT,
                                  "met": share is not None and share >= SMALLHOLDER_MIN_PERCENT},
            "row": row}


def progress_text(report: dict[str, Any]) -> str:
    """The report as plain lines for the terminal."""
    lines = [f"{report['year']} 年快检与定量监测进度（统计至 {report['until']}）"]
    for r in report["rows"]:
        lines.append(f"{r['unit_name']:<6}{r['method_label']:<14}{r['done']:>6}/{r['quota']:<6}"
                     f"{'' if r['percent'] is None else r['percent']:>6}%  {r['status_label']}")
    s = report["poultry_egg_share"]
    lines.append(f"禽肉禽蛋兽残快检占全县快检：{s['poultry_egg_veterinary']}/{s['all_rapid_tests']}"
                 f"（{s['percent']}%，要求 ≥ {s['required_percent']}%）"
                 + ("达标" if s["met"] else "未达标"))
    sh = report["lab_monitoring"]["smallholder_share"]
    lines.append(f"风险监测与监督抽查中农户样品：{sh['smallholders']}/{sh['samples']}"
                 f"（{sh['percent']}%，要求 ≥ {sh['required_percent']}%）"
                 + ("达标" if sh["met"] else "未达标"))
    if report["behind"]:
        lines.append("未达序时进度：" + "；".join(
            f"{b['unit_name']} {b['method_label']}（{b['status_label']}）"
            for b in report["behind"]))
    return "\n".join(lines) + "\n"
