"""`georeg grids generate|check|reassign`: grids drawn, checked and applied to the registry.

grids.generate is imported inside its command: its shapely and numpy take a few hundred ms,
which `georeg --help` should not pay.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from cli.base import engine_for, main, moved, step
from georeg.clock import today
from georeg.config import Settings
from grids.reassign import reassign
from grids.topology import check


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
    from grids.generate import generate  # lazy: see the module docstring

    engine = engine_for(settings)
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
    with engine_for(settings).connect() as conn:
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
    engine = engine_for(settings)
    with step("重新归属"), engine.begin() as conn:
        r = reassign(conn, full=full)
    click.echo(moved(r))
