"""`georeg map county|township|provenance|plan`: map pages as standalone HTML files.

maps.export is imported when a page is written: it loads the sampling package (numba) and the
map layers, seconds that `georeg --help` and the other commands should not pay.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import click
from sqlalchemy import Connection

from cli.base import engine_for, fail, main, step
from georeg.clock import today
from georeg.config import Settings
from georeg.database import transaction
from georeg.errors import GeoregError

# (the maps.export module, a connection) -> the page's HTML
Build = Callable[[ModuleType, Connection], str]

_OUTPUT = click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
                       help="输出的 HTML 文件")


@main.group("map")
def map_group() -> None:
    """导出地图页面为独立 HTML 文件（数据与前端资源内嵌，离线可打开）。"""


def _write_map(output: str, settings: Settings, build: Build) -> None:
    from maps import assets, export  # lazy: see the module docstring

    try:
        with step("生成地图页面"), transaction(engine_for(settings), today()) as conn:
            html = build(export, conn)
    except (assets.AssetError, GeoregError) as e:
        fail(str(e))
    size = export.write(html, Path(output))
    click.echo(f"已写入 {output}（{size / 1e6:.1f} MB）")


@map_group.command("county")
@_OUTPUT
@click.pass_obj
def map_county(settings: Settings, output: str) -> None:
    """县域总览：乡镇与网格边界、主体（按类型和重点监管）、地块。"""
    _write_map(output, settings, lambda export, conn: export.county(conn, settings))


@map_group.command("township")
@click.argument("code")
@click.option("--month", default=None, help="YYYY-MM（默认最近有巡查记录的月份）")
@_OUTPUT
@click.pass_obj
def map_township(settings: Settings, code: str, month: str | None, output: str) -> None:
    """乡镇：网格与人员、巡查进度分级图。"""
    _write_map(output, settings,
               lambda export, conn: export.township(conn, settings, code, month=month))


@map_group.command("provenance")
@click.option("--year", type=int, default=None)
@_OUTPUT
@click.pass_obj
def map_provenance(settings: Settings, year: int | None, output: str) -> None:
    """产地溯源采集：点位与待核查标记、各网格完成率。"""
    _write_map(output, settings, lambda export, conn: export.provenance(conn, settings, year=year))


@map_group.command("plan")
@click.argument("plan_id", type=int)
@_OUTPUT
@click.pass_obj
def map_plan(settings: Settings, plan_id: int, output: str) -> None:
    """抽样计划：编号的目标（替补另行标出）与范围。"""
    _write_map(output, settings, lambda export, conn: export.plan(conn, settings, plan_id))
