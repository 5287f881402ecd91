"""The map pages in headless Chromium (Debian's /usr/bin/chromium through Playwright), served by
uvicorn on the per-test database: every page draws its layers without console errors and
without leaving 127.0.0.1; the Amap (GCJ-02) base map shifts the overlays; a polygon drawn by
mouse on /maps/draw and 选取 give targets inside it; the login form; a static file offline.

GEOREG_SCREENSHOTS=<folder> keeps a screenshot of each page there.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Point, shape
from sqlalchemy import Engine, text

from api.app import create_app
from georeg.config import Settings
from georeg.coords import wgs84_to_gcj02
from georeg.pii import PiiCipher
from importers import demo
from tests.browser import (
    Watch,
    feature_count,
    serve,
    signed_in,
    wait_ready,
)
from tests.conftest import TEST_PASSWORD

TOWNSHIP = "350524100000"
AMAP = "高德地图（GCJ-02）"


@pytest.fixture
def county(engine: Engine, cipher: PiiCipher) -> Engine:
    demo.generate(engine, seed=7, cipher=cipher)
    return engine


def _live(settings: Settings, *, tiles: bool) -> Any:
    settings.map_tiles = tiles
    return serve(create_app(settings))


@pytest.fixture
def live(settings: Settings, county: Engine) -> Iterator[str]:
    with _live(settings, tiles=False) as base:
        yield base


def api(base: str, path: str, token: str | None = None, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    with urllib.request.urlopen(urllib.request.Request(base + path, data=data,
                                                       headers=headers)) as r:
        return json.load(r)


def login(base: str, username: str = "admin") -> str:
    form = urllib.parse.urlencode({"username": username, "password": TEST_PASSWORD}).encode()
    with urllib.request.urlopen(base + "/api/v1/auth/token", data=form) as r:
        return str(json.load(r)["access_token"])


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("GEOREG_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser: Any, base: str, token: str | None = None) -> tuple[Any, Watch]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", accept_downloads=True)
    watch = Watch(base)
    context.route("**/*", watch.route)
    if token:
        signed_in(context, token)
    page = context.new_page()
    watch.attach(page)
    return page, watch


def add_site_points(engine: Engine, base: str, token: str) -> int:
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT DISTINCT ON (e.id) e.id, p.commodity, ST_X(ST_PointOnSurface(p.geom)) AS x,
                   ST_Y(ST_PointOnSurface(p.geom)) AS y
            FROM entity e JOIN plot p ON p.entity_id = e.id
            JOIN commodity c ON c.slug = p.commodity AND c.provenance_key
            ORDER BY e.id, p.id LIMIT 40""")).all()
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.x, r.y]},
                 "properties": {"client_uuid": str(uuid.uuid4()), "entity_id": r.id,
                                "commodity": r.commodity, "accuracy_m": 5 if i % 3 else None,
                                "collected_at": "2023-03-05T09:30:00"}}
                for i, r in enumerate(rows)]
    req = urllib.request.Request(base + "/api/v1/collections/points", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/geo+json"},
        data=json.dumps({"type": "FeatureCollection", "features": features}).encode())
    with urllib.request.urlopen(req) as r:
        assert all(x["status"].startswith("accepted") for x in json.load(r)["results"])
    return len(features)


def make_plan(base: str, token: str, n: int = 6, replacements: int = 3) -> dict[str, Any]:
    plan = api(base, "/api/v1/sampling/plans", token, {
        "name": "茶叶快检演示", "area": {"townships": [TOWNSHIP]}, "commodities": ["tea"],
        "n": n, "test_kind": "rapid_colloidal_gold", "replacements": replacements, "seed": 7})
    # committed before the answer was sent (api/deps.py): readable at once
    assert api(base, f"/api/v1/sampling/plans/{plan['id']}", token)["id"] == plan["id"]
    return dict(plan)


def test_every_page_draws_its_layers_without_console_errors(
        browser: Any, live: str, county: Engine, shots: Path) -> None:
    from importers.demo.activity import generate_activity

    with county.begin() as conn:  # a year of patrols, for the township's choropleth
        generate_activity(conn, seed=7)
    token = login(live)
    sites = add_site_points(county, live, token)
    plan = make_plan(live, token)
    with county.connect() as conn:
        n_entities, n_plots, n_grids, township_entities = conn.execute(text(
            "SELECT (SELECT count(*) FROM entity), (SELECT count(*) FROM plot), "
            "(SELECT count(*) FROM current_grid), "
            "(SELECT count(*) FROM entity WHERE township_code = :t)"), {"t": TOWNSHIP}).one()
    expected = {
        "/maps/": {"townships": 24, "grids": n_grids, "entities": n_entities, "plots": n_plots},
        f"/maps/townships/{TOWNSHIP}?month=2023-05": {"township": 1,
                                                      "entities": township_entities},
        "/maps/provenance?year=2023": {"grids": n_grids, "sites": sites},
        "/maps/draw": {"grids": n_grids},
        f"/maps/plans/{plan['id']}": {"area": 1, "targets": len(plan["targets"])},
    }
    names = ["county", "township", "provenance", "draw", "plan"]
    for (path, layers), name in zip(expected.items(), names, strict=True):
        page, watch = open_page(browser, live, token)
        page.goto(live + path)
        wait_ready(page)
        page.screenshot(path=str(shots / f"{name}.png"))
        if name == "county":  # plots are hidden, and fetched when first switched on
            assert feature_count(page, "plots") == 0
            page.get_by_text("地块", exact=True).click()
            page.wait_for_function("() => georeg.map.hasLayer(georeg.layers.plots) && "
                                   "!document.body.dataset.loading")
        for layer, n in layers.items():
            assert feature_count(page, layer) == n, (path, layer)
        assert "底图已关闭" in page.inner_text("#gr-notices")
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        assert "系统管理员" in page.inner_text("#gr-user")
        assert watch.errors == [], (path, watch.errors)
        assert watch.outside_requests == [] and watch.tile_requests == [], path
        if name == "township":
            assert page.locator("#gr-report table tbody tr").count() == 1
            assert feature_count(page, "grids") == page.locator(
                "#gr-grid-table tbody tr").count() > 0
        if name == "plan":
            assert page.locator("#gr-targets tbody tr").count() == len(plan["targets"])
            assert page.locator(".gr-target.gr-replacement").count() == 3
            assert page.locator(".gr-target.gr-base").count() == 6
        if name == "draw":
            assert page.locator("#gr-commodity option").count() > 10
        page.context.close()


def test_amap_base_map_shifts_the_overlays_into_gcj02_and_back(
        browser: Any, settings: Settings, county: Engine, shots: Path) -> None:
    with county.connect() as conn:
        entity_id, lon, lat = conn.execute(text(
            "SELECT id, ST_X(location), ST_Y(location) FROM entity WHERE township_code = :t "
            "ORDER BY id LIMIT 1"), {"t": TOWNSHIP}).one()
    with _live(settings, tiles=True) as base:
        page, watch = open_page(browser, base, login(base))
        page.goto(f"{base}/maps/townships/{TOWNSHIP}")
        wait_ready(page)
        lng = lon
        page.evaluate("([lat, lng]) => georeg.map.setView([lat, lng], 17, {animate: false})",
                      [lat, lng])
        before = page.evaluate("(id) => georeg.positionOf('entities', id)", entity_id)
        outline = page.evaluate("(code) => georeg.positionOf('township', code)", TOWNSHIP)
        assert before == pytest.approx({"lat": lat, "lng": lng}, abs=1e-6)

        page.get_by_text(AMAP).click()
        page.wait_for_function("() => document.body.dataset.crs === 'gcj02'")
        after = page.evaluate("(id) => georeg.positionOf('entities', id)", entity_id)
        x, y = wgs84_to_gcj02(lon, lat)
        assert after == pytest.approx({"lat": y, "lng": x}, abs=2e-6)
        shifted = page.evaluate("(code) => georeg.positionOf('township', code)", TOWNSHIP)
        ox, oy = wgs84_to_gcj02(outline["lng"], outline["lat"])
        assert shifted == pytest.approx({"lat": oy, "lng": ox}, abs=2e-6)
        assert "GCJ-02" in page.inner_text("#gr-notices")
        page.evaluate("([lat, lng]) => georeg.map.setView([lat, lng], 14, {animate: false})",
                      [lat, lng])
        page.screenshot(path=str(shots / "township-amap-gcj02.png"))
        page.evaluate("([lat, lng]) => georeg.map.setView([lat, lng], 17, {animate: false})",
                      [lat, lng])

        page.get_by_text("OpenStreetMap").click()
        page.wait_for_function("() => document.body.dataset.crs === 'wgs84'")
        back = page.evaluate("(id) => georeg.positionOf('entities', id)", entity_id)
        assert back == pytest.approx(before, abs=1e-9)
        # the tiles were asked for and failed; the data did not depend on them
        hosts = {u.split("/")[2] for u in watch.tile_requests}
        assert any(h.endswith("tile.openstreetmap.org") for h in hosts)
        assert any(h.endswith("is.autonavi.com") for h in hosts)
        assert "底图瓦片无法加载" in page.inner_text("#gr-notices")
        assert watch.errors == [] and watch.outside_requests == []
        page.context.close()


def _click(page: Any, x: float, y: float) -> None:
    # Leaflet.Draw places a vertex where its mouse marker is: move there first, then click.
    page.mouse.move(x, y, steps=4)
    page.mouse.down()
    page.mouse.up()
    page.wait_for_timeout(150)


def draw_polygon(page: Any, offsets: list[tuple[int, int]]) -> dict[str, Any]:
    box = page.locator(".folium-map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.locator(".leaflet-draw-draw-polygon").click()
    for dx, dy in offsets:
        _click(page, cx + dx, cy + dy)
    _click(page, cx + offsets[0][0], cy + offsets[0][1])  # the first vertex closes it
    drawn = page.evaluate("georeg.drawn.toGeoJSON()")
    assert len(drawn["features"]) == 1, "the polygon was not closed"
    return drawn["features"][0]["geometry"]


def test_draw_a_polygon_press_select_and_get_targets_inside_it(
        browser: Any, live: str, county: Engine, shots: Path) -> None:
    token = login(live)
    page, watch = open_page(browser, live, token)
    page.goto(live + "/maps/draw")
    wait_ready(page)
    polygon = draw_polygon(page, [(-160, -120), (150, -130), (170, 110), (-140, 140)])
    assert "绘制 1 个" in page.inner_text("#gr-area-summary")
    page.select_option("#gr-commodity", "tea")
    page.fill("#gr-n", "8")
    page.fill("#gr-replacements", "3")
    page.get_by_role("button", name="选取").click()
    page.wait_for_function("() => /^[0-9]+$/.test(document.body.dataset.plan || '')",
                           timeout=60_000)
    plan_id = int(page.evaluate("document.body.dataset.plan"))
    assert page.locator("#gr-targets tbody tr").count() == 11
    assert page.locator(".gr-target").count() == 11
    page.screenshot(path=str(shots / "draw-result.png"))

    plan = api(live, f"/api/v1/sampling/plans/{plan_id}", token)
    area = shape(polygon).buffer(1e-7)
    assert len(plan["targets"]) == 11
    for t in plan["targets"]:
        assert area.covers(Point(t["lon"], t["lat"])), t["no"]
    # the page showed what the API returned, in its order
    first = page.locator("#gr-targets tbody tr").first.inner_text()
    assert plan["targets"][0]["entity_name"] in first

    with page.expect_download() as download:
        page.get_by_role("button", name="下载 CSV").click()
    csv = Path(download.value.path()).read_bytes()
    assert csv.startswith(b"\xef\xbb\xbf") and "序号".encode() in csv
    assert watch.errors == [] and watch.outside_requests == []

    page.get_by_role("link", name="打开方案页").click()
    page.wait_for_url(f"**/maps/plans/{plan_id}")
    wait_ready(page)
    assert feature_count(page, "targets") == 11
    page.context.close()


def test_the_drawing_page_shows_the_apis_own_messages(browser: Any, live: str) -> None:
    token = login(live)
    page, watch = open_page(browser, live, token)
    page.goto(live + "/maps/draw")
    wait_ready(page)
    page.get_by_role("button", name="选取").click()  # no area at all
    page.wait_for_function("() => document.body.dataset.plan === 'error'")
    request = urllib.request.Request(
        live + "/api/v1/sampling/plans", headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"},
        data=json.dumps({"area": {}, "crs": "wgs84", "commodities": ["tea"], "n": 30,
                         "test_kind": "rapid_colloidal_gold", "smallholder_share": 0.25,
                         "replacements": 5}).encode())
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request)
    problem = json.load(e.value)
    shown = page.inner_text("#gr-errors")
    assert problem["detail"] in shown
    assert all(x["message"] in shown for x in problem["errors"])

    # a grid picked by clicking, and a sample larger than the API allows: the field is marked
    box = page.locator(".folium-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert "网格 1 个" in page.inner_text("#gr-area-summary")
    page.fill("#gr-n", "99999")
    page.evaluate("document.body.dataset.plan = ''")
    page.get_by_role("button", name="选取").click()
    page.wait_for_function("() => document.body.dataset.plan === 'error'")
    assert "gr-invalid" in (page.get_attribute("#gr-n", "class") or "")
    assert page.locator("#gr-errors li").count() >= 1
    # the console shows the 422s the page handled, nothing else
    assert all("422" in e for e in watch.errors), watch.errors
    page.context.close()


def test_many_entities_come_as_vector_tiles(browser: Any, settings: Settings,
                                            county: Engine, shots: Path) -> None:
    settings.map_vector_tiles_above = 1000  # the demo county has ~4,700: the province path
    with _live(settings, tiles=False) as base:
        page, watch = open_page(browser, base, login(base))
        tiles: list[int] = []
        page.on("response", lambda r: tiles.append(r.status) if ".mvt" in r.url else None)
        page.goto(base + "/maps/")
        wait_ready(page)
        assert page.evaluate("georeg.layers.entities instanceof L.VectorGrid")
        assert tiles and set(tiles) == {200}  # signed in: the bearer header went with them
        assert feature_count(page, "townships") == 24
        assert "grids" not in page.evaluate("Object.keys(georeg.layers)")
        page.screenshot(path=str(shots / "county-vector-tiles.png"))
        assert watch.errors == [] and watch.outside_requests == []
        page.context.close()


def test_login_form_signs_in_and_returns_to_the_page(browser: Any, live: str) -> None:
    page, watch = open_page(browser, live)
    page.goto(live + "/maps/provenance?year=2023")
    page.wait_for_url("**/maps/login?next=*")
    page.fill("#gr-username", "admin")
    page.fill("#gr-password", "wrong")
    page.get_by_role("button", name="登录").click()
    page.wait_for_function("() => document.getElementById('gr-login-error').textContent !== ''")
    assert "账号或密码错误" in page.inner_text("#gr-login-error")
    page.fill("#gr-password", TEST_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/maps/provenance?year=2023")
    wait_ready(page)
    page.click("#gr-logout")
    page.wait_for_url("**/maps/login")
    assert page.evaluate("sessionStorage.getItem('georeg.token')") is None
    assert watch.errors == [] or all("401" in e for e in watch.errors)
    page.context.close()


def test_static_file_opens_without_a_server(browser: Any, live: str, county: Engine,
                                            settings: Settings, tmp_path: Path,
                                            shots: Path) -> None:
    from maps import export

    plan = make_plan(live, login(live))
    with county.connect() as conn:
        html = export.plan(conn, settings, plan["id"])
    path = tmp_path / "plan.html"
    path.write_text(html, encoding="utf-8")
    page, watch = open_page(browser, "file://")
    page.goto(path.as_uri())
    wait_ready(page)
    assert feature_count(page, "targets") == len(plan["targets"])
    assert feature_count(page, "area") == 1
    assert page.locator("#gr-targets tbody tr").count() == len(plan["targets"])
    page.screenshot(path=str(shots / "plan-static.png"))
    assert watch.errors == [] and watch.outside_requests == []
    page.context.close()
