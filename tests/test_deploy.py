"""Safe to deploy: HTTPS with the county-local CA, security headers on every response, logs
without personal numbers, the systemd unit."""

from __future__ import annotations

import configparser
import datetime as dt
import ipaddress
import logging
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from fastapi.testclient import TestClient

from api.app import create_app
from georeg.config import PROJECT_ROOT, Settings
from georeg.logs import PiiLogFilter, mask_numbers, server_log_config
from georeg.tls import init_tls
from tests.browser import free_port
from tests.helpers import resident_id

HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
           "Referrer-Policy", "Permissions-Policy")


# --- the CA and the server certificate ------------------------------------------------------


def test_ca_and_server_certificate(tmp_path: Path) -> None:
    files = init_tls(tmp_path, ["10.1.2.3", "georeg.local"])
    assert files.ca_key.stat().st_mode & 0o777 == 0o600
    assert files.key.stat().st_mode & 0o777 == 0o600
    assert files.ca_key.parent.stat().st_mode & 0o777 == 0o700
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    chain = x509.load_pem_x509_certificates(files.cert.read_bytes())
    leaf = chain[0]
    assert chain[1] == ca  # the served chain ends with the CA
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 3650
    assert 700 <= (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days <= 825
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.2.3")]
    assert san.get_values_for_type(x509.DNSName) == ["georeg.local"]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    leaf.verify_directly_issued_by(ca)  # raises if not signed by the CA
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_tls_init_reuses_the_ca_and_renews_the_server_certificate(tmp_path: Path) -> None:
    first = init_tls(tmp_path, ["10.1.2.3"])
    ca_before, leaf_before = first.ca_cert.read_bytes(), first.cert.read_bytes()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    second = init_tls(tmp_path, ["10.1.2.3", "10.1.2.4"], now=later)
    assert second.ca_cert.read_bytes() == ca_before
    assert second.cert.read_bytes() != leaf_before
    ca = x509.load_pem_x509_certificate(second.ca_cert.read_bytes())
    leaf = x509.load_pem_x509_certificates(second.cert.read_bytes())[0]
    leaf.verify_directly_issued_by(ca)
    assert leaf.not_valid_before_utc > later - dt.timedelta(days=1)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert len(san.get_values_for_type(x509.IPAddress)) == 2


def test_server_certificate_never_outlives_the_ca(tmp_path: Path) -> None:
    init_tls(tmp_path, ["10.1.2.3"])
    late = dt.datetime.now(dt.UTC) + dt.timedelta(days=9 * 365 + 200)
    files = init_tls(tmp_path, ["10.1.2.3"], now=late)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    leaf = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
    assert leaf.not_valid_after_utc == ca.not_valid_after_utc


def test_tls_cli(tmp_path: Path) -> None:
    from cli import main

    env = {"GEOREG_STATE_DIR": str(tmp_path)}
    runner = CliRunner()
    r = runner.invoke(main, ["tls", "init", "--host", "10.1.2.3", "--host", "georeg.local"],
                      env=env)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(tmp_path / "tls" / "ca.crt")
    assert "已生成本地根证书" in r.stderr
    again = runner.invoke(main, ["tls", "init", "--host", "10.1.2.3"], env=env)
    assert again.exit_code == 0 and "沿用已有的本地根证书" in again.stderr
    bad = runner.invoke(main, ["tls", "init", "--host", "http://x/"], env=env)
    assert bad.exit_code == 1 and "无效的主机地址" in bad.stderr


def test_serve_refuses_a_certificate_without_its_key(tmp_path: Path) -> None:
    from cli import main

    files = init_tls(tmp_path, ["127.0.0.1"])
    r = CliRunner().invoke(main, ["serve", "--tls-cert", str(files.cert)],
                           env={"GEOREG_STATE_DIR": str(tmp_path)})
    assert r.exit_code == 1 and "同时给出证书与私钥" in r.stderr


@contextmanager
def uvicorn_on(settings: Settings, **ssl: str) -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on", **ssl))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_https_with_the_local_ca_and_hsts(settings: Settings, tmp_path: Path) -> None:
    files = init_tls(tmp_path / "tls-state", ["127.0.0.1", "localhost"])
    with uvicorn_on(settings, ssl_certfile=str(files.cert), ssl_keyfile=str(files.key)) as port:
        trust = ssl.create_default_context(cafile=str(files.ca_cert))
        r = httpx.get(f"https://127.0.0.1:{port}/api/v1/health", verify=trust)
        assert r.status_code == 200
        assert r.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        by_name = httpx.get(f"https://localhost:{port}/api/v1/health", verify=trust)
        assert by_name.status_code == 200
        # without the CA as trust root the certificate is refused: it is really checked
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"https://127.0.0.1:{port}/api/v1/health",
                      verify=ssl.create_default_context())
    with uvicorn_on(settings) as port:
        plain = httpx.get(f"http://127.0.0.1:{port}/api/v1/health")
        assert plain.status_code == 200
        assert "Strict-Transport-Security" not in plain.headers
        assert "Content-Security-Policy" in plain.headers


def test_georeg_serve_over_https_masks_numbers_in_its_access_log(
        settings: Settings, tmp_path: Path) -> None:
    """The real command: `georeg serve --tls-cert --tls-key` in its own process."""
    files = init_tls(tmp_path / "state", ["127.0.0.1"])
    port = free_port()
    env = {**os.environ, "GEOREG_DATABASE_URL": settings.url(), "GEOREG_PII_KEY":
           str(settings.pii_key), "GEOREG_STATE_DIR": str(tmp_path / "state"),
           "GEOREG_MAP_TILES": "false"}
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port), "--tls-cert",
         str(files.cert), "--tls-key", str(files.key)], env=env, stdout=log,
        stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    trust = ssl.create_default_context(cafile=str(files.ca_cert))
    rid = resident_id(31)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/api/v1/health?tel=13912345678&id={rid}",
                              verify=trust)
                break
            except httpx.ConnectError:
                assert proc.poll() is None and time.monotonic() < deadline, \
                    (tmp_path / "serve.log").read_text()
                time.sleep(0.3)
        assert r.status_code == 200 and "Strict-Transport-Security" in r.headers
        time.sleep(0.5)  # the access line is written after the response
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    out = (tmp_path / "serve.log").read_text()
    assert f"https://127.0.0.1:{port}/" in out  # the start message says HTTPS
    assert "GET /api/v1/health?tel=139****5678" in out, out
    assert "13912345678" not in out and rid not in out


def test_certificate_for_another_address_is_refused(settings: Settings, tmp_path: Path) -> None:
    files = init_tls(tmp_path / "tls-state", ["10.1.2.3"])  # not the address we connect to
    with uvicorn_on(settings, ssl_certfile=str(files.cert), ssl_keyfile=str(files.key)) as port:
        trust = ssl.create_default_context(cafile=str(files.ca_cert))
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"https://127.0.0.1:{port}/api/v1/health", verify=trust)


# --- security headers -----------------------------------------------------------------------


def _assert_headers(r: httpx.Response) -> str:
    for name in HEADERS:
        assert name in r.headers, (name, r.request.url)
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert "geolocation=(self)" in r.headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in r.headers  # TestClient speaks plain HTTP
    return r.headers["Content-Security-Policy"]


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def test_security_headers_on_json_errors_and_assets(client: TestClient,
                                                    admin: dict[str, str]) -> None:
    for r in (client.get("/api/v1/health"), client.get("/api/v1/townships"),
              client.get("/api/v1/producers/999999999", headers=admin),  # 404 problem+json
              client.get("/api/v1/producers"),  # 401
              client.post("/api/v1/producers", headers=admin, json={"name": ""}),  # 422
              client.get("/maps/static/georeg-maps.css"), client.get("/nowhere")):
        csp = _directives(_assert_headers(r))
        assert csp["frame-ancestors"] == ["'none'"]
        assert csp["connect-src"] == ["'self'"]
        assert "'unsafe-inline'" not in csp["script-src"]
        assert "'unsafe-eval'" not in csp["script-src"]


def test_security_headers_on_server_errors(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("unexpected")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/boom")
    assert r.status_code == 500 and r.headers["content-type"].startswith(
        "application/problem+json")
    _assert_headers(r)


def test_pages_carry_the_nonce_of_their_own_response(client: TestClient) -> None:
    import re

    nonces = []
    for path in ("/maps/login", "/maps/login"):
        r = client.get(path)
        csp = _directives(_assert_headers(r))
        nonce = next(v for v in csp["script-src"] if v.startswith("'nonce-"))[7:-1]
        inline = re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", r.text)
        assert inline and all(f'nonce="{nonce}"' in tag for tag in inline)
        nonces.append(nonce)
    assert nonces[0] != nonces[1] and len(nonces[0]) >= 16  # fresh per response


def test_map_page_inline_scripts_all_have_the_nonce(settings: Settings) -> None:
    import re

    from maps import assets

    settings.assets_dir = None
    if assets.missing(assets.default_dir()):
        pytest.fail("地图资源未安装：请先运行 make setup", pytrace=False)
    settings.tianditu_key = "test-key"
    with TestClient(create_app(settings)) as c:
        r = c.get("/maps/draw")
        assert r.status_code == 200
        csp = _directives(_assert_headers(r))
        nonce = next(v for v in csp["script-src"] if v.startswith("'nonce-"))[7:-1]
        inline = re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", r.text)
        assert len(inline) >= 2 and all(f'nonce="{nonce}"' in tag for tag in inline)
        # the tile hosts of the configured base maps, and only those, may serve images
        assert {"https://tile.openstreetmap.org", "https://*.tianditu.gov.cn",
                "https://*.is.autonavi.com"} <= set(csp["img-src"])
    settings.map_tiles = False
    with TestClient(create_app(settings)) as c:
        img = _directives(c.get("/api/v1/health").headers["Content-Security-Policy"])["img-src"]
        assert not any(v.startswith("https:") for v in img)


def test_docs_have_their_own_policy(client: TestClient) -> None:
    r = client.get("/docs")
    csp = _directives(_assert_headers(r))
    assert "https://cdn.jsdelivr.net" in csp["script-src"]
    assert csp["frame-ancestors"] == ["'none'"]
    # and the rest of the site does not inherit it
    api = _directives(client.get("/api/v1/health").headers["Content-Security-Policy"])
    assert "https://cdn.jsdelivr.net" not in api["script-src"]


# --- logs -----------------------------------------------------------------------------------


def test_no_route_takes_a_personal_number_in_its_url(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        assert not any(w in path for w in ("resident", "phone", "id_number")), path
        for op in operations.values():
            for param in op.get("parameters", []):
                name = param["name"].lower()
                assert not any(w in name for w in ("resident", "phone", "mobile", "id_card")), \
                    (path, name)


def test_mask_numbers() -> None:
    rid = resident_id(123)
    masked = mask_numbers(f"GET /x?id={rid}&tel=13912345678 from +8613812345678 ok")
    assert rid not in masked and "13912345678" not in masked and "8613812345678" not in masked
    assert f"{rid[:6]}********{rid[-4:]}" in masked and "139****5678" in masked
    assert mask_numbers("350524198001011X2X") == "350524198001011X2X"  # not an ID shape
    assert mask_numbers(rid[:-1] + "X").endswith("X")
    # ordinary numbers stay readable: 10 or 12 digits, a 19-digit id, a timestamp
    for text in ("entity 1234567890", "code 350524100000", "t=1701234567890123456",
                 "2023-05-01T09:30:00"):
        assert mask_numbers(text) == text


def test_log_filter_masks_messages_arguments_and_tracebacks(
        caplog: pytest.LogCaptureFixture) -> None:
    rid = resident_id(77)
    caplog.handler.addFilter(PiiLogFilter())
    log = logging.getLogger("georeg.test")
    with caplog.at_level(logging.INFO):
        log.info("lookup %s by %s", rid, "13912345678")
        log.info(f"inline {rid}")
        log.info("%(phone)s", {"phone": "15012345678"})
        try:
            raise ValueError(f"bad number {rid}")
        except ValueError:
            log.exception("failed")
    assert rid not in caplog.text and "13912345678" not in caplog.text
    assert "15012345678" not in caplog.text
    assert caplog.text.count("********") == 3 and "150****5678" in caplog.text
    assert "bad number" in caplog.text  # the traceback is kept, masked


def test_server_log_config_masks_uvicorn_access_lines(capsys: pytest.CaptureFixture[str]) -> None:
    import logging.config

    rid = resident_id(5)
    saved = {name: (lg.handlers[:], lg.level, lg.propagate) for name in ("uvicorn",
             "uvicorn.access", "uvicorn.error", "") for lg in [logging.getLogger(name)]}
    try:
        logging.config.dictConfig(server_log_config())
        # what uvicorn's access logger emits: a tuple its formatter unpacks
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
            f"/api/v1/smallholders?q={rid}", "1.1", 200)
        logging.getLogger("georeg.anything").warning("phone 13912345678")
    finally:
        for name, (handlers, level, propagate) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate
    out = capsys.readouterr()
    text = out.out + out.err
    assert "GET /api/v1/smallholders?q=350524" in text and "200" in text
    assert rid not in text and "13912345678" not in text and "139****5678" in text


# --- systemd --------------------------------------------------------------------------------

UNIT = PROJECT_ROOT / "deploy" / "georeg.service"


def test_systemd_unit_hardening() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    service = parser["Service"]
    assert service["User"] == "georeg" and service["Group"] == "georeg"
    assert service["ExecStart"].split()[1] == "serve"
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes")):
        assert service[key] == value, key
    assert "/var/lib/georeg" in service["ReadWritePaths"]
    assert service["EnvironmentFile"] == "/etc/georeg/georeg.env"
    assert service["StateDirectory"] == "georeg"
    assert parser["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point it at this venv's georeg, as installed
    unit = tmp_path / "georeg.service"
    georeg = Path(sys.executable).parent / "georeg"
    unit.write_text(UNIT.read_text().replace("/opt/georeg/.venv/bin/georeg", str(georeg)))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    problems = [line for line in (r.stdout + r.stderr).splitlines()
                if "georeg.service" in line and "User=" not in line]
    assert r.returncode == 0 or not problems, r.stdout + r.stderr
    assert not problems, problems


