"""Sampling plans at province scale: a plan of n=200 (GRTS, the default) inside a drawn
polygon covering about a fifth of the registry, end to end, beside the bare PostGIS selection
of the same plots in the same run.

On the registry that `python -m bench` has loaded (a million entities, two million plots; with
or without the credit bench's events). The polygon is an irregular nonagon around the
registry's middle, scaled until it holds about `share` of all plots. First the credit
standings are refreshed as of TODAY (the daily `georeg credit refresh`, timed: plans read them
instead of every candidate's events). Then, for cowpea (~17,000 units) and tea (~94,000), three
timings, each the median of `repeats` runs after one warm-up:

- bare selection: the plots of the commodity in the polygon, ids and coordinates (one
  indexed spatial query, what any sampler must at least read);
- the frame query of georeg.sampling.candidates (main plot per entity, exclusion window,
  credit record), numbers only;
- the plan end to end through georeg.sampling.plans.create_plan, as the API calls it: checks,
  area, frame, selection, the SRS comparison figure, storing the plan and its targets, and
  reading it back as the response. Target: under 2 seconds.

`python -m bench.sampling_plans [URL]` runs it alone on an existing bench database and also
prints the frame query's plan (EXPLAIN ANALYZE).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Engine, text

from bench.report import Row, print_table
from georeg.accounts import get_account
from georeg.credit.standing import refresh_standings
from georeg.database import make_engine, transaction
from georeg.sampling.area import gauss_kruger_srid
from georeg.sampling.candidates import fetch_frame, frame_params, frame_sql
from georeg.sampling.plans import PlanRequest, create_plan

TODAY = date(2023, 12, 31)  # the end of the credit bench's events, so grades read them
TARGET_SECONDS = 2.0
COMMODITIES = ("cowpea", "tea")
TARGET_TEXT = "目标：全省规模、约五分之一范围、n=200 的抽样计划端到端 < 2 秒"
_BARE = """
SELECT p.id, p.entity_id, ST_X(c), ST_Y(c)
FROM plot p CROSS JOIN LATERAL ST_PointOnSurface(p.geom) AS c
WHERE p.commodity = :c AND ST_Intersects(p.geom, ST_GeomFromGeoJSON(:area))
"""


def drawn_polygon(engine: Engine, share: float = 0.2, seed: int = 6) -> dict[str, Any]:
    """An irregular nonagon around the plots' middle holding about `share` of them (scaled
    on a 1 % sample of plot points, by bisection)."""
    with engine.connect() as conn:
        pts = np.array(conn.execute(text(
            "SELECT ST_X(c), ST_Y(c) FROM plot TABLESAMPLE SYSTEM (1) REPEATABLE (7) "
            "CROSS JOIN LATERAL ST_PointOnSurface(geom) AS c")).all(), dtype=float)
    cx, cy = np.median(pts, axis=0)
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
    radii = rng.uniform(0.75, 1.25, 9)

    def polygon(r: float) -> shapely.Polygon:
        ring = np.column_stack([cx + r * radii * np.cos(angles) / np.cos(np.radians(cy)),
                                cy + r * radii * np.sin(angles)])
        return shapely.Polygon(ring)

    lo, hi = 0.01, 10.0
    for _ in range(40):
        mid = (lo + hi) / 2
        inside = shapely.contains_xy(polygon(mid), pts[:, 0], pts[:, 1]).mean()
        lo, hi = (mid, hi) if inside < share else (lo, mid)
    return json.loads(shapely.to_geojson(polygon((lo + hi) / 2)))


def _median(fn: Callable[[], int], repeats: int) -> tuple[float, int, float]:
    """(median seconds, rows, first run seconds) of `repeats` runs after a warm-up run."""
    started = time.perf_counter()
    rows = fn()
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        rows = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), rows, first


def plan_request(polygon: dict[str, Any], *, n: int, commodity: str,
                 method: str = "grts") -> PlanRequest:
    return PlanRequest.model_validate({
        "name": "基准测试", "area": {"polygons": [polygon]}, "commodities": [commodity],
        "n": n, "test_kind": "rapid_colloidal_gold", "method": method, "replacements": 20,
        "exclude_sampled_days": 30, "seed": 2024})


def _url(target: Engine | str) -> str:
    return target if isinstance(target, str) else target.url.render_as_string(
        hide_password=False)


def refresh(target: Engine | str) -> Row:
    """The daily refresh of the credit standings as of TODAY, timed."""
    engine = make_engine(_url(target), pool_size=1)
    try:
        started = time.perf_counter()
        with transaction(engine, TODAY) as conn:
            written = refresh_standings(conn, TODAY)
        seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return Row(f"刷新信用状况（全部有信用事件的主体，截至 {TODAY}，每日一次）", seconds, written)


def run(target: Engine | str, *, n: int = 200, commodities: tuple[str, ...] = COMMODITIES,
        share: float = 0.2, repeats: int = 3, refresh_first: bool = True) -> list[Row]:
    """The standings refresh (unless the caller just did it as of TODAY), then for each
    commodity: bare selection, frame query, plan end to end (medians of `repeats`), three
    rows per commodity."""
    rows = [refresh(target)] if refresh_first else []
    for commodity in commodities:
        rows += run_commodity(target, n=n, commodity=commodity, share=share, repeats=repeats)
    return rows


def run_commodity(target: Engine | str, *, n: int = 200, commodity: str = "cowpea",
                  share: float = 0.2, repeats: int = 3) -> list[Row]:
    """Timed rows: bare selection, frame query, plan end to end (medians of `repeats`).

    `target`: the bench database (an engine or its URL); the timings use an engine of their
    own configured as the API's (parallel workers off)."""
    engine = make_engine(_url(target), pool_size=2)
    try:
        polygon = drawn_polygon(engine, share)
        with engine.connect() as conn:
            total = conn.execute(text("SELECT count(*) FROM plot")).scalar_one()
            covered = conn.execute(text(
                "SELECT count(*) FROM plot WHERE ST_Intersects(geom, ST_GeomFromGeoJSON(:a))"),
                {"a": json.dumps(polygon)}).scalar_one()
            admin = get_account(conn, conn.execute(text(
                "SELECT id FROM account WHERE username = 'admin'")).scalar_one())
            label = conn.execute(text("SELECT name_zh FROM commodity WHERE slug = :c"),
                                 {"c": commodity}).scalar_one()

        def bare() -> int:
            with engine.connect() as conn:
                return len(conn.execute(text(_BARE), {"c": commodity,
                                                      "area": json.dumps(polygon)}).all())

        def frame() -> int:
            with transaction(engine, TODAY) as conn:
                ewkb = conn.execute(text("SELECT ST_AsEWKB(ST_Multi(ST_GeomFromGeoJSON(:a)))"),
                                    {"a": json.dumps(polygon)}).scalar_one()
                lon = shapely.from_geojson(json.dumps(polygon)).centroid.x
                return len(fetch_frame(conn, area_ewkb=ewkb, commodities=[commodity],
                                       srid=gauss_kruger_srid(lon), today=TODAY,
                                       exclude_days=30, with_credit=True))

        req = plan_request(polygon, n=n, commodity=commodity)

        def plan() -> int:
            with transaction(engine, TODAY) as conn:
                out = create_plan(conn, req, account=admin, today=TODAY)
            return sum(1 for t in out["targets"] if t["role"] == "base")

        bare_s, bare_rows, _ = _median(bare, repeats)
        frame_s, frame_rows, _ = _median(frame, repeats)
        plan_s, plan_rows, plan_first = _median(plan, repeats)
    finally:
        engine.dispose()
    where = f"{covered / total:.0%} 的地块（{covered:,} / {total:,}）"
    return [
        Row(f"裸 PostGIS 选取：范围内{label}地块 id 与坐标（范围含{where}）", bare_s,
            bare_rows),
        Row(f"候选框查询（{label}）：每主体一个主地块，排除近 30 天已抽，信用等级", frame_s,
            frame_rows),
        Row(f"抽样计划端到端（{label}）：n={n} GRTS + 20 替补，校验、候选框、抽样、保存、返回"
            f"（首次 {plan_first:.2f} 秒）", plan_s, plan_rows),
    ]


def explain(target: Engine | str, *, commodity: str = "cowpea", share: float = 0.2) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the frame query inside the bench polygon."""
    engine = make_engine(_url(target), pool_size=1)
    try:
        polygon = drawn_polygon(engine, share)
        with transaction(engine, TODAY) as conn:
            ewkb = conn.execute(text("SELECT ST_AsEWKB(ST_Multi(ST_GeomFromGeoJSON(:a)))"),
                                {"a": json.dumps(polygon)}).scalar_one()
            params = frame_params(area_ewkb=ewkb, commodities=[commodity], srid=4548,
                                  today=TODAY, exclude_days=30, with_credit=True)
            lines = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + frame_sql()),
                                 params).scalars().all()
    finally:
        engine.dispose()
    return "\n".join(lines)


def main() -> int:
    from sqlalchemy import make_url

    from georeg.config import Settings

    url = sys.argv[1] if len(sys.argv) > 1 else make_url(Settings().url()).set(
        database="georeg_bench").render_as_string(hide_password=False)
    rows = run(url)
    print_table("抽样计划：全省规模，手绘范围约五分之一，n=200", rows)
    print(f"信用状况刷新 {rows[0].seconds:.1f} 秒（{rows[0].rows:,} 个主体）")
    for commodity, at in zip(COMMODITIES, range(1, len(rows), 3), strict=True):
        bare, _, plan = rows[at:at + 3]
        verdict = "达标" if plan.seconds < TARGET_SECONDS else "未达标"
        print(f"{TARGET_TEXT}（{commodity}）；结果 {plan.seconds:.2f} 秒，{verdict}"
              f"（裸 PostGIS 选取 {bare.seconds:.2f} 秒）")
    for commodity in COMMODITIES:
        print(f"\n候选框查询的执行计划（{commodity}）：")
        print(explain(url, commodity=commodity))
    return 0


if __name__ == "__main__":
    sys.exit(main())
