"""`georeg import …`: field files into the registry (points, boundaries, activity, tests, MRL).

File readers and the domain modules behind them are imported inside the commands: numpy,
shapely, pyproj, pyogrio, openpyxl and GeoAlchemy2 (accounts and the registry's tables) take
about a second, which `georeg --help` should not pay.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import Connection

from cli.base import account, engine_for, fail, main, moved, step, transaction
from georeg.clock import today
from georeg.config import Settings
from georeg.errors import InvalidInput

if TYPE_CHECKING:
    from georeg.accounts import Account

_FILE = click.argument("file", type=click.Path(exists=True, dir_okay=False))


@main.group("import")
def import_() -> None:
    """导入外业文件。"""


@import_.command("points")
@_FILE
@click.option("--crs", default="wgs84", show_default=True,
              help="wgs84、cgcs2000、gcj02、bd09 或 EPSG 代码")
@click.option("--as", "username", default="admin", show_default=True, help="以哪个账号上传")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出每条记录的结果")
@click.pass_obj
def import_points(settings: Settings, file: str, crs: str, username: str, as_json: bool) -> None:
    """导入产地点位：GeoJSON、CSV（UTF-8/GBK 自动识别）、XLSX、GPX、KML。

    重复导入同一文件不会新增记录。有被拒记录时退出码为 2。
    """
    from georeg import collection  # lazy: see the module docstring
    from georeg.crs import normalize_crs
    from georeg.keys import pii_cipher
    from importers.point_files import read_point_file
    from importers.points import to_submissions

    try:
        records = read_point_file(Path(file).read_bytes(), Path(file).name)
    except InvalidInput as e:  # the file is unusable: name it
        fail(f"{file}：{e.detail}")
    crs_code = normalize_crs(crs)
    engine = engine_for(settings)
    cipher = pii_cipher(settings)
    with engine.connect() as conn:
        collector = account(conn, username)
    outcomes: list[collection.Outcome] = []
    chunk = collection.MAX_BATCH
    # One transaction per chunk; row ids are stable, so a re-run resumes without duplicates.
    with click.progressbar(length=len(records), label="导入点位", file=sys.stderr) as bar:
        for start in range(0, len(records), chunk):
            part = records[start:start + chunk]
            with engine.begin() as conn:
                subs = to_submissions(conn, part, cipher=cipher)
                outcomes += collection.ingest(conn, subs, crs=crs_code, collector=collector,
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


@import_.command("boundaries")
@_FILE
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
    from grids.boundaries import ACTION_LABELS, import_boundaries  # lazy: see the docstring
    from importers.boundary_files import read_boundary_file

    try:
        features = read_boundary_file(Path(file), crs=crs, layer=layer)
    except InvalidInput as e:  # the file is unusable: name it
        fail(f"{file}：{e.detail}")
    engine = engine_for(settings)
    with step("导入边界" + ("（试运行）" if dry_run else "")), engine.begin() as conn:
        report = import_boundaries(conn, features, level=level, dry_run=dry_run,
                                   valid_from=valid_from.date() if valid_from else today())
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, default=str))
        return
    click.echo("，".join(f"{ACTION_LABELS[k]} {v}" for k, v in report["counts"].items()))
    for f in report["features"]:
        if f["action"] in ("invalid", "unmatched") or f.get("note"):
            why = f.get("note") or "；".join(e["message"] for e in f.get("errors", []))
            click.echo(f"  第 {f['record']} 个要素（{f['code'] or f['name']}）："
                       f"{f['action_label']} {why}")
    if "reassignment" in report:
        click.echo(f"重新归属：{moved(report['reassignment'])}")


# --- sheets recorded all or nothing: one command shape, one recorder each ---------------------

# (connection, file, account, today) -> the line to print
Recorder = Callable[[Connection, Path, "Account", date], str]


def _sheet_command(name: str, help_text: str, as_help: str, record: Recorder) -> None:
    """`georeg import NAME FILE [--as USER]`: read and record in one transaction dated today."""

    @import_.command(name, help=help_text)
    @_FILE
    @click.option("--as", "username", default="admin", show_default=True, help=as_help)
    @click.pass_obj
    def command(settings: Settings, file: str, username: str) -> None:
        day = today()  # one day for the checks here and the database's (georeg_today())
        with transaction(settings, day) as conn:
            line = record(conn, Path(file), account(conn, username), day)
        click.echo(line)


def _skipped(created: int, rows: int) -> str:
    return f"导入 {created} 条，已存在而跳过 {rows - created} 条"


def _patrols(conn: Connection, file: Path, who: Account, day: date) -> str:
    from georeg import activity  # lazy: see the module docstring
    from importers.activity_files import read_patrols

    rows = read_patrols(conn, file.read_bytes(), file.name)
    return _skipped(len(activity.record_patrols(conn, rows, account=who, today=day)), len(rows))


def _certificates(conn: Connection, file: Path, who: Account, day: date) -> str:
    from georeg import activity  # lazy: see the module docstring
    from importers.activity_files import read_certificates

    rows = read_certificates(conn, file.read_bytes(), file.name)
    ids = activity.record_certificates(conn, rows, account=who, today=day)
    return _skipped(len(ids), len(rows))


def _rapid_tests(conn: Connection, file: Path, who: Account, day: date) -> str:
    from georeg.testing.results import record_rapid_tests  # lazy: see the module docstring
    from importers.testing_files import read_rapid_test_file

    rows = read_rapid_test_file(conn, file.read_bytes(), file.name)
    done = record_rapid_tests(conn, rows, account=who, today=day)
    return (f"导入 {done['created']} 条，已存在而跳过 {done['skipped_existing']} 条，"
            f"其中不合格 {done['failed']} 条（已记入信用档案）")


def _mrl(conn: Connection, file: Path, who: Account, day: date) -> str:
    from importers.testing_files import import_mrl  # lazy: see the module docstring

    done = import_mrl(conn, file.read_bytes(), file.name, account=who)
    return (f"共 {done['rows']} 行：新增 {done['added']}，替换（旧版本保留）"
            f"{done['replaced']}，未变 {done['unchanged']}")


_sheet_command("patrols", "导入巡查记录（CSV/XLSX，中文表头）；有错误时整个文件不导入。",
               "以哪个账号登记", _patrols)
_sheet_command("certificates",
               "导入承诺达标合格证与追溯码（CSV/XLSX，中文表头）；有错误时整个文件不导入。",
               "以哪个账号登记", _certificates)
_sheet_command("rapid-tests", "导入快检结果（CSV/XLSX，中文表头）；不合格记入信用档案；"
               "有错误时整个文件不导入。", "以哪个账号登记", _rapid_tests)
_sheet_command("mrl", "导入最大残留限量表（CSV/XLSX）：每行须注明标准、条款和原文；"
               "限量变化时保留旧版本。", "以哪个账号导入", _mrl)
