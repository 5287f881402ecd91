"""`georeg backup FILE` and `georeg restore FILE`: pg_dump/pg_restore with a manifest and a
check that the personal-data key opens the restored numbers (georeg.backup).

georeg.backup and the key are imported inside the commands: georeg.pii loads the table
metadata (GeoAlchemy2), time that `georeg --help` should not pay."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.base import fail, main, step
from georeg.config import Settings

if TYPE_CHECKING:
    from georeg.pii import PiiCipher


def _cipher(settings: Settings) -> PiiCipher:
    from georeg.keys import pii_cipher

    try:
        return pii_cipher(settings)
    except (RuntimeError, ValueError) as e:
        fail(f"个人信息密钥不可用：{e}")


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def backup_command(settings: Settings, file: Path) -> None:
    """备份数据库到 FILE（PostgreSQL 自定义格式，另附 FILE.manifest.json）。

    备份中没有个人信息密钥：密钥须另外保管（见 README「备份与恢复」）。"""
    from georeg.backup import BackupError, backup

    cipher = _cipher(settings)
    try:
        with step(f"备份到 {file}"):
            report = backup(settings.url(), file, cipher)
    except BackupError as e:
        fail(str(e))
    rows = sum(report.tables.values())
    click.echo(f"已备份 {len(report.tables)} 张表、{rows} 行，{report.bytes / 1e6:.1f} MB："
               f"{report.path}（清单 {report.manifest.name}）", err=True)


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="目标数据库不是空的时也恢复（覆盖同名对象）")
@click.pass_obj
def restore_command(settings: Settings, file: Path, force: bool) -> None:
    """从 FILE 恢复到配置的数据库（须为空库，或加 --force），并核对行数与个人信息密钥。"""
    from georeg.backup import BackupError, restore

    cipher = _cipher(settings)
    try:
        with step(f"从 {file} 恢复"):
            report = restore(settings.url(), file, cipher, force=force)
    except BackupError as e:
        fail(str(e))
    for warning in report.warnings:
        click.echo(f"注意：{warning}", err=True)
    click.echo(f"已恢复 {len(report.tables)} 张表、{sum(report.tables.values())} 行；"
               f"个人信息密钥核对通过（解密 {report.numbers_checked} 个号码）", err=True)
