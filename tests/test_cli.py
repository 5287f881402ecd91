"""The `georeg` command line end to end: its own managed cluster, migrations, reference data."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from cli import main
from georeg.cluster import managed_cluster
from georeg.config import Settings


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    yield state
    cluster = managed_cluster(Settings(state_dir=state))
    cluster.destroy()
    shutil.rmtree(cluster.root, ignore_errors=True)


def run(state: Path, *args: str) -> tuple[int, str]:
    env = {"GEOREG_STATE_DIR": str(state), "GEOREG_DATABASE_URL": "",
           "GEOREG_DEMO_PASSWORD": "cli-test"}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def test_managed_cluster_lifecycle(state_dir: Path) -> None:
    code, out = run(state_dir, "db", "status")
    assert code == 3 and "未运行" in out

    code, out = run(state_dir, "db", "up")
    assert code == 0, out
    url = out.strip().splitlines()[-1]
    settings = Settings(state_dir=state_dir)
    assert url == settings.libpq_url() and str(settings.socket_dir) in url
    assert len(str(settings.socket_dir)) + len("/.s.PGSQL.65535") < 107
    assert run(state_dir, "db", "up")[0] == 0  # idempotent

    code, out = run(state_dir, "migrate")
    assert code == 0 and "已应用 001_extensions" in out
    code, out = run(state_dir, "migrate")
    assert code == 0 and "本次应用 0 个迁移" in out

    code, out = run(state_dir, "load", "anxi-2023")
    assert code == 0, out
    assert (state_dir / "pii.key").exists()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM township").fetchone() == (24,)
        # reference data only: accounts come from `georeg init` or, for the demo, demo-accounts
        assert conn.execute("SELECT count(*) FROM account").fetchone() == (0,)
        # listening on its own port, never Debian's 5432
        assert conn.execute("SHOW port").fetchone()[0] == str(settings.cluster_port) != "5432"
    assert run(state_dir, "load", "anxi-2023")[0] == 0  # a second load changes nothing
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM grid").fetchone()[0] >= 72

    code, out = run(state_dir, "db", "status")
    assert code == 0 and "PostGIS 3" in out
    assert run(state_dir, "db", "down")[0] == 0
    assert run(state_dir, "db", "status")[0] == 3
