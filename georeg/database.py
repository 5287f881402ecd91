"""Engine, transactions, migrations and driver-error translation: the database boundary."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.resources import files
from pathlib import Path

import psycopg
from sqlalchemy import Connection, Engine, TextClause, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from georeg.config import SQL_DIR
from georeg.errors import (
    DatabaseFault,
    DatabaseUnavailable,
    FieldError,
    GeoregError,
    InvalidInput,
    ServerBusy,
    StatementTimeout,
    from_constraint,
)

log = logging.getLogger(__name__)


def make_engine(url: str, *, pool_size: int = 16, interactive: bool = True,
                pool_timeout: float = 10, statement_timeout_s: float | None = None) -> Engine:
    """An engine whose pool keeps its connections open (reopening a backend costs ~20 ms).

    Interactive connections (the API) turn parallel workers off: on 2 cores they cost ~20 ms
    to start and slow small indexed queries down (docs/performance.md, "Connections"), and
    may cancel a statement after `statement_timeout_s` (Settings.statement_timeout_s), so
    that no request holds a connection for minutes; bulk (CLI) engines never time out.
    """
    # JIT compiles for ~200 ms before a spatial join that then runs for less: off.
    options = "-c timezone=UTC -c jit=off"
    if interactive:
        options += " -c max_parallel_workers_per_gather=0"
        if statement_timeout_s is not None:
            options += f" -c statement_timeout={max(1, round(statement_timeout_s * 1000))}"
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        connect_args={"options": options, "connect_timeout": 5},
    )


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn driver errors into domain errors; raw PostgreSQL text never reaches a client."""
    try:
        yield
    except GeoregError:
        raise
    except PoolTimeout as e:
        # Every connection of the pool is busy: a 503 the client may retry, never a 500.
        log.warning("connection pool exhausted")
        raise ServerBusy(retry_after=5) from e
    except DBAPIError as e:
        orig = e.orig
        if isinstance(orig, psycopg.errors.IntegrityError):
            error = from_constraint(orig.diag.constraint_name)
            if error is not None:
                raise error from e
        if isinstance(orig, psycopg.errors.NotNullViolation) and orig.diag.column_name:
            # e.g. a PATCH that sends null for a required field: the column names the field
            field = orig.diag.column_name
            raise InvalidInput("缺少必填字段", [FieldError(field, "required", "不能为空")]) from e
        if isinstance(orig, psycopg.errors.QueryCanceled):  # 57014: the statement timeout
            log.warning("statement cancelled after the statement timeout")
            raise StatementTimeout() from e
        if isinstance(orig, psycopg.DataError):
            # A value the database cannot hold (out of range, NUL in text) that got past the
            # API's checks: the request's fault (422), logged to find the missing check.
            log.warning("data error from input: %s", type(orig).__name__)
            raise InvalidInput("提交的数值超出范围或含有不支持的字符",
                               [FieldError("body", "unsupported_value",
                                           "数值超出范围或含有不支持的字符")]) from e
        if isinstance(e, OperationalError) and isinstance(orig, psycopg.OperationalError):
            log.error("database unavailable: %s", type(orig).__name__)
            raise DatabaseUnavailable() from e
        log.exception("database fault")
        raise DatabaseFault() from e


@contextmanager
def transaction(engine: Engine, today: date | None = None) -> Iterator[Connection]:
    """A transaction; `today` (Asia/Shanghai) is what the database's georeg_today() returns."""
    with translated_errors(), engine.begin() as conn:
        if today is not None:
            conn.execute(text("SELECT set_config('georeg.today', :d, true)"),
                         {"d": today.isoformat()})
        yield conn


def set_scope(conn: Connection, *, account_id: int, role: str,
              township_code: str | None) -> None:
    """Tell the database who is asking, for the rest of this transaction (one round trip), as
    the API's session check does (georeg_session_account, sql/019) for code that acts as an
    account without a session: the tests and benches as georeg_api.

    Row-level security and the audit trail read these through georeg_account_id(),
    georeg_role() and georeg_township() (sql/018_request_scope.sql)."""
    conn.execute(text("SELECT set_config('georeg.account_id', :a, true), "
                      "set_config('georeg.role', :r, true), "
                      "set_config('georeg.township', :t, true)"),
                 {"a": str(account_id), "r": role, "t": township_code or ""})


def postgis_version(conn: Connection) -> str:
    """The PostGIS library the server runs: a health check that reaches the database."""
    return conn.execute(text("SELECT postgis_lib_version()")).scalar_one()


# --- statements kept in .sql files ----------------------------------------------------------------

@cache
def sql_source(package: str, name: str) -> str:
    """The text of `name`, a .sql file shipped inside `package` (read once per process).

    Large statements live beside the module that runs them; values go in as parameters and
    identifiers through psycopg.sql.Identifier, never spliced into the text."""
    return files(package).joinpath(name).read_text(encoding="utf-8")


@cache
def sql_statement(package: str, name: str) -> TextClause:
    """`sql_source` as a SQLAlchemy statement with :named parameters."""
    return text(sql_source(package, name))


# --- migrations -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def migrations(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found = []
    for path in sorted(sql_dir.glob("[0-9][0-9][0-9]_*.sql")):
        version, _, name = path.stem.partition("_")
        found.append(Migration(version, name, path))
    return found


class MigrationChanged(RuntimeError):
    pass


def migrate(engine: Engine, sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Apply each migration once, in order, each in its own transaction; return those applied."""
    applied: list[Migration] = []
    with engine.begin() as conn:
        conn.execute(text("""
            CREATE TABLE IF NOT EXISTS schema_migration (
                version    text PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())"""))
    for m in migrations(sql_dir):
        with engine.begin() as conn:
            # One migrator at a time, even when two `georeg migrate` run at once.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('georeg-migrate'))"))
            done = conn.execute(text("SELECT checksum FROM schema_migration WHERE version = :v"),
                                {"v": m.version}).scalar()
            if done is not None:
                if done != m.checksum:
                    raise MigrationChanged(
                        f"迁移 {m.path.name} 已应用后又被修改；请新增迁移文件而不是改旧文件")
                continue
            # The raw driver runs a multi-statement script as is (no parameter parsing of '%').
            conn.connection.driver_connection.execute(m.sql)  # type: ignore[union-attr]
            conn.execute(text("INSERT INTO schema_migration (version, name, checksum) "
                              "VALUES (:v, :n, :c)"),
                         {"v": m.version, "n": m.name, "c": m.checksum})
            applied.append(m)
    return applied
