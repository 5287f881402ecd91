"""The project-managed PostgreSQL + PostGIS cluster: its own data directory, port and socket.

Never the Debian `main` cluster. As root (CI, these machines) the server runs as the `postgres`
system user through `runuser`, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

PG_BIN = Path(os.environ.get("GEOREG_PG_BIN", "/usr/lib/postgresql/15/bin"))


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class Cluster:
    root: Path  # holds data/, postgres.log
    socket_dir: Path
    port: int
    superuser: str = "georeg"
    listen_tcp: bool = True
    throwaway: bool = False  # tests: durability off, speed on

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def as_postgres_user(self) -> bool:
        return os.geteuid() == 0

    def _run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if self.as_postgres_user:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if check and result.returncode != 0:
            tool = Path(str(args[0])).name
            raise ClusterError(f"{tool} 失败：{(result.stderr or result.stdout).strip()[-2000:]}")
        return result

    def _own(self, path: Path, mode: int = 0o700) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.as_postgres_user:
            pg = pwd.getpwnam("postgres")
            os.chown(path, pg.pw_uid, pg.pw_gid)
        path.chmod(mode)

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self, password: str | None = None) -> None:
        if not (PG_BIN / "initdb").exists():
            raise ClusterError(
                f"找不到 {PG_BIN}/initdb：请先安装 postgresql-15-postgis-3（make setup）")
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self._own(self.root)
        args: list[str | Path] = [
            PG_BIN / "initdb", "-D", self.data_dir, "-U", self.superuser, "-E", "UTF8",
            "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256",
        ]
        pwfile = self.root / ".pw"
        if password:
            pwfile.write_text(password)
            if self.as_postgres_user:
                pg = pwd.getpwnam("postgres")
                os.chown(pwfile, pg.pw_uid, pg.pw_gid)
            pwfile.chmod(0o600)
            args += ["--pwfile", pwfile]
        try:
            self._run(*args)
        finally:
            pwfile.unlink(missing_ok=True)
        conf = [
            f"port = {self.port}",
            f"unix_socket_directories = '{self.socket_dir}'",
            "unix_socket_permissions = 0700",
            f"listen_addresses = '{'127.0.0.1' if self.listen_tcp else ''}'",
            "shared_buffers = 512MB",
            "work_mem = 32MB",
            "maintenance_work_mem = 1GB",
            "max_wal_size = 4GB",
            "timezone = 'UTC'",
            "log_min_duration_statement = -1",
            "jit = off",
        ]
        if self.throwaway:
            conf += ["fsync = off", "synchronous_commit = off", "full_page_writes = off",
                     "shared_buffers = 128MB"]
        with (self.data_dir / "postgresql.conf").open("a") as f:
            f.write("\n# georeg\n" + "\n".join(conf) + "\n")

    def running(self) -> bool:
        if not self.initialised:
            return False
        status = self._run(PG_BIN / "pg_ctl", "status", "-D", self.data_dir, check=False)
        return status.returncode == 0

    def start(self) -> None:
        if self.running():
            return
        self._own(self.socket_dir)
        self._run(PG_BIN / "pg_ctl", "start", "-w", "-t", "60", "-D", self.data_dir,
                  "-l", self.log_file)

    def stop(self) -> None:
        if self.running():
            self._run(PG_BIN / "pg_ctl", "stop", "-w", "-m", "fast", "-D", self.data_dir)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.socket_dir} port={self.port} user={self.superuser} dbname={dbname}"

    def url(self, dbname: str) -> str:
        return (f"postgresql+psycopg://{self.superuser}@/{dbname}"
                f"?host={self.socket_dir}&port={self.port}")

    def create_database(self, name: str, template: str | None = None) -> bool:
        """Create `name` unless it exists; True if created."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return False
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt = sql.SQL("{} TEMPLATE {} STRATEGY FILE_COPY").format(
                    stmt, sql.Identifier(template))
            conn.execute(stmt)
        return True

    def ensure_login_role(self, name: str) -> bool:
        """Create the login role `name` unless it exists (the API's role: no superuser, owns
        nothing; sql/022_row_security.sql grants it what it needs); True if created."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                return False
            conn.execute(sql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS").format(
                sql.Identifier(name)))
        return True

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def managed_cluster(settings) -> Cluster:  # type: ignore[no-untyped-def]
    """The cluster that `georeg db up` manages for this checkout."""
    return Cluster(root=settings.cluster_dir, socket_dir=settings.socket_dir,
                   port=settings.cluster_port, superuser=settings.db_user)


@contextmanager
def throwaway_cluster(purpose: str) -> Iterator[Cluster]:
    """A cluster of its own in a fresh temporary folder, durability off, no TCP, removed
    afterwards: the tests (`test`), a restore test's second server (`restore`), the fuzzer."""
    base = Path("/var/tmp") if os.geteuid() == 0 else Path(tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix=f"georeg-{purpose}-", dir=base))
    root.chmod(0o755)  # the `postgres` user must reach the data folder inside
    tag = root.name.rsplit("-", 1)[-1]
    c = Cluster(root=root / "pg", socket_dir=Path("/tmp") / f"georeg-{purpose[0]}-{tag}",
                port=5432, listen_tcp=False, throwaway=True)
    try:
        c.init()
        c.start()
        yield c
    finally:
        c.destroy()
        shutil.rmtree(root, ignore_errors=True)


def ensure_password(state_dir: Path) -> str:
    """Password for TCP logins to the managed cluster (local socket logins need none)."""
    path = state_dir / "db-password"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


def wait_for(conninfo: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg.connect(conninfo, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def postgis_version(conninfo: str) -> str:
    """The server's PostGIS library version; psycopg.Error if unreachable or without PostGIS."""
    with psycopg.connect(conninfo, connect_timeout=3) as conn:
        row = conn.execute("SELECT postgis_lib_version()").fetchone()
    return row[0] if row else "?"
