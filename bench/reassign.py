"""Re-assign 1,000,000 site points to 1,000 grids after a boundary change, beside a bare
PostGIS spatial join of the same data in the same run (and the join's plan)."""

from __future__ import annotations

import statistics
import time
from datetime import date

import numpy as np
import shapely
from sqlalchemy import Engine, text

from bench.report import Row
from grids.reassign import reassign

# 1,000 grids over Anxi's 24 townships, about 42 each, as k-means Voronoi cells.
_GRIDS = text("""
WITH t AS (SELECT code, name, boundary, :k AS k FROM township WHERE code LIKE :towns),
pts AS (SELECT t.code, t.k, (ST_Dump(ST_GeneratePoints(t.boundary, 20 * t.k, :seed))).geom AS p
        FROM t),
clustered AS (SELECT code, p, ST_ClusterKMeans(p, k) OVER (PARTITION BY code) AS cid FROM pts),
centres AS (SELECT code, ST_Centroid(ST_Collect(p)) AS c FROM clustered GROUP BY code, cid),
cells AS (SELECT t.code, (ST_Dump(ST_VoronoiPolygons(ST_Collect(centres.c), 0,
              ST_Expand(ST_Envelope(t.boundary), 0.05)))).geom AS cell
          FROM centres JOIN t USING (code) GROUP BY t.code, t.boundary),
clipped AS (SELECT t.code, t.name, ST_Multi(ST_CollectionExtract(ST_MakeValid(
                ST_Intersection(cells.cell, t.boundary)), 3)) AS boundary
            FROM cells JOIN t USING (code)),
numbered AS (SELECT code, name, boundary, row_number() OVER (PARTITION BY code) AS n
             FROM clipped WHERE NOT ST_IsEmpty(boundary))
INSERT INTO grid (code, township_code, name, boundary, valid_from)
SELECT code || lpad(n::text, 3, '0'), code, name || n, boundary, :valid_from FROM numbered
""")

_JOIN = ("SELECT count(*) FROM current_grid g JOIN site_point s "
         "ON ST_Intersects(g.boundary, s.geom)")
_JOIN_PAIRS = ("SELECT s.id, g.id AS grid_id FROM current_grid g JOIN site_point s "
               "ON ST_Intersects(g.boundary, s.geom)")


def _points(engine: Engine, n: int, seed: int) -> None:
    """n random site points inside the county, bulk-loaded by binary COPY."""
    with engine.connect() as conn:
        county = shapely.from_wkb(conn.execute(text(
            "SELECT ST_AsBinary(ST_Union(boundary)) FROM township WHERE code LIKE '350524%'"
        )).scalar())
        entity = conn.execute(text("SELECT min(id) FROM entity")).scalar()
        admin = conn.execute(text("SELECT id FROM account WHERE username = 'admin'")).scalar()
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = county.bounds
    xs, ys = [], []
    while sum(len(x) for x in xs) < n:
        x, y = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
        inside = shapely.contains_xy(county, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
    x, y = np.concatenate(xs)[:n], np.concatenate(ys)[:n]
    ewkb = shapely.to_wkb(shapely.set_srid(shapely.points(x, y), 4326), include_srid=True)
    raw = engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                "COPY site_point (client_uuid, content_hash, entity_id, geom, input_crs, input_x,"
                " input_y, collector_id) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "bytea", "int8", "bytea", "text", "float8", "float8", "int8"])
            import uuid

            for i in range(n):
                copy.write_row((uuid.UUID(int=i + 1), b"", entity, ewkb[i], "wgs84",
                                float(x[i]), float(y[i]), admin))
        # each point has its place row, as collection writes it (placed by the first pass)
        raw.execute("INSERT INTO site_point_place (site_point_id, geom) "
                    "SELECT id, geom FROM site_point ORDER BY id")
        raw.commit()
    finally:
        raw.close()


def _boundary_change(engine: Engine, seed: int, day: date, towns: str = "350524%") -> int:
    """Every grid of the townships (a LIKE pattern: all by default) gets a new version, drawn
    from another seed (so nearly every point there moves)."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE grid SET valid_to = :d WHERE valid_to IS NULL "
                          "AND township_code LIKE :towns"), {"d": day, "towns": towns})
        created = conn.execute(_GRIDS, {"k": 42, "seed": seed, "valid_from": day,
                                        "towns": towns}).rowcount
        conn.execute(text("ANALYZE grid"))
    return created


def _timed(engine: Engine, sql: str) -> tuple[float, int]:
    with engine.begin() as conn:
        # serial, as the re-assignment's joins run (they read a temporary table)
        conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        started = time.perf_counter()
        result = conn.execute(text(sql))
        seconds = time.perf_counter() - started
        n = result.scalar_one() if result.returns_rows else result.rowcount
        conn.execute(text("DROP TABLE IF EXISTS pairs"))
    return seconds, n


def run(engine: Engine, *, n: int = 1_000_000, seed: int = 11, rounds: int = 5) -> list[Row]:
    """On a database with the Anxi townships and no registry (it replaces the grids).

    `rounds` boundary changes, each followed by the bare join (counted, the faster of two runs;
    and written to a table) and the re-assignment; medians are reported (this machine's timings
    vary ±20 %). Both joins run serially: the bare join's plan is serial, and the
    re-assignment's reads a temporary table, which parallel workers cannot.
    """
    rows = []
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO entity (kind, name, township_code, location) "
                          "SELECT 'family_farm', '基准测试', code, centre FROM township "
                          "WHERE code LIKE '350524%' ORDER BY code LIMIT 1"))
        conn.execute(text("SET LOCAL georeg.audit_rows = 'off'"))  # one audit row (sql/021)
        conn.execute(text("UPDATE entity SET grid_id = NULL; DELETE FROM grid_staff; "
                          "DELETE FROM grid"))
        created = conn.execute(_GRIDS, {"k": 42, "seed": 1, "valid_from": date(2023, 1, 1),
                                        "towns": "350524%"}).rowcount
    started = time.perf_counter()
    _points(engine, n, seed)
    rows.append(Row(f"载入 {n:,} 个点位（COPY）", time.perf_counter() - started, n))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE site_point; ANALYZE grid"))
        started = time.perf_counter()
        reassign(conn, ("site_point",))
        first = time.perf_counter() - started
        conn.execute(text("ANALYZE site_point"))
    rows.append(Row("首次归属（点位原无网格）", first, n))
    with engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {_JOIN}")))
    bare, written, passes, moved = [], [], [], []
    for r in range(rounds):
        _boundary_change(engine, seed=2 + r, day=date(2023, 6, 1 + r))
        # the bare join at its best: warm (the faster of two runs)
        bare.append(min(_timed(engine, _JOIN)[0] for _ in range(2)))
        written.append(_timed(engine, f"CREATE TEMP TABLE pairs AS {_JOIN_PAIRS}")[0])
        with engine.begin() as conn:
            started = time.perf_counter()
            report = reassign(conn, ("site_point",))
            passes.append(time.perf_counter() - started)
        moved.append(report["site_point_moved"])
        print(f"第 {r + 1} 次边界变更：裸连接 {bare[-1]:.2f} 秒，写入表 {written[-1]:.2f} 秒，"
              f"重新归属 {passes[-1]:.2f} 秒（{passes[-1] / bare[-1]:.2f} 倍）")
    median = statistics.median
    rows.append(Row(f"裸空间连接：{created} 个网格 × 点位（count，中位数）", median(bare), n))
    rows.append(Row("裸空间连接写入表（CREATE TABLE AS 点位, 网格；中位数）", median(written), n))
    rows.append(Row(f"边界变更后重新归属（改动约 {median(moved):,.0f} 个点位；中位数）",
                    median(passes), n))
    # A real edit: one township's grids redrawn (the other points stay put).
    with engine.connect() as conn:
        town = conn.execute(text("SELECT township_code FROM current_grid GROUP BY 1 "
                                 "ORDER BY count(*) DESC, 1 LIMIT 1")).scalar_one()
    redrawn = _boundary_change(engine, seed=99, day=date(2023, 7, 1), towns=town)
    edit_bare = min(_timed(engine, _JOIN)[0] for _ in range(2))
    with engine.begin() as conn:
        started = time.perf_counter()
        report = reassign(conn, ("site_point",))
        edit = time.perf_counter() - started
    rows.append(Row(f"一个乡镇的 {redrawn} 个网格重画后重新归属（改动 "
                    f"{report['site_point_moved']:,} 个点位；裸连接 {edit_bare:.2f} 秒）", edit, n))
    ratios = [p / b for p, b in zip(passes, bare, strict=True)]
    print("裸连接的执行计划：\n" + plan)
    print(f"重新归属 / 裸连接 = {median(ratios):.2f} 倍（各次 "
          f"{'、'.join(f'{x:.2f}' for x in ratios)}；目标 ≤ 1.5 倍）；"
          f"/ 写入表的裸连接 = {median(passes) / median(written):.2f} 倍")
    return rows
