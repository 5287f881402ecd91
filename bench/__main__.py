"""`python -m bench`: the speed targets of the issues, each beside its bare baseline.

Province-scale demo load (a million entities and their plots); collection through the API vs
bare COPY; re-assignment vs the bare spatial join; credit lookups; sampling (the algorithms on
a 200,000-unit frame, a plan on the province registry vs its bare selection query); the county
map page in headless Chromium and the province page on vector tiles; registry reads by id and
the upload stream on one worker with row security and the audit trail on and off
(bench/security.py, `python -m bench.security` alone).

Runs in its own database `georeg_bench`, dropped and created afresh each run, in the
project-managed cluster (started if need be, as `georeg db up` does) or on the server of
GEOREG_DATABASE_URL when set. The database is left in place afterwards for inspection.
GEOREG_BENCH_ENTITIES lowers the entity count for a quick run.
"""

from __future__ import annotations

import os
import sys
import time

from sqlalchemy import Engine, create_engine, make_url, text

from bench import collection, credit, maps, reassign, sampling, sampling_plans, security
from bench.report import Recorder, Row, print_table
from georeg.cluster import ClusterError, ensure_password, managed_cluster
from georeg.config import API_ROLE, Settings
from georeg.database import make_engine, migrate
from georeg.pii import PiiCipher, generate_key_text
from georeg.registry import KIND_LABELS, Kind
from importers import anxi, demo
from importers.demo.accounts import create_demo_accounts

BENCH_DB = "georeg_bench"
GRID_DB = "georeg_bench_grid"
MAPS_DB = "georeg_bench_maps"
SEED = 2023
FULL_SCALE = 1_000_000
TARGET_SECONDS = 300.0
TARGET_TEXT = "目标：100 万主体及其地块 < 300 秒"


def fresh_database(settings: Settings, progress: Recorder, name: str = BENCH_DB) -> str:
    """Drop and create the bench database; return its SQLAlchemy URL."""
    if settings.database_url:
        url = make_url(settings.database_url)
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with progress(f"重建数据库 {name}（GEOREG_DATABASE_URL 的服务器）"), \
                admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return url.set(database=name).render_as_string(hide_password=False)
    cluster = managed_cluster(settings)
    if not cluster.initialised:
        with progress(f"初始化数据库集群 {cluster.data_dir}"):
            cluster.init(password=ensure_password(settings.state_dir))
    with progress(f"启动 PostgreSQL（端口 {cluster.port}）"):
        cluster.start()
        cluster.ensure_login_role(API_ROLE)  # the API's role, before migrations (sql/022)
    with progress(f"重建数据库 {name}"):
        cluster.drop_database(name)
        cluster.create_database(name)
    return cluster.url(name)


def load_reference(engine: Engine, settings: Settings) -> None:
    """The Anxi reference data and the accounts the bench signs in with."""
    with engine.begin() as conn:
        anxi.load(conn, seed=1)
        create_demo_accounts(conn, settings.demo_password)


def main() -> int:
    settings = Settings()
    entities = int(os.environ.get("GEOREG_BENCH_ENTITIES", FULL_SCALE))
    setup = Recorder()
    try:
        url = fresh_database(settings, setup)
    except ClusterError as e:
        print(f"错误：{e}", file=sys.stderr)
        return 1
    engine = make_engine(url, pool_size=1, interactive=False)
    with setup("迁移数据库结构"):
        migrate(engine)
    with setup("载入安溪县 2023 年参考数据"):
        load_reference(engine, settings)

    # A throwaway key: the bench database is dropped on the next run.
    key_text = generate_key_text()
    cipher = PiiCipher.from_key_text(key_text)
    load = Recorder()
    started = time.perf_counter()
    report = demo.generate(engine, seed=SEED, scale="province", cipher=cipher, progress=load,
                           province_entities=entities)
    total_seconds = time.perf_counter() - started  # the steps plus commit and bookkeeping
    with engine.connect() as conn:
        sizes = conn.execute(text("""
            SELECT pg_size_pretty(pg_database_size(current_database())) AS db,
                   pg_size_pretty(pg_total_relation_size('entity')) AS entity,
                   pg_size_pretty(pg_total_relation_size('plot')) AS plot,
                   (SELECT count(*) FROM entity) AS n_entities,
                   (SELECT count(*) FROM plot) AS n_plots""")).one()

    # Provenance collection through the API, on the same registry.
    env = collection.bench_env(url, str(settings.state_dir)) | {
        "GEOREG_PII_KEY": key_text}
    points = int(os.environ.get("GEOREG_BENCH_POINTS", 200_000))
    collection_rows = collection.run(engine, env, n=points)
    engine.dispose()

    # Re-assignment after a boundary change, in a database of its own (it redraws the grids).
    grid_url = fresh_database(settings, setup, GRID_DB)
    grid_engine = make_engine(grid_url, pool_size=1, interactive=False)
    migrate(grid_engine)
    load_reference(grid_engine, settings)
    reassign_rows = reassign.run(grid_engine,
                                 n=int(os.environ.get("GEOREG_BENCH_REASSIGN", 1_000_000)))
    grid_engine.dispose()

    # Credit records on the province-scale registry: events by COPY, then timed lookups.
    credit_rows = credit.run(engine, cipher)
    # Sampling: the algorithms alone, then a plan drawn from the registry (after the credit
    # events, so the risk weights read real grades).
    algorithms = Recorder()
    sampling.run(algorithms)
    # credit.run has just refreshed the standings as of the same day (and timed it)
    assert sampling_plans.TODAY == credit.TODAY
    plan_rows = sampling_plans.run(engine, refresh_first=False)
    # Map pages: the province overview on vector tiles here, the county page on its own data.
    province_lines = maps.province(engine, env)
    engine.dispose()
    maps_url = fresh_database(settings, setup, MAPS_DB)
    maps_engine = make_engine(maps_url, pool_size=1, interactive=False)
    migrate(maps_engine)
    load_reference(maps_engine, settings)
    map_rows, map_lines = maps.run(maps_engine, collection.bench_env(
        maps_url, str(settings.state_dir)) | {"GEOREG_PII_KEY": key_text},
        cipher=cipher)
    maps_engine.dispose()

    # Registry reads by id and the upload stream, row security and audit on and off.
    security_rows, security_lines = security.county(settings, setup)

    loaded = sizes.n_entities + sizes.n_plots
    print_table("准备（不计入目标）", setup.rows)
    print_table(f"示范数据：全省规模，{entities:,} 个主体（种子 {SEED}）", load.rows,
                total=Row("合计（主体 + 地块，含提交）", total_seconds, loaded))
    print(f"\n主体 {sizes.n_entities:,}，地块 {sizes.n_plots:,}；其中生产主体 "
          f"{report['生产主体合计']:,}，农户 {report[KIND_LABELS[Kind.smallholder]]:,}")
    print(f"数据库大小：{sizes.db}（entity {sizes.entity}，plot {sizes.plot}，含索引）")
    print(f"数据库保留供查看：{make_url(url).render_as_string(hide_password=True)}")
    print(TARGET_TEXT)
    print_table("产地点位：经 API 批量上传 vs 裸 COPY", collection_rows)
    *api_rows, bare = collection_rows
    for api in api_rows:
        share = (api.rate or 0) / (bare.rate or 1)
        print(f"{api.step.split('（')[0]}：{api.rate or 0:,.0f} 点/秒，为裸 COPY 的 {share:.0%}"
              "（目标：≥ 20,000 点/秒且 ≥ 裸 COPY 的 1/4）")
    print_table("网格边界变更后重新归属 vs 裸空间连接", reassign_rows)
    print_table("信用档案：载入与查找（各查找为随机样本的中位数）", credit_rows)
    print_table("空间均衡抽样：20 万单位的抽样框（n=200，替补 20）", algorithms.rows)
    print_table("抽样计划：全省规模，手绘范围约五分之一，n=200（目标 < 2 秒）", plan_rows)
    print_table("地图页面：县域总览（无头 Chromium）", map_rows)
    for line in [*map_lines, *province_lines]:
        print(line)
    print_table(security.TITLE, security_rows)
    for line in security_lines:
        print(line)
    if entities < FULL_SCALE:
        print(f"本次为缩小规模（GEOREG_BENCH_ENTITIES={entities:,}），不判定是否达标")
        return 0
    met = total_seconds < TARGET_SECONDS
    print(f"结果：{total_seconds:.1f} 秒，{'达标' if met else '未达标'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
