"""Tests run against a real, throwaway PostgreSQL + PostGIS cluster that this file starts.

The schema and the Anxi reference data are loaded once into a template database; every test
that needs the database gets a fresh copy of it, so tests never see each other's writes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from georeg.cluster import Cluster, throwaway_cluster
from georeg.config import API_ROLE, Settings
from georeg.database import make_engine, migrate
from georeg.pii import PiiCipher, generate_key_text

TEMPLATE = "georeg_template"
TEST_PASSWORD = "test-password"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster("test") as c:
        c.ensure_login_role(API_ROLE)  # the API's role, before migrations (sql/022)
        yield c


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright (a dev dependency): missing fails, not
    skips — `make test` installs both."""
    import playwright.sync_api as playwright_api

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} 不存在：请先运行 make setup（安装 Debian 的 chromium）",
                    pytrace=False)
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
