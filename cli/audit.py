"""`georeg audit show TABLE ID`: a record's history from the audit trail (georeg.audit)."""

from __future__ import annotations

import click

from cli.base import engine_for, main
from georeg.audit import AUDITED_TABLES, history_text
from georeg.config import Settings


@main.group("audit")
def audit_group() -> None:
    """审计轨迹：谁在何时修改了哪条记录、改了什么。"""


@audit_group.command("show")
@click.argument("table", type=click.Choice(AUDITED_TABLES))
@click.argument("record_id", type=int)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="最多显示的条数（最新在前）")
@click.pass_obj
def audit_show(settings: Settings, table: str, record_id: int, limit: int) -> None:
    """显示一条记录的审计轨迹（主体连同其地块；个人号码只记“已修改”）。"""
    with engine_for(settings).connect() as conn:
        click.echo(history_text(conn, table, record_id, limit=limit), nl=False)
