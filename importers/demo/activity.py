"""A year of demo patrols and certificates, with realistic shortfalls (some townships behind).

Each township gets a diligence drawn from the seed: the share of producers its staff patrol
online each day, how often field inspections find problems, and how many coded batches its
producers certify. Bulk-loaded with binary COPY.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy import Connection, text

from georeg.clock import CST


def _copy(conn: Connection, sql: str, types: list[str], rows: list[tuple]) -> int:
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor().copy(sql) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)
    return len(rows)


def generate_activity(conn: Connection, *, seed: int, year: int = 2023,
                      county: str = "350524") -> dict[str, int]:
    """Replace the demo entities' patrols and certificates for `year` (up to today)."""
    rng = np.random.default_rng(seed + 17)
    last = min(date(year, 12, 31), (datetime.now(CST) - timedelta(days=1)).date())
    days = [date(year, 1, 1) + timedelta(days=d) for d in range((last - date(year, 1, 1)).days + 1)]
    conn.execute(text("DELETE FROM patrol WHERE entity_id IN (SELECT id FROM entity "
                      "WHERE origin = 'demo')"))
    conn.execute(text("DELETE FROM certificate WHERE entity_id IN (SELECT id FROM entity "
                      "WHERE origin = 'demo')"))
    entities = conn.execute(text("""
        SELECT e.id, e.kind, e.is_producer, e.township_code,
               coalesce(crew.supervisor, t.name || '农安站') AS inspector,
               (SELECT p.commodity FROM plot p WHERE p.entity_id = e.id ORDER BY p.id LIMIT 1)
                   AS commodity
        FROM entity e JOIN township t ON t.code = e.township_code
        CROSS JOIN LATERAL grid_crew(e.grid_id) AS crew  -- sql/017_grid_crew.sql
        WHERE e.origin = 'demo' AND t.county_code = :county ORDER BY e.id"""),
        {"county": county}).all()
    townships = sorted({e.township_code for e in entities})
    # Diligence per township: most keep up, a few fall behind.
    diligence = dict(zip(townships, rng.choice([0, 0, 0, 0, 1, 2], len(townships)), strict=True))
    coverage = {t: (1.0, 0.985, 0.9)[d] for t, d in diligence.items()}  # producers seen a day
    batches = {t: (40, 26, 15)[d] for t, d in diligence.items()}  # coded batches a year
    holders = {t: (0.05, 0.02, 0.005)[d] for t, d in diligence.items()}  # smallholders certifying
    patrols: list[tuple] = []
    certificates: list[tuple] = []
    for e in entities:
        if e.kind == "buyer":
            continue
        if e.is_producer:
            seen = rng.random(len(days)) < coverage[e.township_code]
            minutes = rng.integers(8 * 60, 18 * 60, len(days))
            for day, ok, m in zip(days, seen, minutes, strict=True):
                if ok:
                    at = datetime.combine(day, time(m // 60, m % 60), CST)
                    patrols.append((e.id, e.inspector, "online", at, "normal", None, None))
            for month in range(1, last.month + 1):  # a field inspection most months
                if rng.random() < 0.6:
                    day = date(year, month, int(rng.integers(1, 28)))
                    if day > last:
                        continue
                    problem = rng.random() < 0.08
                    patrols.append((e.id, e.inspector, "field",
                                    datetime.combine(day, time(10), CST),
                                    "problem" if problem else "normal",
                                    "用药记录不全" if problem else None,
                                    "限期补齐用药记录" if problem else None))
            share = len(days) / 365
            for i in range(int(rng.poisson(batches[e.township_code] * share))):
                day = days[int(rng.integers(0, len(days)))]
                certificates.append((e.id, f"{e.id}-{year}-{i + 1:03d}", day, e.commodity,
                                     Decimal(int(rng.integers(20, 500))), "kg",
                                     f"TC{e.id:07d}{year}{i + 1:04d}"))
        elif rng.random() < holders[e.township_code]:  # some smallholders certify sales
            for i in range(int(rng.integers(1, 4))):
                day = days[int(rng.integers(0, len(days)))]
                certificates.append((e.id, f"{e.id}-{year}-{i + 1:03d}", day, e.commodity,
                                     Decimal(int(rng.integers(5, 80))), "kg", None))
    n_patrols = _copy(conn, "COPY patrol (entity_id, inspector, kind, patrolled_at, result, "
                      "findings, follow_up) FROM STDIN (FORMAT BINARY)",
                      ["int8", "text", "text", "timestamptz", "text", "text", "text"], patrols)
    n_certs = _copy(conn, "COPY certificate (entity_id, batch_no, issued_on, commodity, "
                    "quantity, unit, trace_code) FROM STDIN (FORMAT BINARY)",
                    ["int8", "text", "date", "text", "numeric", "text", "text"], certificates)
    return {"巡查记录": n_patrols, "合格证": n_certs}
