"""The `georeg` group and what its commands share: progress steps, failures, database access.

The command modules register on `main`; `cli/__init__.py` imports them all.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any, NoReturn

import click
from sqlalchemy import Connection, Engine

from georeg.clock import today
from georeg.config import Settings
from georeg.database import make_engine
from georeg.database import transaction as dated_transaction

if TYPE_CHECKING:
    from georeg.accounts import Account


@contextmanager
def step(label: str) -> Iterator[None]:
    """Print a step with its duration, so long set-up shows progress."""
    click.echo(f"… {label}", err=True)
    started = time.perf_counter()
    yield
    click.echo(f"✓ {label}（{time.perf_counter() - started:.1f} 秒）", err=True)


def fail(message: str) -> NoReturn:
    click.echo(f"错误：{message}", err=True)
    sys.exit(1)


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """georeg：农产品质量安全网格化监管空间登记系统。"""
    ctx.obj = Settings()


def engine_for(settings: Settings) -> Engine:
    """One connection to the configured database: a command is a single client."""
    return make_engine(settings.url(), pool_size=1, interactive=False)


@contextmanager
def transaction(settings: Settings, day: date | None = None) -> Iterator[Connection]:
    """One transaction on the configured database, dated `day` (default: today, CST)."""
    engine = engine_for(settings)
    try:
        with dated_transaction(engine, today=day or today()) as conn:
            yield conn
    finally:
        engine.dispose()


def account(conn: Connection, username: str) -> Account:
    """The account that records or imports; a readable failure when there is none."""
    # lazy: accounts read through georeg.tables, whose GeoAlchemy2 import costs ~0.3 s of
    # every command's start (georeg --help included)
    from georeg.accounts import get_account_by_username

    found = get_account_by_username(conn, username)
    if found is None:
        fail(f"账号 {username} 不存在或已停用")
    return found


def moved(report: dict[str, Any]) -> str:
    """A re-assignment report in one line: how many of each moved grid."""
    return (f"主体 {report['entity_moved']}，地块 {report['plot_moved']}，"
            f"点位 {report['site_point_moved']}")


def write_output(data: bytes, output: str | None) -> None:
    """A report's bytes to the file named with -o, else to standard output."""
    if output:
        with open(output, "wb") as f:
            f.write(data)
        click.echo(f"已写入 {output}", err=True)
    else:
        sys.stdout.buffer.write(data)
