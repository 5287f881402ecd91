"""`georeg db up|down|status|url` and `georeg migrate`: the managed database and its schema."""

from __future__ import annotations

import sys

import click
import psycopg

from cli.base import engine_for, fail, main, step
from georeg.cluster import ClusterError, ensure_password, managed_cluster, postgis_version, wait_for
from georeg.config import API_ROLE, Settings
from georeg.database import migrate


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
        # before migrations: sql/022 grants this role what the API needs
        if cluster.ensure_login_role(API_ROLE):
            click.echo(f"已创建 API 的数据库角色 {API_ROLE}", err=True)
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
        click.echo(f"运行中：{target}；PostGIS {postgis_version(settings.libpq_url())}")
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
    applied = migrate(engine_for(settings))
    for m in applied:
        click.echo(f"已应用 {m.version}_{m.name}")
    click.echo(f"数据库结构已是最新（本次应用 {len(applied)} 个迁移）")
