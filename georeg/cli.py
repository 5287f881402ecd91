"""The `georeg` command line."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import psycopg

from georeg.cluster import ClusterError, ensure_password, managed_cluster, wait_for
from georeg.config import Settings
from georeg.database import make_engine, migrate


@contextmanager
def step(label: str) -> Iterator[None]:
    """Print a step with its duration, so long set-up shows progress."""
    click.echo(f"… {label}", err=True)
    started = time.perf_counter()
    yield
    click.echo(f"✓ {label}（{time.perf_counter() - started:.1f} 秒）", err=True)


def fail(message: str) -> None:
    click.echo(f"错误：{message}", err=True)
    sys.exit(1)


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """georeg：农产品质量安全网格化监管空间登记系统。"""
    ctx.obj = Settings()


@main.group()
def db() -> None:
    """项目自带的 PostgreSQL + PostGIS 数据库。"""


@db.command("up")
@click.pass_obj
def db_up(settings: Settings) -> None:
    """初始化（如需要）并启动数据库。"""
    if settings.database_url:
        wait_for(settings.libpq_url().replace("+psycopg", ""), seconds=10)
        click.echo(f"使用外部数据库 GEOREG_DATABASE_URL：{settings.libpq_url()}")
        return
    cluster = managed_cluster(settings)
    try:
        if not cluster.initialised:
            with step(f"初始化数据库集群 {cluster.data_dir}"):
                cluster.init(password=ensure_password(settings.state_dir))
        with step(f"启动 PostgreSQL（端口 {cluster.port}，套接字 {cluster.socket_dir}）"):
            cluster.start()
        if cluster.create_database(settings.db_name):
            click.echo(f"已创建数据库 {settings.db_name}", err=True)
    except ClusterError as e:
        fail(str(e))
    click.echo(settings.libpq_url())


@db.command("down")
@click.pass_obj
def db_down(settings: Settings) -> None:
    """停止数据库。"""
    if settings.database_url:
        click.echo("外部数据库不由 georeg 管理。")
        return
    managed_cluster(settings).stop()
    click.echo("数据库已停止。")


@db.command("status")
@click.pass_obj
def db_status(settings: Settings) -> None:
    """数据库是否在运行。"""
    if settings.database_url:
        target = settings.libpq_url()
    else:
        cluster = managed_cluster(settings)
        if not cluster.running():
            click.echo("未运行（georeg db up 启动）")
            sys.exit(3)
        target = f"{cluster.data_dir}，端口 {cluster.port}"
    try:
        with psycopg.connect(settings.libpq_url(), connect_timeout=3) as conn:
            version = conn.execute("SELECT postgis_lib_version()").fetchone()
            click.echo(f"运行中：{target}；PostGIS {version[0] if version else '?'}")
    except psycopg.Error as e:
        click.echo(f"运行中：{target}（PostGIS 尚未安装：{type(e).__name__}）")


@db.command("url")
@click.pass_obj
def db_url(settings: Settings) -> None:
    """打印连接地址（psql、QGIS 可用）。"""
    click.echo(settings.libpq_url())


@main.command("migrate")
@click.pass_obj
def migrate_cmd(settings: Settings) -> None:
    """按顺序应用 sql/ 下尚未应用的迁移。"""
    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    applied = migrate(engine)
    for m in applied:
        click.echo(f"已应用 {m.version}_{m.name}")
    click.echo(f"数据库结构已是最新（本次应用 {len(applied)} 个迁移）")


@main.group("load")
def load() -> None:
    """载入参考数据。"""


@load.command("anxi-2023")
@click.option("--seed", default=1, show_default=True, help="演示网格的随机种子")
@click.pass_obj
def load_anxi(settings: Settings, seed: int) -> None:
    """安溪县 2023 年：24 个乡镇、账号、年度目标与快检任务、演示边界与网格。"""
    from georeg.keys import pii_cipher, token_secret
    from importers import anxi

    pii_cipher(settings, create=True)
    token_secret(settings, create=True)
    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    with step("载入安溪县 2023 年参考数据"), engine.begin() as conn:
        counts = anxi.load(conn, demo_password=settings.demo_password, seed=seed)
    click.echo("乡镇 {townships}，演示边界 {boundaries}，新网格 {grids}，"
               "年度目标 {plan_targets} 项，禁用农药 {banned_substances} 种，"
               "新账号 {accounts_created}".format(**counts))
    click.echo(anxi.ATTRIBUTION)


@main.command("demo-data")
@click.option("--seed", default=2023, show_default=True, type=int)
@click.option("--scale", type=click.Choice(["county", "province"]), default="county",
              show_default=True)
@click.pass_obj
def demo_data(settings: Settings, seed: int, scale: str) -> None:
    """生成可复现的演示数据（生产主体、农户、地块）。"""
    from georeg import demo
    from georeg.keys import pii_cipher

    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    report = demo.generate(engine, seed=seed, scale=scale,
                           cipher=pii_cipher(settings, create=True), progress=step)
    if scale == "county":
        from georeg.demo_activity import generate_activity

        with step("生成 2023 年巡查与合格证"), engine.begin() as conn:
            report |= generate_activity(conn, seed=seed)
        from georeg.demo_testing import generate_testing

        with step("生成 2023 年快检与定量监测结果"), engine.begin() as conn:
            report |= generate_testing(conn, seed=seed)
    for key, value in report.items():
        click.echo(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")


@main.group("import")
def import_() -> None:
    """导入外业文件。"""


@import_.command("points")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--crs", default="wgs84", show_default=True,
              help="wgs84、cgcs2000、gcj02、bd09 或 EPSG 代码")
@click.option("--as", "username", default="admin", show_default=True, help="以哪个账号上传")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出每条记录的结果")
@click.pass_obj
def import_points(settings: Settings, file: str, crs: str, username: str, as_json: bool) -> None:
    """导入产地点位：GeoJSON、CSV（UTF-8/GBK 自动识别）、XLSX、GPX、KML。

    重复导入同一文件不会新增记录。有被拒记录时退出码为 2。
    """
    import json
    from pathlib import Path

    from georeg import collection
    from georeg.crs import normalize_crs
    from georeg.keys import pii_cipher
    from importers.point_files import PointFileError, read_point_file
    from importers.points import to_submissions

    try:
        records = read_point_file(Path(file).read_bytes(), Path(file).name)
    except PointFileError as e:
        fail(f"{file}：{e.message}")
    crs_code = normalize_crs(crs)
    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    cipher = pii_cipher(settings)
    with engine.connect() as conn:
        account = _account(conn, username)
    outcomes: list[collection.Outcome] = []
    chunk = collection.MAX_BATCH
    # One transaction per chunk; row ids are stable, so a re-run resumes without duplicates.
    with click.progressbar(length=len(records), label="导入点位", file=sys.stderr) as bar:
        for start in range(0, len(records), chunk):
            part = records[start:start + chunk]
            with engine.begin() as conn:
                subs = to_submissions(conn, part, cipher=cipher)
                outcomes += collection.ingest(conn, subs, crs=crs_code, collector=account,
                                              source="file")
            bar.update(len(part))
    total = collection.summary(outcomes)
    if as_json:
        click.echo(json.dumps({"file": file, "crs": crs_code, "summary": total,
                               "results": [o.as_dict() for o in outcomes]}, ensure_ascii=False))
    else:
        labels = {"accepted": "通过", "accepted_with_flags": "通过（待核查）",
                  "duplicate": "重复", "conflict": "冲突", "rejected": "被拒"}
        click.echo("，".join(f"{labels[k]} {v}" for k, v in total.items() if k in labels)
                   + f"，共 {total['total']} 条")
        for o in outcomes:
            if o.status == "rejected":
                why = "；".join(f"{e.field}：{e.message}" for e in o.errors)
                click.echo(f"  第 {o.record} 条被拒：{why}")
    if total["rejected"]:
        sys.exit(2)


def _moved(report: dict[str, Any]) -> str:
    """A re-assignment report in one line: how many of each moved grid."""
    return (f"主体 {report['entity_moved']}，地块 {report['plot_moved']}，"
            f"点位 {report['site_point_moved']}")


@import_.command("boundaries")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--level", type=click.Choice(["township", "grid"]), required=True)
@click.option("--crs", default=None, help="文件未注明坐标系时必填，如 EPSG:4549")
@click.option("--layer", default=None, help="GeoPackage/KML 的图层名")
@click.option("--valid-from", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="新边界的生效日期（默认今天）")
@click.option("--dry-run", is_flag=True, help="只报告，不写入")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def import_boundaries(settings: Settings, file: str, level: str, crs: str | None,
                      layer: str | None, valid_from: Any, dry_run: bool, as_json: bool) -> None:
    """导入乡镇或网格边界：GeoJSON、Shapefile（可为 zip）、GeoPackage、KML。"""
    import json
    from pathlib import Path

    from georeg.clock import today
    from grids.boundaries import import_boundaries as run_import
    from importers.boundary_files import BoundaryFileError, read_boundary_file

    try:
        features = read_boundary_file(Path(file), crs=crs, layer=layer)
    except BoundaryFileError as e:
        fail(f"{file}：{e.message}")
    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    with step("导入边界" + ("（试运行）" if dry_run else "")), engine.begin() as conn:
        report = run_import(conn, features, level=level, dry_run=dry_run,
                            valid_from=valid_from.date() if valid_from else today())
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, default=str))
        return
    from grids.boundaries import ACTION_LABELS

    click.echo("，".join(f"{ACTION_LABELS[k]} {v}" for k, v in report["counts"].items()))
    for f in report["features"]:
        if f["action"] in ("invalid", "unmatched") or f.get("note"):
            why = f.get("note") or "；".join(e["message"] for e in f.get("errors", []))
            click.echo(f"  第 {f['record']} 个要素（{f['code'] or f['name']}）："
                       f"{f['action_label']} {why}")
    if "reassignment" in report:
        click.echo(f"重新归属：{_moved(report['reassignment'])}")


@import_.command("patrols")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "username", default="admin", show_default=True, help="以哪个账号登记")
@click.pass_obj
def import_patrols(settings: Settings, file: str, username: str) -> None:
    """导入巡查记录（CSV/XLSX，中文表头）；有错误时整个文件不导入。"""
    _import_activity(settings, file, username, "patrols")


@import_.command("certificates")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "username", default="admin", show_default=True, help="以哪个账号登记")
@click.pass_obj
def import_certificates(settings: Settings, file: str, username: str) -> None:
    """导入承诺达标合格证与追溯码（CSV/XLSX，中文表头）；有错误时整个文件不导入。"""
    _import_activity(settings, file, username, "certificates")


@import_.command("rapid-tests")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "username", default="admin", show_default=True, help="以哪个账号登记")
@click.pass_obj
def import_rapid_tests(settings: Settings, file: str, username: str) -> None:
    """导入快检结果（CSV/XLSX，中文表头）；不合格记入信用档案；有错误时整个文件不导入。"""
    from pathlib import Path

    from georeg.clock import today
    from georeg.testing.results import read_rapid_test_file, record_rapid_tests

    day = today()
    with _transaction(settings, day) as conn:
        account = _account(conn, username)
        rows = read_rapid_test_file(conn, Path(file).read_bytes(), Path(file).name)
        done = record_rapid_tests(conn, rows, account=account, today=day)
    click.echo(f"导入 {done['created']} 条，已存在而跳过 {done['skipped_existing']} 条，"
               f"其中不合格 {done['failed']} 条（已记入信用档案）")


@import_.command("mrl")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "username", default="admin", show_default=True, help="以哪个账号导入")
@click.pass_obj
def import_mrl(settings: Settings, file: str, username: str) -> None:
    """导入最大残留限量表（CSV/XLSX）：每行须注明标准、条款和原文；限量变化时保留旧版本。"""
    from pathlib import Path

    from georeg.testing.mrl import import_mrl as run_import

    with _transaction(settings) as conn:
        done = run_import(conn, Path(file).read_bytes(), Path(file).name,
                          account=_account(conn, username))
    click.echo(f"共 {done['rows']} 行：新增 {done['added']}，替换（旧版本保留）"
               f"{done['replaced']}，未变 {done['unchanged']}")


@contextmanager
def _transaction(settings: Settings, day: Any = None) -> Iterator[Any]:
    """One transaction on the configured database, dated `day` (default: today, CST)."""
    from georeg.clock import today
    from georeg.database import transaction

    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    try:
        with transaction(engine, today=day or today()) as conn:
            yield conn
    finally:
        engine.dispose()


def _account(conn: Any, username: str) -> Any:
    """The account that records or imports; a readable failure when there is none."""
    from sqlalchemy import text

    from georeg.accounts import get_account

    account_id = conn.execute(text("SELECT id FROM account WHERE username = :u"),
                              {"u": username}).scalar()
    account = get_account(conn, account_id) if account_id else None
    if account is None:
        fail(f"账号 {username} 不存在或已停用")
    return account


def _import_activity(settings: Settings, file: str, username: str, what: str) -> None:
    from pathlib import Path

    from georeg import activity
    from georeg.clock import today
    from importers.activity_files import read_certificates, read_patrols

    day = today()  # one day for the checks here and the database's (georeg_today())
    with _transaction(settings, day) as conn:
        account = _account(conn, username)
        data = Path(file).read_bytes()
        if what == "patrols":
            rows = read_patrols(conn, data, Path(file).name)
            ids = activity.record_patrols(conn, rows, account=account, today=day)
        else:
            rows = read_certificates(conn, data, Path(file).name)
            ids = activity.record_certificates(conn, rows, account=account, today=day)
    click.echo(f"导入 {len(ids)} 条，已存在而跳过 {len(rows) - len(ids)} 条")


@main.group("grids")
def grids_group() -> None:
    """网格：生成、拓扑检查、重新归属。"""


@grids_group.command("generate")
@click.option("--township", required=True, help="12 位乡镇代码")
@click.option("--cells", type=int, required=True, help="网格数")
@click.option("--valid-from", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.pass_obj
def grids_generate(settings: Settings, township: str, cells: int, valid_from: Any) -> None:
    """把乡镇划分为 N 个按主体数量均衡的紧凑网格（旧网格版本关闭，不删除）。"""
    from georeg.clock import today
    from grids.generate import generate

    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    with step(f"生成 {cells} 个网格"), engine.begin() as conn:
        report = generate(conn, township=township, cells=cells,
                          valid_from=valid_from.date() if valid_from else today())
    click.echo(f"网格 {report['cells']} 个，每格主体数 {report['points_per_cell']}"
               f"（按{'主体' if report['balanced_by'] == 'entities' else '面积'}均衡）")


@grids_group.command("check")
@click.option("--township", default=None)
@click.option("--sliver-m2", type=float, default=1000.0, show_default=True)
@click.pass_obj
def grids_check(settings: Settings, township: str | None, sliver_m2: float) -> None:
    """拓扑检查：重叠、缝隙、越界、碎片。有问题时退出码为 2。"""
    from grids.topology import check

    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    with engine.connect() as conn:
        problems = check(conn, township=township, sliver_m2=sliver_m2)
    for p in problems:
        where = p["grid_code"] or p["township_code"]
        click.echo(f"{p['label']}：{where} {p['area_m2']:.1f} 平方米，"
                   f"位置 {p['lon']:.6f},{p['lat']:.6f}")
    click.echo(f"共 {len(problems)} 处问题")
    if problems:
        sys.exit(2)


@grids_group.command("reassign")
@click.option("--full", is_flag=True,
              help="所有点位都按现行边界重算（默认只重算所在网格已变更的点位）")
@click.pass_obj
def grids_reassign(settings: Settings, full: bool) -> None:
    """按现行边界重新归属主体、地块与点位。"""
    from grids.reassign import reassign

    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    with step("重新归属"), engine.begin() as conn:
        r = reassign(conn, full=full)
    click.echo(_moved(r))


@main.group("report")
def report() -> None:
    """报表（由数据计算得出）。"""


@report.command("provenance")
@click.option("--year", type=int, default=None, help="年度（默认：最近一个有采集任务的年度）")
@click.option("--county", default=None, help="6 位县级代码，如 350524")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "xlsx", "json"]),
              default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="写入文件（xlsx 必须指定）")
@click.pass_obj
def report_provenance(settings: Settings, year: int | None, county: str | None, fmt: str,
                      output: str | None) -> None:
    """产地溯源采集完成情况：乡镇 × 8 个重点品种。"""
    import json

    from georeg.clock import today
    from georeg.export import to_csv, to_xlsx
    from georeg.reports.provenance import COLUMNS, latest_year, provenance_report

    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    as_of = today()
    with engine.connect() as conn:
        year = year or latest_year(conn, as_of)
        rows = provenance_report(conn, year=year, as_of=as_of, county=county)
    if fmt == "xlsx":
        if not output:
            fail("xlsx 格式请用 -o 指定输出文件")
        data = to_xlsx(rows, COLUMNS, title=f"{year}年产地溯源采集")
    elif fmt == "csv":
        data = to_csv(rows, COLUMNS)
    elif fmt == "json":
        data = json.dumps(rows, ensure_ascii=False, default=str, indent=1).encode()
    else:
        lines = [f"{year} 年产地溯源采集完成情况（截至 {as_of}）"]
        for r in rows:
            if r["entities"]:
                lines.append(f"{r['township_name']:<6}{r['commodity_name']:<5}"
                             f"{r['collected']:>5}/{r['entities']:<5}"
                             f"{r['percent_complete']:>6}%  {r['status_label']}")
        data = ("\n".join(lines) + "\n").encode()
    if output:
        with open(output, "wb") as f:
            f.write(data)
        click.echo(f"已写入 {output}", err=True)
    else:
        sys.stdout.buffer.write(data)


@report.command("testing-progress")
@click.option("--year", type=int, default=None, help="年度（默认：最近一个有快检任务的年度）")
@click.option("--quarter", type=click.IntRange(1, 4), default=None,
              help="统计到该季度末（默认：本季度，往年为四季度）")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "xlsx", "json"]),
              default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="写入文件（xlsx 必须指定）")
@click.pass_obj
def report_testing_progress(settings: Settings, year: int | None, quarter: int | None,
                            fmt: str, output: str | None) -> None:
    """快检任务与定量监测进度：按检测单位和方法，季度序时进度，禽肉禽蛋兽残占比。"""
    import json

    from georeg.clock import today
    from georeg.export import to_csv, to_xlsx
    from georeg.testing.progress import COLUMNS, latest_year, progress_text, testing_progress

    if fmt == "xlsx" and not output:
        fail("xlsx 格式请用 -o 指定输出文件")
    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    as_of = today()
    with engine.connect() as conn:
        report = testing_progress(conn, year=year or latest_year(conn, as_of), quarter=quarter,
                                  as_of=as_of)
    if fmt == "xlsx":
        data = to_xlsx(report["rows"], COLUMNS, title=f"{report['year']}年快检与监测进度")
    elif fmt == "csv":
        data = to_csv(report["rows"], COLUMNS)
    elif fmt == "json":
        data = json.dumps(report, ensure_ascii=False, default=str, indent=1).encode()
    else:
        data = progress_text(report).encode()
    if output:
        with open(output, "wb") as f:
            f.write(data)
        click.echo(f"已写入 {output}", err=True)
    else:
        sys.stdout.buffer.write(data)


@main.group("credit")
def credit_group() -> None:
    """信用档案与重点监管名单。"""


@credit_group.command("show")
@click.argument("entity_id", type=int)
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="计算信用等级的日期（默认今天）")
@click.pass_obj
def credit_show(settings: Settings, entity_id: int, as_of: Any) -> None:
    """显示主体的信用档案：信用等级、重点监管名单、事件时间线（个人信息脱敏）。"""
    from georeg.clock import today
    from georeg.credit import show_text

    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    with engine.connect() as conn:
        click.echo(show_text(conn, entity_id, as_of=as_of.date() if as_of else today()),
                   nl=False)


@credit_group.command("refresh")
@click.pass_obj
def credit_refresh(settings: Settings) -> None:
    """按规则重算重点监管名单与各主体的信用状况（每天运行一次，如由 cron 调用）。"""
    from georeg.clock import today
    from georeg.credit import refresh_key_supervision, refresh_standings

    day = today()
    with _transaction(settings, day) as conn:
        # standings first: their refresh holds event writes off until the commit, so the
        # list is computed from the same events
        started = time.perf_counter()
        standings = refresh_standings(conn, day)
        seconds = time.perf_counter() - started
        opened, closed = refresh_key_supervision(conn, day)
    click.echo(f"重点监管名单（{day}）：新列入 {opened} 项，移出 {closed} 项")
    click.echo(f"信用状况（{day}）：重算 {standings} 个主体，用时 {seconds:.1f} 秒")


@main.command("sample")
@click.option("--frame", "frame_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="抽样框 CSV：id 与 x、y（米）或 lon、lat（经纬度）")
@click.option("--n", "n", type=int, default=None, help="样本量（分层时为各层之和；--frame 时必填）")
@click.option("--method", type=click.Choice(["grts", "lpm", "srs"]), default="grts",
              show_default=True, help="grts 空间均衡、lpm 局部枢轴法、srs 简单随机")
@click.option("--seed", type=int, default=None, help="随机种子（省略时随机生成并报告）")
@click.option("--stratum-column", default=None, help="分层列名")
@click.option("--allocation", type=click.Choice(["proportional", "equal"]),
              default="proportional", show_default=True, help="分层时的样本分配")
@click.option("--weight-column", default=None, help="权重列名（入样概率与权重成正比）")
@click.option("--legacy-column", default=None, help="必抽列名（1/是 为必抽单位）")
@click.option("--over", type=int, default=0, show_default=True, help="替补单位数")
@click.option("--request", "request_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="不用 --frame 时：抽样计划请求 JSON（同 POST "
              "/api/v1/sampling/plans），按数据库登记的主体抽样并保存计划")
@click.option("--as", "username", default="admin", show_default=True,
              help="--request：以哪个账号制定计划")
@click.option("--json", "as_json", is_flag=True, help="--request：以 JSON 输出整个计划")
@click.pass_obj
def sample_cmd(settings: Settings, frame_file: str | None, n: int | None, method: str,
               seed: int | None, stratum_column: str | None, allocation: str,
               weight_column: str | None, legacy_column: str | None, over: int,
               request_file: str | None, username: str, as_json: bool) -> None:
    """抽样：CSV 写到标准输出（id,rank,role,inclusion_probability），均衡度写到标准错误。

    role 为 base（基本样本）或 replacement（替补，按顺序使用，分层时用同层替补）。
    --request plan.json（不用 --frame）则按数据库中的登记主体制定并保存抽样计划。
    """
    if request_file is not None and frame_file is None:
        _sample_request(settings, request_file, username=username, as_json=as_json)
        return
    if frame_file is not None and n is None:
        fail("需要 --n：样本量")
    if seed is None:
        import secrets

        seed = secrets.randbelow(2**31)
    if frame_file is None:
        fail("需要 --frame（抽样框 CSV）或 --request（抽样计划请求 JSON，按数据库抽样）")
    _sample_frame(frame_file, n=n, method=method, seed=seed, stratum_column=stratum_column,
                  allocation=allocation, weight_column=weight_column,
                  legacy_column=legacy_column, over=over)


def _sample_request(settings: Settings, request_file: str, *, username: str,
                    as_json: bool) -> None:
    """A plan from a request file, drawn from the database and saved (same rules as the API)."""
    import json
    from pathlib import Path

    from georeg.clock import today
    from georeg.errors import GeoregError
    from georeg.sampling.plans import create_plan, parse_request, plan_text

    try:
        raw = json.loads(Path(request_file).read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as e:
        fail(f"{request_file}：不是有效的 JSON（{type(e).__name__}）")
    day = today()
    try:
        req = parse_request(raw)
        with _transaction(settings, day) as conn:
            account = _account(conn, username)
            plan = create_plan(conn, req, account=account, today=day, raw=raw)
    except GeoregError as e:  # nothing was saved: the transaction rolled back
        fail(f"{request_file}：{e.detail}"
             + "".join(f"\n  {x.field}：{x.message}" for x in e.errors))
    if as_json:
        click.echo(json.dumps(plan, ensure_ascii=False, indent=1))
    else:
        click.echo(plan_text(plan), nl=False)


def _sample_frame(frame_file: str, *, n: int, method: str, seed: int,
                  stratum_column: str | None, allocation: str, weight_column: str | None,
                  legacy_column: str | None, over: int) -> None:
    from pathlib import Path

    from georeg.sampling import METHOD_LABELS, SamplingError, select, srs_balance_mean
    from georeg.sampling.balance import default_reps
    from georeg.sampling.frame import FrameError, read_frame, write_selection_csv

    try:
        frame = read_frame(Path(frame_file).read_bytes(), stratum_column=stratum_column,
                           weight_column=weight_column, legacy_column=legacy_column)
        selection = select(frame.x, frame.y, n, method=method, seed=seed,  # type: ignore[arg-type]
                           weights=frame.weights, strata=frame.strata,
                           allocation=allocation,  # type: ignore[arg-type]
                           legacy=frame.legacy, over=over)
    except FrameError as e:
        fail(f"{frame_file}：{e.message}")
    except SamplingError as e:
        fail(e.detail)
    sys.stdout.write(write_selection_csv(frame, selection))
    size = len(frame.ids)
    projected = "（经纬度已投影为米）" if frame.projected_from_lonlat else ""
    replacements = int((~selection.is_base).sum())
    click.echo(f"抽样框 {size} 个单位{projected}；{METHOD_LABELS[method]}；样本 {n}，"
               f"替补 {replacements}；随机种子 {seed}", err=True)
    if frame.strata is not None:
        for key, (units, allocated) in selection.stratum_sizes.items():
            click.echo(f"  层 {key}：单位 {units}，样本 {allocated}", err=True)
    if selection.balance is None:
        click.echo("空间均衡度：样本少于 2 个，无法计算", err=True)
        return
    reps = default_reps(size)
    srs_mean = srs_balance_mean(frame.x, frame.y, selection.frame_probability,
                                int(selection.is_base.sum()), seed, reps=reps)
    click.echo(f"空间均衡度（Pielou，0 为最均衡）：{selection.balance:.4f}；"
               f"同一抽样框简单随机抽样 {reps} 次的平均值：{srs_mean:.4f}", err=True)


@main.group("map")
def map_group() -> None:
    """导出地图页面为独立 HTML 文件（数据与前端资源内嵌，离线可打开）。"""


def _write_map(settings: Settings, output: str, build: Any) -> None:
    from pathlib import Path

    from georeg.clock import today
    from georeg.database import transaction
    from georeg.errors import GeoregError
    from maps import assets, export

    engine = make_engine(settings.url(), pool_size=1, interactive=False)
    try:
        with step("生成地图页面"), transaction(engine, today()) as conn:
            html = build(conn)
    except (assets.AssetError, GeoregError) as e:
        fail(str(e))
    size = export.write(html, Path(output))
    click.echo(f"已写入 {output}（{size / 1e6:.1f} MB）")


_OUTPUT = click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
                       help="输出的 HTML 文件")


@map_group.command("county")
@_OUTPUT
@click.pass_obj
def map_county(settings: Settings, output: str) -> None:
    """县域总览：乡镇与网格边界、主体（按类型和重点监管）、地块。"""
    from maps import export

    _write_map(settings, output, lambda conn: export.county(conn, settings))


@map_group.command("township")
@click.argument("code")
@click.option("--month", default=None, help="YYYY-MM（默认最近有巡查记录的月份）")
@_OUTPUT
@click.pass_obj
def map_township(settings: Settings, code: str, month: str | None, output: str) -> None:
    """乡镇：网格与人员、巡查进度分级图。"""
    from maps import export

    _write_map(settings, output, lambda conn: export.township(conn, settings, code, month=month))


@map_group.command("provenance")
@click.option("--year", type=int, default=None)
@_OUTPUT
@click.pass_obj
def map_provenance(settings: Settings, year: int | None, output: str) -> None:
    """产地溯源采集：点位与待核查标记、各网格完成率。"""
    from maps import export

    _write_map(settings, output, lambda conn: export.provenance(conn, settings, year=year))


@map_group.command("plan")
@click.argument("plan_id", type=int)
@_OUTPUT
@click.pass_obj
def map_plan(settings: Settings, plan_id: int, output: str) -> None:
    """抽样计划：编号的目标（替补另行标出）与范围。"""
    from maps import export

    _write_map(settings, output, lambda conn: export.plan(conn, settings, plan_id))


@main.command("serve")
@click.option("--host", default=None, help="默认 127.0.0.1")
@click.option("--port", default=None, type=int, help="默认 8000")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="服务进程数（默认 1，GEOREG_WORKERS）；多核服务器可设为核数")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None,
          workers: int | None) -> None:
    """启动 API 与地图服务。"""
    import uvicorn

    from api.app import create_app

    host, port = host or settings.host, port or settings.port
    workers = workers or settings.workers
    click.echo(f"georeg 服务：http://{host}:{port}/ （接口文档 /docs）", err=True)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    else:  # each process builds its app from the same GEOREG_* environment
        uvicorn.run("api.app:create_app", factory=True, workers=workers, host=host, port=port,
                    log_level="info")


def run() -> None:
    """Entry point: known failures end with a readable message and a non-zero exit."""
    from sqlalchemy.exc import OperationalError

    from georeg.database import MigrationChanged
    from georeg.errors import GeoregError

    try:
        main(standalone_mode=True)
    except MigrationChanged as e:
        fail(str(e))
    except GeoregError as e:
        details = "；".join(f"{x.field}：{x.message}" for x in e.errors)
        fail(e.detail + (f"（{details}）" if details else ""))
    except OperationalError:
        fail("无法连接数据库：请先运行 georeg db up，或检查 GEOREG_DATABASE_URL")


if __name__ == "__main__":
    run()
