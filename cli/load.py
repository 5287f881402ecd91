"""`georeg load anxi-2023`, `georeg demo-accounts` and `georeg demo-data`: reference data, the
demo's accounts and reproducible demo data.

The loaders and georeg.keys are imported inside the commands: numpy, shapely and cryptography
take about a second, which `georeg --help` and the other commands should not pay.
"""

from __future__ import annotations

import click

from cli.base import engine_for, main, step
from georeg.config import Settings


@main.group("load")
def load() -> None:
    """载入参考数据。"""


@load.command("anxi-2023")
@click.option("--seed", default=1, show_default=True, help="演示网格的随机种子")
@click.pass_obj
def load_anxi(settings: Settings, seed: int) -> None:
    """安溪县 2023 年：24 个乡镇、年度目标与快检任务、演示边界与网格（不建账号）。"""
    from georeg.keys import pii_cipher  # lazy: see the module docstring
    from importers import anxi

    pii_cipher(settings, create=True)
    engine = engine_for(settings)
    with step("载入安溪县 2023 年参考数据"), engine.begin() as conn:
        counts = anxi.load(conn, seed=seed)
    click.echo("乡镇 {townships}，演示边界 {boundaries}，新网格 {grids}，"
               "年度目标 {plan_targets} 项，禁用农药 {banned_substances} 种".format(**counts))
    click.echo(anxi.ATTRIBUTION)


@main.command("demo-accounts")
@click.pass_obj
def demo_accounts(settings: Settings) -> None:
    """演示账号（只用于演示）：admin、24 个乡镇账号及每种角色一个，共用演示密码。"""
    from importers.demo.accounts import create_demo_accounts

    engine = engine_for(settings)
    with step("建立演示账号"), engine.begin() as conn:
        created = create_demo_accounts(conn, settings.demo_password)
    click.echo(f"新建演示账号 {created} 个（已有的账号及其密码不变）")


@main.command("demo-data")
@click.option("--seed", default=2023, show_default=True, type=int)
@click.option("--scale", type=click.Choice(["county", "province"]), default="county",
              show_default=True)
@click.pass_obj
def demo_data(settings: Settings, seed: int, scale: str) -> None:
    """生成可复现的演示数据（生产主体、农户、地块）。"""
    from georeg.keys import pii_cipher  # lazy: see the module docstring
    from importers import demo
    from importers.demo.activity import generate_activity
    from importers.demo.testing import generate_testing

    engine = engine_for(settings)
    report = demo.generate(engine, seed=seed, scale=scale,
                           cipher=pii_cipher(settings, create=True), progress=step)
    if scale == "county":
        with step("生成 2023 年巡查与合格证"), engine.begin() as conn:
            report |= generate_activity(conn, seed=seed)
        with step("生成 2023 年快检与定量监测结果"), engine.begin() as conn:
            report |= generate_testing(conn, seed=seed)
    for key, value in report.items():
        click.echo(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")
