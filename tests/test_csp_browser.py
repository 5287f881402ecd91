"""The Content-Security-Policy in headless Chromium: the map pages and the login page run under
it with no violation (folium's inline scripts carry the response's nonce, tiles come from the
allowed hosts), and the map still draws. A script without the nonce is refused: the listener
really sees violations.

GEOREG_SCREENSHOTS=<folder> keeps a screenshot of each page there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from api.app import create_app
from georeg.config import Settings
from georeg.pii import PiiCipher
from importers import demo
from tests.browser import Watch, feature_count, serve, wait_ready
from tests.conftest import TEST_PASSWORD

# Every violation, reported by the page itself (the console message is a second witness).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(
    e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' @' + e.sourceFile + ':' +
    e.lineNumber));
"""


@pytest.fixture
def live(settings: Settings, engine: Engine, cipher: PiiCipher) -> Iterator[str]:
    demo.generate(engine, seed=7, cipher=cipher)
    settings.map_tiles = True  # the tile hosts must pass img-src
    settings.tianditu_key = "test-key"
    with serve(create_app(settings)) as base:
        yield base


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("GEOREG_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser: Any, base: str) -> tuple[Any, Watch]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    watch = Watch(base)
    context.route("**/*", watch.route)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    watch.attach(page)
    return page, watch


def violations(page: Any, watch: Watch) -> list[str]:
    found = list(page.evaluate("window.__csp"))
    return found + [e for e in watch.errors if "Content Security Policy" in e]


def test_login_and_map_pages_run_under_the_csp(browser: Any, live: str, engine: Engine,
                                               shots: Path) -> None:
    page, watch = open_page(browser, live)
    response = page.goto(live + "/maps/login")
    assert "'nonce-" in response.headers["content-security-policy"]
    page.fill("#gr-username", "admin")
    page.fill("#gr-password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live + "/maps/")  # the login script ran and signed in
    wait_ready(page)
    with engine.connect() as conn:
        n_entities = conn.execute(text("SELECT count(*) FROM entity")).scalar_one()
    assert feature_count(page, "townships") == 24
    assert feature_count(page, "entities") == n_entities
    assert page.locator(".leaflet-tile").count() > 0  # tiles were asked for (and aborted)
    page.screenshot(path=str(shots / "csp-county.png"))
    assert violations(page, watch) == []
    assert watch.errors == [] and watch.outside_requests == []
    assert any("tile.openstreetmap.org" in u for u in watch.tile_requests)

    for path in ("/maps/draw", "/maps/provenance?year=2023", "/maps/townships/350524100000"):
        page.goto(live + path)
        wait_ready(page)
        page.screenshot(path=str(shots / f"csp-{path.split('/')[2].split('?')[0]}.png"))
        assert violations(page, watch) == [], path
        assert watch.errors == [], (path, watch.errors)
    # Tianditu is offered under its name and its tiles pass img-src as well
    page.get_by_text("天地图").click()
    page.wait_for_timeout(500)
    assert any("tianditu.gov.cn" in u for u in watch.tile_requests)
    assert violations(page, watch) == []
    page.context.close()


def test_a_script_without_the_nonce_is_refused(browser: Any, live: str) -> None:
    page, watch = open_page(browser, live)
    page.goto(live + "/maps/login")
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__injected = 1'; document.head.appendChild(s); }""")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__injected") is None
    found = violations(page, watch)
    assert any(v.startswith("script-src") for v in found), found
    page.context.close()
