"""`georeg backup` and `georeg restore`: a dump of the test database restored into a fresh,
second throwaway cluster has the same rows; the personal-data key is checked before and after
the restore; grants to a role the new cluster lacks survive."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import Engine, text

from cli import main
from georeg.backup import key_fingerprint, manifest_path
from georeg.cluster import Cluster, throwaway_cluster
from georeg.config import API_ROLE, Settings
from georeg.pii import PiiCipher, generate_key_text
from tests.helpers import point_in, resident_id

CANNEI = "350524106000"
# tables whose every row is compared, not only counted
COMPARED = ("entity", "plot", "account", "township", "grid", "schema_migration")


@pytest.fixture(scope="module")
def fresh_cluster() -> Iterator[Cluster]:
    """A second cluster that never saw the schema, the roles or the data."""
    with throwaway_cluster("restore") as c:
        yield c


@pytest.fixture
def api_role(engine: Engine, cluster: Cluster) -> Iterator[str]:
    """A role that owns nothing and reads entities, as the API's role will (sql/022)."""
    role = f"georeg_api_t{secrets.token_hex(3)}"
    with engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
        conn.execute(text(f'GRANT SELECT ON entity TO "{role}"'))
    yield role
    with engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))


def cli(url: str, key: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={
        "GEOREG_DATABASE_URL": url, "GEOREG_PII_KEY": key})


def rows(url: str, table: str) -> list[tuple[object, ...]]:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo) as conn:
        return conn.execute(sql.SQL("SELECT * FROM {} ORDER BY 1").format(
            sql.Identifier(table))).fetchall()


def counts(url: str) -> dict[str, int]:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND relkind = 'r' AND relname <> 'spatial_ref_sys'")]
        return {n: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(n))).fetchone()[0] for n in names}  # type: ignore[index]


@pytest.fixture
def loaded(client: TestClient, admin: dict[str, str], engine: Engine) -> list[str]:
    """Two smallholders with resident IDs and phones, one with a plot, and a producer."""
    rids = [resident_id(401), resident_id(402, birth="19751231")]
    for i, rid in enumerate(rids):
        r = client.post("/api/v1/smallholders", headers=admin, json={
            "name": f"备份测试户{i}", "resident_id": rid, "phone": f"1390000{i:04d}",
            "location": point_in(engine, CANNEI, seed=i + 1)})
        assert r.status_code == 201, r.text
    sid = r.json()["id"]
    square = point_in(engine, CANNEI, seed=9)
    x, y = square["coordinates"]
    ring = [[x, y], [x + 0.001, y], [x + 0.001, y + 0.001], [x, y]]
    r = client.post(f"/api/v1/smallholders/{sid}/plots", headers=admin, json={
        "commodity": "tea", "geometry": {"type": "Polygon", "coordinates": [ring]}})
    assert r.status_code == 201, r.text
    return rids


def test_backup_restore_into_a_fresh_cluster(
        settings: Settings, db_url: str, loaded: list[str], api_role: str,
        fresh_cluster: Cluster, pii_key_text: str, cipher: PiiCipher, tmp_path: Path) -> None:
    file = tmp_path / "backups" / "georeg-2026-12-02.dump"
    r = cli(db_url, pii_key_text, "backup", str(file))
    assert r.exit_code == 0, r.output
    assert file.stat().st_mode & 0o777 == 0o600
    assert manifest_path(file).stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in file.parent.iterdir()) == sorted(
        [file.name, manifest_path(file).name])  # no temporary file left
    assert file.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    manifest = json.loads(manifest_path(file).read_text())
    source = counts(db_url)
    assert {k.removeprefix("public."): v for k, v in manifest["tables"].items()} == source
    assert manifest["pii"]["key_fingerprint"] == key_fingerprint(cipher)
    assert manifest["pii"]["resident_ids"] == 2 and manifest["pii"]["phones"] == 2
    assert api_role in manifest["roles"]
    raw = file.read_bytes() + manifest_path(file).read_bytes()
    assert pii_key_text.encode() not in raw  # the key never goes into a backup
    for rid in loaded:
        assert rid.encode() not in raw  # the numbers are stored encrypted only

    fresh_cluster.create_database("restored")
    fresh_cluster.ensure_login_role(API_ROLE)  # what `georeg db up` does on a new server
    target = fresh_cluster.url("restored")
    r = cli(target, pii_key_text, "restore", str(file))
    assert r.exit_code == 0, r.output
    assert "个人信息密钥核对通过（解密 4 个号码）" in r.stderr
    assert f"已创建数据库角色 {api_role}" in r.stderr
    assert counts(target) == source
    for table in COMPARED:
        assert rows(target, table) == rows(db_url, table), table
    with psycopg.connect(fresh_cluster.conninfo("restored")) as conn:
        granted, login = conn.execute(
            "SELECT has_table_privilege(%s, 'entity', 'SELECT'), rolcanlogin "
            "FROM pg_roles WHERE rolname = %s", (api_role, api_role)).fetchone()  # type: ignore[misc]
        assert granted and not login
        # the sequences continue after the restored ids
        assert conn.execute("SELECT nextval('entity_id_seq') > max(id) FROM entity"
                            ).fetchone()[0]  # type: ignore[index]

    # the restored registry works: the key reveals the numbers through the API
    from api.app import create_app
    from tests.helpers import login as sign_in

    restored = settings.model_copy(update={"database_url": target})
    with TestClient(create_app(restored)) as c:
        admin = sign_in(c, "admin")
        found = c.get("/api/v1/smallholders?q=备份测试户&limit=5", headers=admin).json()
        ids = [f["id"] for f in found["features"]]
        assert len(ids) == 2
        full = [c.get(f"/api/v1/smallholders/{i}?reveal=true", headers=admin).json()
                for i in ids]
        assert sorted(f["properties"]["resident_id"] for f in full) == sorted(loaded)

    # not over a database that is not empty, unless forced
    again = cli(target, pii_key_text, "restore", str(file))
    assert again.exit_code == 1 and "不是空的" in again.stderr
    forced = cli(target, pii_key_text, "restore", "--force", str(file))
    assert forced.exit_code == 0, forced.output
    assert counts(target) == source


def test_restore_refuses_another_key_and_a_damaged_file(
        db_url: str, loaded: list[str], fresh_cluster: Cluster, pii_key_text: str,
        tmp_path: Path) -> None:
    file = tmp_path / "b.dump"
    assert cli(db_url, pii_key_text, "backup", str(file)).exit_code == 0
    other = generate_key_text()

    # with the manifest: refused before anything is restored
    fresh_cluster.create_database("wrong_key")
    target = fresh_cluster.url("wrong_key")
    r = cli(target, other, "restore", str(file))
    assert r.exit_code == 1
    assert "配置的个人信息密钥与备份时的不同" in r.stderr and other not in r.output
    assert counts(target) == {}

    # without it: restored, then the key check fails on the stored numbers
    shutil.move(manifest_path(file), tmp_path / "aside.json")
    r = cli(target, other, "restore", str(file))
    assert r.exit_code == 1
    assert "打不开恢复后的身份证号" in r.stderr, r.output
    assert counts(target)["entity"] == counts(db_url)["entity"]
    # and the right key passes the same check on the same data
    shutil.move(tmp_path / "aside.json", manifest_path(file))
    ok = cli(target, pii_key_text, "restore", "--force", str(file))
    assert ok.exit_code == 0, ok.output

    # a damaged file is refused by its checksum
    damaged = tmp_path / "damaged.dump"
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    shutil.copy(manifest_path(file), manifest_path(damaged))
    fresh_cluster.create_database("damaged")
    r = cli(fresh_cluster.url("damaged"), pii_key_text, "restore", str(damaged))
    assert r.exit_code == 1 and "已损坏" in r.stderr
    assert counts(fresh_cluster.url("damaged")) == {}


def test_connection_settings_keep_the_password_off_the_command_line() -> None:
    from georeg.backup import _libpq

    params, env = _libpq("postgresql+psycopg://georeg:p%40ss@db.example:5433/georeg"
                         "?sslmode=verify-full")
    assert params == {"host": "db.example", "port": "5433", "user": "georeg",
                      "password": "p@ss", "dbname": "georeg", "sslmode": "verify-full"}
    assert env["PGPASSWORD"] == "p@ss" and env["PGSSLMODE"] == "verify-full"
    socket_params, _ = _libpq("postgresql+psycopg://georeg@/t_1?host=/tmp/g&port=5432")
    assert socket_params == {"host": "/tmp/g", "port": "5432", "user": "georeg", "dbname": "t_1"}
