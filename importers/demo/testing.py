"""A year of demo testing: rapid tests against the county's quotas and lab monitoring results.

Each testing unit (the county level and each township) gets a pace drawn from the seed: most
keep to the sequential progress (25/50/75 % by the end of Q1-Q3, all by 10 December), some
start slowly and catch up, some stay behind. A few results fail; their credit events and
key-supervision listings are written as the recording path would have written them on the
day, so the credit record and the list show them. No MRL values ship with the project, so a
demo detection of an ordinary substance is judged "no limit found" (review) and only banned
substances fail a lab sample. Set-based: numpy draws, one INSERT ... unnest per table.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from psycopg import sql
from sqlalchemy import Connection, text

from georeg.activity import insert_batch
from georeg.credit.listing import refresh_key_supervision
from georeg.credit.standing import refresh_stale_standings
from georeg.database import sql_statement
from georeg.testing.mrl import Analyte, judge, sample_result
from georeg.testing.vocab import (
    COUNTY_UNIT,
    LAB_METRIC,
    METHOD_CATEGORIES,
    METHOD_LABELS,
    POULTRY_EGG,
    QUOTA_METRICS,
)

# Cumulative share of the year's quota done by the end of Q1, Q2, Q3, by 10 December and by
# 31 December, for each pace (jittered per unit and method).
PACES = {
    "steady": (0.29, 0.55, 0.80, 1.04, 1.05),
    "slow_start": (0.18, 0.53, 0.79, 1.03, 1.04),
    "behind": (0.20, 0.42, 0.68, 0.90, 0.95),
    "late_finish": (0.27, 0.52, 0.77, 0.94, 1.01),
}
PACE_P = (0.62, 0.16, 0.10, 0.12)
JITTER = 0.008
RAPID_FAIL_P = 0.003
PARAMETERS = {
    "colloidal_gold": ("克百威", "甲拌磷", "毒死蜱", "氧乐果", "灭蝇胺", "啶虫脒", "腐霉利"),
    "enzyme_inhibition": ("有机磷和氨基甲酸酯类",),
    "veterinary": ("恩诺沙星", "氟苯尼考", "氧氟沙星", "磺胺类", "金刚烷胺"),
}
LAB_PACE = (0.21, 0.51, 0.76, 0.97, 0.985)  # behind in Q1 and a little short at the end
LAB_KIND_P = {"routine_monitoring": 0.55, "risk_monitoring": 0.30, "supervisory_sampling": 0.15}
LABS = {"routine_monitoring": "县农产品质量安全检测站（演示）",
        "risk_monitoring": "市农产品质量安全检测中心（演示）",
        "supervisory_sampling": "省农产品质量安全检测中心（演示）"}
PESTICIDES = ("克百威", "甲拌磷", "毒死蜱", "氧乐果", "灭蝇胺", "啶虫脒", "腐霉利", "联苯菊酯",
              "氯氟氰菊酯", "多菌灵", "吡虫啉", "乙酰甲胺磷")
VET_DRUGS = ("恩诺沙星", "环丙沙星", "氟苯尼考", "氧氟沙星", "磺胺二甲嘧啶", "金刚烷胺",
             "甲硝唑")
BANNED_DETECTED_P = 0.006  # per plant sample: one of the banned substances found
DETECTED_P = 0.01  # per analyte: an ordinary substance found at a low level


def _pool(conn: Connection, county: str) -> list[Any]:
    """(entity, commodity) pairs the demo can sample: what each demo entity grows or raises."""
    return conn.execute(text("""
        SELECT DISTINCT p.entity_id, p.commodity, c.category, e.township_code,
               e.kind = 'smallholder' AS smallholder
        FROM plot p JOIN entity e ON e.id = p.entity_id
        JOIN commodity c ON c.slug = p.commodity JOIN township t ON t.code = e.township_code
        WHERE e.origin = 'demo' AND t.county_code = :county
        ORDER BY p.entity_id, p.commodity"""), {"county": county}).all()


def _clear(conn: Connection) -> None:
    conn.execute(text("DELETE FROM rapid_test WHERE entity_id IN "
                      "(SELECT id FROM entity WHERE origin = 'demo')"))
    conn.execute(text("DELETE FROM lab_sample WHERE entity_id IN "
                      "(SELECT id FROM entity WHERE origin = 'demo')"))
    conn.execute(text("SET LOCAL georeg.purge_demo = 'on'"))
    conn.execute(text("""DELETE FROM credit_event WHERE entity_id IN
                          (SELECT id FROM entity WHERE origin = 'demo')
                          AND (evidence_ref LIKE 'rapid_test:%' OR evidence_ref LIKE 'lab_sample:%')
                          AND kind = 'sampling'"""))
    conn.execute(text("""DELETE FROM key_supervision_listing WHERE entity_id IN
                          (SELECT id FROM entity WHERE origin = 'demo')
                          AND source = 'rule'"""))  # the refresh below reopens what applies


def _days(rng: np.random.Generator, start: date, end: date, n: int) -> list[date]:
    span = (end - start).days + 1
    return [start + timedelta(days=int(d)) for d in rng.integers(0, span, n)]


def _periods(year: int, last: date) -> list[tuple[date, date]]:
    bounds = [(date(year, 1, 1), date(year, 3, 31)), (date(year, 4, 1), date(year, 6, 30)),
              (date(year, 7, 1), date(year, 9, 30)), (date(year, 10, 1), date(year, 12, 10)),
              (date(year, 12, 11), date(year, 12, 31))]
    return [(a, min(b, last)) for a, b in bounds]


def _rapid_tests(conn: Connection, rng: np.random.Generator, pool: list[Any], year: int,
                 last: date, accounts: dict[str, int]) -> list[dict[str, Any]]:
    quotas = {(r.unit, r.metric): r.target for r in conn.execute(text(
        "SELECT unit, metric, target FROM plan_target WHERE year = :y AND metric = ANY(:m)"),
        {"y": year, "m": list(QUOTA_METRICS.values())})}
    units = sorted({u for u, _ in quotas})
    pace = dict(zip(units, rng.choice(list(PACES), len(units), p=PACE_P), strict=True))
    rows: list[dict[str, Any]] = []
    for unit in units:
        for method in METHOD_LABELS:
            quota = quotas.get((unit, QUOTA_METRICS[method]), 0)
            choices = [p for p in pool if p.category in METHOD_CATEGORIES[method]
                       and (unit == COUNTY_UNIT or p.township_code == unit)]
            if not quota or not choices:
                continue
            if method == "veterinary":  # poultry and eggs first: the 5 % share counts them
                weights = np.array([20.0 if p.category in POULTRY_EGG else 1.0
                                    for p in choices])
            else:
                weights = np.ones(len(choices))
            shares = np.clip(np.array(PACES[pace[unit]]) + rng.normal(0, JITTER, 5), 0, None)
            shares = np.maximum.accumulate(shares)
            cumulative = np.round(quota * shares).astype(int)
            counts = np.diff(np.concatenate([[0], cumulative]))
            picks = rng.choice(len(choices), int(counts.sum()), p=weights / weights.sum())
            days = [d for (a, b), k in zip(_periods(year, last), counts, strict=True)
                    if a <= b for d in _days(rng, a, b, int(k))]
            failed = rng.random(len(days)) < RAPID_FAIL_P
            tag = "XJ" if unit == COUNTY_UNIT else unit[6:9]  # county level, or township no.
            params = rng.choice(PARAMETERS[method], len(days))
            for i, (day, pick, fail, param) in enumerate(
                    zip(sorted(days), picks, failed, params, strict=False)):
                p = choices[int(pick)]
                rows.append({"entity_id": p.entity_id, "commodity": p.commodity,
                             "sampled_on": day, "unit": unit, "method": method,
                             "parameter": str(param), "result": "fail" if fail else "pass",
                             "sample_no": f"KJ{year}-{tag}-{method[:2].upper()}-{i + 1:05d}",
                             "recorded_by": accounts.get(unit, accounts[COUNTY_UNIT])})
    return rows


def _lab_samples(conn: Connection, rng: np.random.Generator, pool: list[Any], year: int,
                 last: date, admin: int) -> tuple[list[dict[str, Any]], list[list[dict]]]:
    target = conn.execute(text("SELECT target FROM plan_target WHERE year = :y "
                               "AND unit = 'county' AND metric = :m"),
                          {"y": year, "m": LAB_METRIC}).scalar() or 0
    shares = np.array(LAB_PACE)
    counts = np.diff(np.concatenate([[0], np.round(target * shares).astype(int)]))
    days = sorted(d for (a, b), k in zip(_periods(year, last), counts, strict=True)
                  if a <= b for d in _days(rng, a, b, int(k)))
    kinds = rng.choice(list(LAB_KIND_P), len(days), p=list(LAB_KIND_P.values()))
    smallholders = np.array([p.smallholder for p in pool])
    samples, analytes = [], []
    for i, (day, kind) in enumerate(zip(days, kinds, strict=True)):
        # ≥ 25 % smallholders in risk and supervisory samples (docs/domain.md, "County figures").
        want_smallholder = kind != "routine_monitoring" and rng.random() < 0.32
        candidates = np.flatnonzero(smallholders == want_smallholder) if kind != \
            "routine_monitoring" else np.arange(len(pool))
        p = pool[int(rng.choice(candidates))]
        animal = p.category in METHOD_CATEGORIES["veterinary"] - {"other"}
        banned_hit = not animal and rng.random() < BANNED_DETECTED_P
        menu = VET_DRUGS if animal else tuple(n for n in PESTICIDES if n != "克百威" or
                                              not banned_hit)
        names = [str(n) for n in rng.choice(menu, 3, replace=False)]
        if banned_hit:
            names[0] = "克百威"  # on MOA announcement 199's list
        found = []
        for j, name in enumerate(names):
            hit = (banned_hit and j == 0) or rng.random() < DETECTED_P
            value = Decimal(str(round(float(rng.uniform(0.011, 0.2)), 3))) if hit else None
            found.append({"substance": name, "detected": hit, "value_mg_kg": value,
                          "lod_mg_kg": Decimal("0.01")})
        samples.append({"entity_id": p.entity_id, "commodity": p.commodity, "sampled_on": day,
                        "unit": COUNTY_UNIT, "kind": str(kind), "lab": LABS[str(kind)],
                        "report_no": f"JC{year}-{i + 1:05d}", "sample_no": f"YP{year}-{i + 1:05d}",
                        "recorded_by": admin})
        analytes.append(found)
    return samples, analytes


_CREDIT_EVENTS = sql_statement("importers.demo", "credit_events.sql")
# Each result names the event it wrote (evidence_ref is "<table>:<id>").
_LINK_EVENTS = sql.SQL("""
    UPDATE {} x SET credit_event_id = u.id
    FROM unnest(CAST(:ids AS bigint[]), CAST(:refs AS text[])) AS u(id, ref)
    WHERE u.ref = CAST(:prefix AS text) || x.id""")


def _credit(conn: Connection, year: int) -> tuple[int, int]:
    """The events the recording path writes (failures; passed supervisory sampling), then the
    key-supervision list as it stood on each failure's day."""
    events = conn.execute(_CREDIT_EVENTS, {"year": year}).all()
    for table in ("rapid_test", "lab_sample"):
        conn.execute(text(_LINK_EVENTS.format(sql.Identifier(table)).as_string()),
                     {"ids": [e.id for e in events], "refs": [e.evidence_ref for e in events],
                      "prefix": f"{table}:"})
    failures = conn.execute(text("""
        SELECT occurred_on, array_agg(DISTINCT entity_id) AS entities FROM credit_event
        WHERE id = ANY(:ids) AND outcome = 'fail' GROUP BY occurred_on ORDER BY occurred_on"""),
        {"ids": [e.id for e in events]}).all()
    opened = 0
    for day, entities in failures:
        opened += refresh_key_supervision(conn, day, entity_ids=entities)[0]
    return len(events), opened


def generate_testing(conn: Connection, *, seed: int, year: int = 2023,
                     county: str = "350524") -> dict[str, int]:
    """Replace the demo entities' rapid tests and lab results for `year` (up to yesterday)."""
    rng = np.random.default_rng(seed + 29)
    last = min(date(year, 12, 31), conn.execute(text("SELECT georeg_today() - 1")).scalar_one())
    _clear(conn)
    pool = _pool(conn, county)
    accounts = dict(conn.execute(text(
        "SELECT coalesce(township_code, 'county'), min(id) FROM account "
        "WHERE role IN ('township_supervisor', 'admin') AND active "
        "GROUP BY coalesce(township_code, 'county')")).all())
    if not pool or COUNTY_UNIT not in accounts:
        return {"快检结果": 0, "定量检测样品": 0}
    rapid = _rapid_tests(conn, rng, pool, year, last, accounts)
    if rapid:
        insert_batch(conn, "rapid_test", tuple(rapid[0]), rapid)
    samples, analytes = _lab_samples(conn, rng, pool, year, last, accounts[COUNTY_UNIT])
    judged = judge(conn, [Analyte(s["commodity"], a["substance"], a["detected"],
                                  a["value_mg_kg"])
                          for s, found in zip(samples, analytes, strict=True) for a in found])
    rows, at = [], 0
    for s, found in zip(samples, analytes, strict=True):
        mine, at = judged[at:at + len(found)], at + len(found)
        for a, j in zip(found, mine, strict=True):
            a.update(judgement=j.judgement, basis=j.basis, mrl_id=j.mrl_id,
                     limit_mg_kg=j.limit_mg_kg)
        rows.append({**s, "result": sample_result(mine)})
    ids = insert_batch(conn, "lab_sample", tuple(rows[0]), rows) if rows else []
    by_report = dict(conn.execute(text("SELECT report_no, id FROM lab_sample WHERE id = ANY(:i)"),
                                  {"i": ids}).all())
    insert_batch(conn, "lab_analyte", ("sample_id", "substance", "detected", "value_mg_kg",
                                       "lod_mg_kg", "judgement", "basis", "mrl_id",
                                       "limit_mg_kg"),
                 [{**a, "sample_id": by_report[s["report_no"]]}
                  for s, found in zip(rows, analytes, strict=True) for a in found])
    events, listed = _credit(conn, year)
    # the events written above and purged by _clear left those standings stale
    refresh_stale_standings(conn, conn.execute(text("SELECT georeg_today()")).scalar_one())
    return {"快检结果": len(rapid),
            "快检不合格": sum(r["result"] == "fail" for r in rapid),
            "定量检测样品": len(rows),
            "定量检测不合格": sum(r["result"] == "fail" for r in rows),
            "定量检测待复核": sum(r["result"] == "review" for r in rows),
            "检测信用事件": events, "列入重点监管名单": listed}

