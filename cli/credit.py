"""`georeg credit show|refresh`: an entity's credit record, and the daily recomputation.

georeg.credit is imported inside the commands: about a second that `georeg --help` should not
pay.
"""

from __future__ import annotations

import time
from typing import Any

import click

from cli.base import engine_for, main, transaction
from georeg.clock import today
from georeg.config import Settings


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
    from georeg.credit import show_text  # lazy: see the module docstring

    with engine_for(settings).connect() as conn:
        click.echo(show_text(conn, entity_id, as_of=as_of.date() if as_of else today()),
                   nl=False)


@credit_group.command("refresh")
@click.pass_obj
def credit_refresh(settings: Settings) -> None:
    """按规则重算重点监管名单与各主体的信用状况（每天运行一次，如由 cron 调用）。"""
    from georeg.credit import (  # lazy: see the module docstring
        refresh_key_supervision,
        refresh_standings,
    )

    day = today()
    with transaction(settings, day) as conn:
        # standings first: their refresh holds event writes off until the commit, so the
        # list is computed from the same events
        started = time.perf_counter()
        standings = refresh_standings(conn, day)
        seconds = time.perf_counter() - started
        opened, closed = refresh_key_supervision(conn, day)
    click.echo(f"重点监管名单（{day}）：新列入 {opened} 项，移出 {closed} 项")
    click.echo(f"信用状况（{day}）：重算 {standings} 个主体，用时 {seconds:.1f} 秒")
