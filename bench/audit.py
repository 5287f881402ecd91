"""The upload path with the audit trail's triggers on and off, in the same run (sql/021).

`python -m bench.audit [--points 40000] [--rounds 2]` on the managed database (or
GEOREG_DATABASE_URL) with the county demo loaded: batches of 5,000 site points through the
kernel's upload (georeg.collection.geojson.ingest_geojson: staging, checks, flags, township and
grid, the statement-level triggers), one transaction a batch, as the API runs it. Rounds
alternate on/off (bench.security.toggle: ALTER TABLE ... DISABLE TRIGGER, as the owner, in the
bench only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from sqlalchemy import Engine, text

from bench.collection import BATCH, _features
from bench.security import toggle
from georeg.accounts import get_account_by_username
from georeg.collection.geojson import ingest_geojson
from georeg.config import Settings
from georeg.database import make_engine, set_scope


def _clear(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM site_point_conflict; DELETE FROM site_point_rejection; "
                          "DELETE FROM site_point"))


def run(engine: Engine, *, points: int = 40_000, rounds: int = 2) -> list[tuple[str, float]]:
    """Seconds per batch, each with its mode ("on", "off")."""
    batches, _ = _features(engine, points, seed=11)
    bodies = [json.dumps({"type": "FeatureCollection", "features": b}).encode() for b in batches]
    with engine.connect() as conn:
        admin = get_account_by_username(conn, "admin")
    assert admin is not None
    out: list[tuple[str, float]] = []
    try:
        for _ in range(rounds):
            for on in (True, False):
                _clear(engine)
                toggle(engine, row_security=None, audit=on)
                for body in bodies:
                    started = time.perf_counter()
                    with engine.begin() as conn:
                        set_scope(conn, account_id=admin.id, role=admin.role.value,
                                  township_code=admin.township_code)
                        ingest_geojson(conn, body, crs="wgs84", collector=admin)
                    out.append(("on" if on else "off", time.perf_counter() - started))
    finally:
        toggle(engine, row_security=None, audit=True)
        _clear(engine)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    engine = make_engine(Settings().url(), pool_size=1)
    results = run(engine, points=args.points, rounds=args.rounds)
    # medians of the batches: the machine is shared, single batches stall now and then
    on = statistics.median(s for m, s in results if m == "on")
    off = statistics.median(s for m, s in results if m == "off")
    print(f"每批 {BATCH:,} 点（中位数，各 {len(results) // 2} 批）：审计开 {on * 1000:.0f} ms "
          f"（{BATCH / on:,.0f} 点/秒），关 {off * 1000:.0f} ms（{BATCH / off:,.0f} 点/秒），"
          f"审计开销 {100 * (on / off - 1):.1f}%")


if __name__ == "__main__":
    main()
