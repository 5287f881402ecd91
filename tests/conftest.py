"""Tests run against a real, throwaway PostgreSQL + PostGIS cluster that this file starts.

The schema and the Anxi reference data are loaded once into a template database; every test
that needs the database gets a fresh copy of it, so tests never see each other's writes.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from georeg.cluster import Cluster
from georeg.config import API_ROLE, Settings
from georeg.database import make_engine, migrate
from georeg.pii import PiiCipher, generate_key_text

TEMPLATE = "georeg_template"
TEST_PASSWORD = "test-password"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    base = Path("/var/tmp") if os.geteuid() == 0 else Path(tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix="georeg-test-", dir=base))
    root.chmod(0o755)  # the `postgres` user must reach the data folder inside
    tag = root.name.rsplit("-", 1)[-1]
    c = Cluster(root=root / "pg", socket_dir=Path("/tmp") / f"georeg-t-{tag}", port=5432,
                listen_tcp=False, throwaway=True)
    c.init()
    c.start()
    c.ensure_login_role(API_ROLE)  # the API's role, before migrations (sql/022)
    try:
        yield c
    finally:
        c.destroy()
        root.rmdir()


@pytest.fixture(scope="session")
def template(cluster: Cluster) -> str:
    from importers import anxi
    from importers.demo.accounts import create_demo_accounts

    cluster.create_database(TEMPLATE)
    engine = make_engine(cluster.url(TEMPLATE), pool_size=1, interactive=False)
    migrate(engine)
    with engine.begin() as conn:
        anxi.load(conn, seed=1)
        # the demo's accounts, made the way `make demo` makes them
        create_demo_accounts(conn, TEST_PASSWORD)
    engine.dispose()
    return TEMPLATE


@pytest.fixture
def db_url(cluster: Cluster, template: str) -> Iterator[str]:
    name = f"t_{secrets.token_hex(6)}"
    cluster.create_database(name, template=template)
    yield cluster.url(name)
    cluster.drop_database(name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = make_engine(db_url, pool_size=4)
    yield e
    e.dispose()


@pytest.fixture(scope="session")
def pii_key_text() -> str:
    return generate_key_text()


@pytest.fixture(scope="session")
def cipher(pii_key_text: str) -> PiiCipher:
    return PiiCipher.from_key_text(pii_key_text)


@pytest.fixture
def settings(db_url: str, pii_key_text: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, pii_key=pii_key_text, state_dir=tmp_path / "state",
                    demo_password=TEST_PASSWORD, pool_size=4)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app on the test database, on the real clock."""
    from api.app import create_app

    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    from tests.helpers import login

    return login(client, "admin")
