"""Backups with PostgreSQL's own tools: `pg_dump -Fc` into one file, a manifest beside it.

The dump is a plain custom-format archive (`pg_restore -l FILE` reads it); the manifest
(FILE.manifest.json) holds what a restore checks: the dump's SHA-256, the row count of every
table as of the dump's own snapshot, the roles the grants name, and the personal-data key's
fingerprint (an HMAC of a fixed label: it tells keys apart and reveals nothing of the key). The
key itself is never in a backup: the stored ID and phone numbers are encrypted with it, and a
backup is only as good as the key kept somewhere else (README "备份与恢复").

A restore goes into an empty database (or over an existing one with force), as the owner,
`--no-owner` so that the owner's name may differ. Grants to other roles (the API's role, which
owns nothing) are kept when those roles exist or can be created (NOLOGIN: passwords are not in
a dump); otherwise the restore goes on `--no-privileges` and says which grants to re-apply. It
ends by decrypting a sample of the stored numbers with the configured key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from georeg import __version__
from georeg.cluster import PG_BIN
from georeg.database import sql_source
from georeg.pii import PiiCipher, PiiDecryptionError, fingerprint

__all__ = ["FORMAT", "BackupError", "BackupReport", "RestoreReport", "backup", "key_fingerprint",
           "manifest_path", "read_manifest", "restore"]

FORMAT = "georeg-backup/1"
KEY_SAMPLE = 50  # stored numbers decrypted after a restore
_FINGERPRINT_LABEL = "georeg:key-fingerprint"


class BackupError(RuntimeError):
    """A backup or restore that must not be trusted; the message is for the user (zh-CN)."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    manifest: Path
    tables: dict[str, int]
    bytes: int


@dataclass
class RestoreReport:
    tables: dict[str, int]
    numbers_checked: int
    created_roles: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def key_fingerprint(cipher: PiiCipher) -> str:
    """Tells two keys apart without revealing either (HMAC of a fixed label)."""
    return fingerprint(cipher.lookup_hash("resident_id", _FINGERPRINT_LABEL))


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


# --- connections ----------------------------------------------------------------------------


# libpq settings an external server may need beside host, port, user and database
_LIBPQ_OPTIONS = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
                  "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT"}


def _libpq(url: str) -> tuple[dict[str, str], dict[str, str]]:
    """psycopg connection keywords and the PG* environment of the tools for one SQLAlchemy
    URL; the password goes in the environment, never on a command line (ps shows those)."""
    u = make_url(url)
    params: dict[str, str] = {}
    env: dict[str, str] = {}

    def put(key: str, variable: str, value: object) -> None:
        if value:
            text = str(value[0] if isinstance(value, tuple) else value)
            params[key], env[variable] = text, text

    put("host", "PGHOST", u.host or u.query.get("host"))
    put("port", "PGPORT", u.port or u.query.get("port"))
    put("user", "PGUSER", u.username)
    put("password", "PGPASSWORD", u.password)
    put("dbname", "PGDATABASE", u.database)
    for key, variable in _LIBPQ_OPTIONS.items():
        put(key, variable, u.query.get(key))
    return params, env


def _tool_env(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env}


def _run(tool: str, args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run([str(PG_BIN / tool), *args], capture_output=True, text=True,
                            env=_tool_env(env))
    if result.returncode != 0:
        raise BackupError(f"{tool} 失败：{(result.stderr or result.stdout).strip()[-2000:]}")


def _tables(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute(sql_source("georeg.backup", "tables.sql"))]


def _counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    out = {}
    for schema, name in _tables(conn):
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(schema, name))).fetchone()
        out[f"{schema}.{name}"] = int(row[0]) if row else 0
    return out


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- backup ---------------------------------------------------------------------------------


def backup(url: str, path: Path, cipher: PiiCipher) -> BackupReport:
    """Dump the database at `url` into `path` (0600, written atomically) and its manifest.

    The counts and the dump read one snapshot (pg_export_snapshot + pg_dump --snapshot), so
    the manifest describes exactly what the file holds even while the server keeps writing."""
    params, env = _libpq(url)
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # created 0600 before pg_dump writes into it: the dump is never readable by others
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        with psycopg.connect(**params) as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()
            info = conn.execute(
                "SELECT current_database(), current_setting('server_version'), "
                "(SELECT extversion FROM pg_extension WHERE extname = 'postgis')").fetchone()
            migration = None
            if conn.execute("SELECT to_regclass('schema_migration')").fetchone()[0]:  # type: ignore[index]
                migration = conn.execute("SELECT max(version) FROM schema_migration").fetchone()
            tables = _counts(conn)
            roles = [r[0] for r in conn.execute(sql_source("georeg.backup", "roles.sql"))]
            pii = _pii_counts(conn)
            assert snapshot and info
            _run("pg_dump", ["-Fc", "--snapshot", snapshot[0], "-f", str(tmp)], env)
            conn.rollback()
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        manifest = {
            "format": FORMAT, "georeg_version": __version__,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "database": info[0], "postgresql": info[1], "postgis": info[2],
            "schema_migration": migration[0] if migration else None,
            "dump": {"file": path.name, "bytes": tmp.stat().st_size, "sha256": _sha256(tmp)},
            "tables": tables, "roles": roles,
            "pii": {"key_fingerprint": key_fingerprint(cipher), **pii},
        }
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    mpath = manifest_path(path)
    _write_private(mpath, (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode())
    _fsync_dir(path.parent)
    return BackupReport(path=path, manifest=mpath, tables=tables, bytes=path.stat().st_size)


def _pii_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    if not conn.execute("SELECT to_regclass('entity')").fetchone()[0]:  # type: ignore[index]
        return {"resident_ids": 0, "phones": 0}
    row = conn.execute("SELECT count(resident_id_enc), count(phone_enc) FROM entity").fetchone()
    assert row
    return {"resident_ids": int(row[0]), "phones": int(row[1])}


def read_manifest(path: Path) -> dict[str, Any] | None:
    mpath = manifest_path(path)
    if not mpath.exists():
        return None
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except ValueError as e:
        raise BackupError(f"备份清单 {mpath} 无法读取：{e}") from e
    if manifest.get("format") != FORMAT:
        raise BackupError(f"备份清单 {mpath} 的格式不是 {FORMAT}")
    return dict(manifest)


# --- restore --------------------------------------------------------------------------------


def restore(url: str, path: Path, cipher: PiiCipher, *, force: bool = False) -> RestoreReport:
    """Restore `path` into the database at `url`; BackupError (zh-CN) when it cannot be
    trusted: a damaged file, another key, a database that is not empty (unless `force`),
    counts that differ from the manifest, stored numbers the key does not open."""
    if not path.is_file():
        raise BackupError(f"找不到备份文件 {path}")
    report = RestoreReport(tables={}, numbers_checked=0)
    manifest = read_manifest(path)
    if manifest is None:
        report.warnings.append(f"没有备份清单 {manifest_path(path).name}：不核对文件校验值与行数")
    else:
        if _sha256(path) != manifest["dump"]["sha256"]:
            raise BackupError("备份文件已损坏或被修改（SHA-256 与备份清单不符）：请换用另一份备份")
        expected = manifest["pii"]["key_fingerprint"]
        if key_fingerprint(cipher) != expected:
            raise BackupError(
                f"配置的个人信息密钥与备份时的不同（密钥指纹 {key_fingerprint(cipher)}，"
                f"备份时为 {expected}）：请把 GEOREG_PII_KEY（或 pii.key）设为备份时的密钥"
                "再恢复；用错的密钥恢复，身份证号和电话将无法查询或显示")
    params, env = _libpq(url)
    with psycopg.connect(**params, autocommit=True) as conn:
        occupied = conn.execute(sql_source("georeg.backup", "occupied.sql")).fetchone()
        if occupied and occupied[0] and not force:
            raise BackupError(f"目标数据库 {params.get('dbname')} 不是空的（已有 {occupied[0]} 个"
                              "表、索引或函数）：请恢复到新建的空数据库，或确认覆盖后加 --force")
        keep_grants = _ensure_roles(conn, manifest["roles"] if manifest else [], report)
    args = ["--no-owner", "--exit-on-error", "--single-transaction", "-d", params["dbname"]]
    if force:
        args += ["--clean", "--if-exists"]
    if not keep_grants:
        args.append("--no-privileges")
    try:
        _run("pg_restore", [*args, str(path)], env)
    except BackupError as e:
        if manifest is not None or "role" not in str(e) or not keep_grants:
            raise
        # no manifest to name the roles: restore without the grants rather than not at all
        _run("pg_restore", [*args, "--no-privileges", str(path)], env)
        report.warnings.append("备份中的授权所指的数据库角色不存在，已不带授权恢复：请为 API 角色"
                               "重新授权")
    with psycopg.connect(**params) as conn:
        report.tables = _counts(conn)
        if manifest is not None and report.tables != manifest["tables"]:
            differ = sorted(t for t in set(report.tables) | set(manifest["tables"])
                            if report.tables.get(t) != manifest["tables"].get(t))
            raise BackupError("恢复后的行数与备份清单不符：" + "、".join(differ[:10]))
        report.numbers_checked = check_key(conn, cipher)
    return report


def _ensure_roles(conn: psycopg.Connection[Any], roles: list[str],
                  report: RestoreReport) -> bool:
    """Create the roles the grants name (NOLOGIN) where missing; False if not allowed."""
    for role in roles:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            continue
        try:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        except psycopg.errors.InsufficientPrivilege:
            report.warnings.append(
                f"无权创建数据库角色 {role}：已不带授权恢复，请数据库管理员创建该角色并重新授权")
            return False
        report.created_roles.append(role)
        report.warnings.append(f"已创建数据库角色 {role}（不能登录）：请设置其密码并允许登录"
                               f"（ALTER ROLE {role} LOGIN PASSWORD '…'）")
    return True


def check_key(conn: psycopg.Connection[Any], cipher: PiiCipher, sample: int = KEY_SAMPLE) -> int:
    """Decrypt a sample of the stored ID and phone numbers and match their lookup hashes; the
    number checked. BackupError when the key does not open them."""
    if not conn.execute("SELECT to_regclass('entity')").fetchone()[0]:  # type: ignore[index]
        return 0
    rows = conn.execute(
        "(SELECT 'resident_id', resident_id_enc, resident_id_hash FROM entity"
        " WHERE resident_id_enc IS NOT NULL ORDER BY random() LIMIT %(n)s)"
        " UNION ALL (SELECT 'phone', phone_enc, phone_hash FROM entity"
        " WHERE phone_enc IS NOT NULL ORDER BY random() LIMIT %(n)s)", {"n": sample}).fetchall()
    for kind, blob, stored_hash in rows:
        label = "身份证号" if kind == "resident_id" else "电话号码"
        try:
            value = cipher.decrypt(kind, blob)
        except PiiDecryptionError as e:
            raise BackupError(
                f"配置的个人信息密钥打不开恢复后的{label}：数据已恢复，但身份证号和电话无法查询或"
                "显示。请把 GEOREG_PII_KEY（或 pii.key）设为备份时的密钥") from e
        if stored_hash is not None and cipher.lookup_hash(kind, value) != bytes(stored_hash):
            raise BackupError(f"恢复后的{label}与其查询索引不符：密钥或数据有误")
    return len(rows)
