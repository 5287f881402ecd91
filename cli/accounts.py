"""`georeg accounts …` and `georeg init`: accounts from the command line, and a county's setup.

The command line runs as the database owner: it may manage every account, and what it does is
recorded with no account (created_by / updated_by NULL).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from cli.base import engine_for, fail, main, step, transaction
from cli.tls import tls_init
from georeg.config import Settings
from georeg.roles import ROLE_LABELS, Role

T = TypeVar("T")
ROLE_CHOICE = click.Choice([r.value for r in Role])


@main.group()
def accounts() -> None:
    """账号：新建、列出、停用、启用、重置密码、修改角色，接口密钥。"""


@accounts.command("add")
@click.argument("username")
@click.option("--role", type=ROLE_CHOICE, required=True)
@click.option("--name", "display_name", required=True, help="姓名或单位名称")
@click.option("--township", "township_code", help="乡镇代码（采集员、乡镇监管员必填）")
@click.option("--grid", "grids", multiple=True, help="采集员负责的网格编码，可重复")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(["read", "collect"]),
              help="服务账号的接口权限，可重复")
@click.pass_obj
def add(settings: Settings, username: str, role: str, display_name: str,
        township_code: str | None, grids: tuple[str, ...], scopes: tuple[str, ...]) -> None:
    """新建账号；初始密码只显示这一次，首次登录须修改。"""
    from georeg.accounts import create_account

    with transaction(settings) as conn:
        new = create_account(conn, None, username=username, display_name=display_name,
                             role=Role(role), township_code=township_code, grids=grids,
                             scopes=scopes)
    if new.password is None:
        click.echo(f"已新建服务账号 {username}；用 georeg accounts api-key create {username} "
                   "发放接口密钥")
    else:
        click.echo(f"已新建账号 {username}，初始密码（只显示这一次，首次登录须修改）：")
        click.echo(new.password)


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(settings: Settings, as_json: bool) -> None:
    """列出全部账号。"""
    from georeg.accounts import list_accounts

    with transaction(settings) as conn:
        rows = list_accounts(conn, None)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, default=str, indent=1))
        return
    for r in rows:
        flags = [f for f, on in (("停用", not r["active"]), ("演示", r["demo"]),
                                 ("须改密码", r["must_change_password"])) if on]
        click.echo("\t".join([r["username"], r["display_name"], ROLE_LABELS[Role(r["role"])],
                              r["township_code"] or "全县", "，".join(flags)]))


def _on_account(settings: Settings, username: str, act: Callable[[Any, int], T]) -> T:
    """`act(conn, account_id)` on the account named `username`, as the command line (the owner)."""
    with transaction(settings) as conn:
        return act(conn, accounts_domain().target_by_username(conn, username).id)


def accounts_domain() -> Any:
    from georeg import accounts as domain  # GeoAlchemy2 behind it: not on every start

    return domain


@accounts.command("disable")
@click.argument("username")
@click.pass_obj
def disable(settings: Settings, username: str) -> None:
    """停用账号：其全部登录与接口密钥随即失效。"""
    _on_account(settings, username,
                lambda conn, i: accounts_domain().set_active(conn, None, i, False))
    click.echo(f"已停用 {username}")


@accounts.command("enable")
@click.argument("username")
@click.pass_obj
def enable(settings: Settings, username: str) -> None:
    """重新启用账号。"""
    _on_account(settings, username,
                lambda conn, i: accounts_domain().set_active(conn, None, i, True))
    click.echo(f"已启用 {username}")


@accounts.command("reset-password")
@click.argument("username")
@click.pass_obj
def reset_password(settings: Settings, username: str) -> None:
    """生成一次性新密码（只显示这一次），下次登录须修改；其登录随即失效。"""
    password = _on_account(settings, username,
                           lambda conn, i: accounts_domain().reset_password(conn, None, i))
    click.echo(f"{username} 的新密码（只显示这一次，下次登录须修改）：")
    click.echo(password)


@accounts.command("set-role")
@click.argument("username")
@click.argument("role", type=ROLE_CHOICE)
@click.option("--township", "township_code", help="乡镇代码（采集员、乡镇监管员必填）")
@click.pass_obj
def set_role(settings: Settings, username: str, role: str, township_code: str | None) -> None:
    """修改角色与所属乡镇；其登录随即失效。"""
    _on_account(settings, username, lambda conn, i: accounts_domain().set_role(
        conn, None, i, Role(role), township_code))
    where = f"，{township_code}" if township_code else ""
    click.echo(f"{username}：{ROLE_LABELS[Role(role)]}{where}")


@accounts.group("api-key")
def api_key() -> None:
    """服务账号的接口密钥。"""


@api_key.command("create")
@click.argument("username")
@click.option("--label", help="用途，如 对接系统名称")
@click.pass_obj
def api_key_create(settings: Settings, username: str, label: str | None) -> None:
    """为服务账号发放接口密钥（只显示这一次；作为 Bearer 令牌使用）。"""
    from georeg.sessions import create_api_key

    with transaction(settings) as conn:
        key_id, key = create_api_key(conn, None, username, label)
    click.echo(f"接口密钥 {key_id}（只显示这一次）：")
    click.echo(key)


@api_key.command("list")
@click.pass_obj
def api_key_list(settings: Settings) -> None:
    """列出接口密钥（不显示密钥本身）。"""
    from georeg.sessions import list_api_keys

    with transaction(settings) as conn:
        rows = list_api_keys(conn, None)
    for r in rows:
        state = "已吊销" if r["revoked_at"] else "有效"
        click.echo("\t".join([str(r["id"]), r["account"], r["label"] or "", ",".join(r["scopes"]),
                              r["township_code"] or "全县", state]))


@api_key.command("revoke")
@click.argument("key_id", type=int)
@click.pass_obj
def api_key_revoke(settings: Settings, key_id: int) -> None:
    """吊销接口密钥：随即失效。"""
    from georeg.sessions import revoke_api_key

    with transaction(settings) as conn:
        revoke_api_key(conn, None, key_id)
    click.echo(f"已吊销接口密钥 {key_id}")


# --- georeg init ---------------------------------------------------------------------------------

@main.command("init")
@click.option("--username", default="admin", show_default=True, help="管理员账号名")
@click.option("--name", "display_name", default="系统管理员", show_default=True)
@click.option("--password-stdin", is_flag=True, help="从标准输入读取管理员密码（脚本用）")
@click.option("--generate-password", is_flag=True, help="生成管理员密码并显示这一次")
@click.option("--tls", is_flag=True, help="生成县内 CA 与服务器证书（HTTPS，需 --host）")
@click.option("--host", "hosts", multiple=True,
              help="与 --tls 一起：服务器的内网 IP 或域名，可重复")
@click.option("--seed", default=1, show_default=True, help="演示网格的随机种子")
@click.pass_context
def init(ctx: click.Context, username: str, display_name: str, password_stdin: bool,
         generate_password: bool, tls: bool, hosts: tuple[str, ...], seed: int) -> None:
    """建立一个县的系统：数据库、结构、参考数据和一名管理员（首次登录须修改密码）。

    已有管理员时拒绝执行。"""
    from cli.db import db_up
    from georeg.accounts import admin_exists, check_new_password, create_account
    from georeg.database import migrate
    from georeg.keys import pii_cipher
    from importers import anxi

    settings: Settings = ctx.obj
    password: str | None = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not generate_password:
        password = click.prompt("管理员密码", hide_input=True, confirmation_prompt="再输入一次")
    if password is not None:
        check_new_password(username, password, "password")
    if tls and not hosts:
        fail("--tls 需要服务器地址：--host 10.1.2.3（可重复）")

    ctx.invoke(db_up)
    engine = engine_for(settings)
    try:
        with step("应用数据库迁移"):
            migrate(engine)
    finally:
        engine.dispose()
    with transaction(settings) as conn:
        if admin_exists(conn):
            fail("系统已有管理员账号：georeg init 只在新系统上运行一次"
                 "（重置密码用 georeg accounts reset-password）")
        pii_cipher(settings, create=True)
        with step("载入安溪县 2023 年参考数据"):
            anxi.load(conn, seed=seed)
        new = create_account(conn, None, username=username, display_name=display_name,
                             role=Role.admin, password=password)
    click.echo(f"已建立管理员账号 {username}，首次登录须修改密码。")
    if password is None:
        click.echo("管理员初始密码（只显示这一次）：")
        click.echo(new.password)
    if tls:
        ctx.invoke(tls_init, hosts=hosts)
