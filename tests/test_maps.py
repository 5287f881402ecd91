"""Map pages without a browser: local assets, the display layers, GCJ-02 output, vector tiles,
static HTML. (Pages in Chromium: tests/test_maps_browser.py.)"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
import tarfile
import uuid
from pathlib import Path
from typing import Any

import folium
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from folium.plugins import Draw, FastMarkerCluster, MarkerCluster
from sqlalchemy import Engine, text

from api.app import create_app
from cli import main as cli
from georeg.config import Settings
from georeg.coords import wgs84_to_gcj02
from georeg.maplayers import tiles
from georeg.pii import PiiCipher
from importers import demo
from maps import assets

PAGES = ["/maps/", "/maps/townships/350524100000", "/maps/provenance", "/maps/draw",
         "/maps/plans/1", "/maps/login"]
TOWNSHIP = "350524100000"


@pytest.fixture
def county(engine: Engine, cipher: PiiCipher) -> Engine:
    """The per-test database with the county's demo entities and plots."""
    demo.generate(engine, seed=7, cipher=cipher)
    return engine


def geojson(client: TestClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    r = client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(("application/geo+json", "application/json"))
    return r.json()


# --- assets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("element", [folium.Map, Draw, MarkerCluster, FastMarkerCluster])
def test_lock_pins_the_versions_folium_asks_its_cdns_for(element: type) -> None:
    """A folium upgrade that moves to another Leaflet or plugin version fails here, not in an
    office without internet."""
    locked = {k: p for p in assets.load_lock() for k in p.folium}
    for key, url in [*element.default_js, *element.default_css]:
        if key in assets.DROPPED:
            continue
        assert key in locked, f"{key} ({url}) has no local copy"
        version = re.search(r"(\d+\.\d+\.\d+)", url)
        assert version and version.group(1) == locked[key].version, (key, url)


def _tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_install_checks_integrity_unpacks_listed_files_and_skips_what_is_there(
        tmp_path: Path) -> None:
    data = _tarball({"dist/lib.js": b"var lib = 1;", "dist/lib.css": b"a{}",
                     "docs/big.html": b"<html>", "../escape.js": b"x"})
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    registry = tmp_path / "registry"
    (registry / "lib" / "-").mkdir(parents=True)
    (registry / "lib" / "-" / "lib-1.0.0.tgz").write_bytes(data)
    package = assets.Package("lib", "1.0.0", integrity, ("dist/*",), {"lib_js": "dist/lib.js"})
    target = tmp_path / "assets"

    assert assets.missing(target, [package]) == ["lib@1.0.0/"]
    assert assets.install(target, registry=registry.as_uri(), quiet=True, packages=[package]) == 1
    assert (target / "lib@1.0.0/dist/lib.js").read_bytes() == b"var lib = 1;"
    assert not (target / "lib@1.0.0/docs").exists() and not (target / "escape.js").exists()
    assert assets.missing(target, [package]) == []
    # installed: nothing fetched again (the registry may be gone)
    (registry / "lib" / "-" / "lib-1.0.0.tgz").unlink()
    assert assets.install(target, registry=registry.as_uri(), quiet=True, packages=[package]) == 0

    tampered = assets.Package("lib", "1.0.1", integrity, ("dist/*",), {})
    (registry / "lib" / "-" / "lib-1.0.1.tgz").write_bytes(data + b"\0")
    with pytest.raises(assets.AssetError, match="校验值"):
        assets.install(target, registry=registry.as_uri(), quiet=True, packages=[tampered])
    assert not (target / "lib@1.0.1").exists()


def test_pages_load_only_local_scripts_and_stylesheets(client: TestClient) -> None:
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, path
        page = r.text
        assert page.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in page
        refs = re.findall(r'<script src="([^"]+)"|<link rel="stylesheet" href="([^"]+)"', page)
        urls = [a or b for a, b in refs]
        assert urls, path
        for url in urls:
            assert url.startswith(("/maps/assets/", "/maps/static/")), (path, url)
            asset = client.get(url)
            assert asset.status_code == 200 and asset.content, url
    assert "<title>抽样选取" in client.get("/maps/draw").text


def test_a_missing_asset_is_explained_in_chinese(settings: Settings, tmp_path: Path) -> None:
    settings.assets_dir = tmp_path / "nothing-here"
    with TestClient(create_app(settings)) as c:
        r = c.get("/maps/")
    assert r.status_code == 503
    assert "地图前端资源未安装" in r.text and "make setup" in r.text
    assert "leaflet@1.9.3" in r.text


def test_unknown_township_page_is_404(client: TestClient) -> None:
    assert client.get("/maps/townships/350524999999").status_code == 404
    assert client.get("/maps/townships/abc").status_code == 422


# --- display layers ---------------------------------------------------------------------------


def test_layers_need_a_login(client: TestClient) -> None:
    for url in ("/api/v1/maps/entities", "/api/v1/maps/plots", "/api/v1/maps/grids",
                "/api/v1/maps/site-points", "/api/v1/tiles/entities/10/845/441.mvt"):
        assert client.get(url).status_code == 401, url


def test_entity_and_plot_layers_hold_every_point_gzipped(
        county: Engine, client: TestClient, admin: dict[str, str]) -> None:
    with county.connect() as conn:
        n_entities, n_key, n_plots = conn.execute(text(
            "SELECT (SELECT count(*) FROM entity), (SELECT count(*) FROM entity "
            "WHERE key_supervision), (SELECT count(*) FROM plot)")).one()
        conn.execute(text("UPDATE entity SET key_supervision = true WHERE id = "
                          "(SELECT min(id) FROM entity)"))
    r = client.get("/api/v1/maps/entities", headers=admin | {"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    entities = r.json()
    assert len(entities["features"]) == n_entities > 4000
    kinds = {f["properties"]["kind"] for f in entities["features"]}
    assert kinds == {"enterprise", "cooperative", "family_farm", "large_grower", "buyer",
                     "smallholder"}
    assert sum(f["properties"]["key_supervision"] for f in entities["features"]) == n_key
    plots = geojson(client, "/api/v1/maps/plots", admin)
    assert len(plots["features"]) == n_plots
    assert all(f["geometry"]["type"] == "Point" for f in plots["features"])
    shapes = geojson(client, f"/api/v1/maps/plots?township={TOWNSHIP}&shapes=true", admin)
    assert {f["geometry"]["type"] for f in shapes["features"]} >= {"Polygon"}
    township = geojson(client, f"/api/v1/maps/entities?township={TOWNSHIP}", admin)
    assert 0 < len(township["features"]) < n_entities


def test_gcj02_output_is_the_forward_transform_of_the_stored_coordinates(
        county: Engine, client: TestClient, admin: dict[str, str]) -> None:
    for url in ("/api/v1/maps/entities", "/api/v1/maps/plots", f"/api/v1/townships/{TOWNSHIP}",
                f"/api/v1/townships/{TOWNSHIP}/grids", "/api/v1/townships"):
        wgs = geojson(client, url, admin)
        sep = "&" if "?" in url else "?"
        gcj = geojson(client, f"{url}{sep}crs=gcj02", admin)
        assert gcj["display_crs"] == "gcj02" and "display_crs" not in wgs
        features, shifted = wgs.get("features", [wgs]), gcj.get("features", [gcj])
        a, b = features[0]["geometry"]["coordinates"], shifted[0]["geometry"]["coordinates"]
        while isinstance(a[0], list):
            a, b = a[0], b[0]
        x, y = wgs84_to_gcj02(a[0], a[1])
        assert b == pytest.approx([x, y], abs=1.5e-6), url
        # several hundred metres in Anxi
        assert abs(b[0] - a[0]) > 0.003 or abs(b[1] - a[1]) > 0.002
    assert client.get("/api/v1/townships?crs=bd09").status_code == 422


def _patrol_every_day(conn: Any, entity_ids: list[int], days: int) -> None:
    conn.execute(text("""
        INSERT INTO patrol (entity_id, inspector, kind, patrolled_at, result)
        SELECT e, '测试巡查员', 'online', timestamptz '2023-05-01 10:00+08' + d * interval '1 day',
               'normal'
        FROM unnest(CAST(:ids AS bigint[])) AS e, generate_series(0, :days - 1) AS d"""),
        {"ids": entity_ids, "days": days})


def test_grid_patrol_progress_adds_up_to_the_township_report(
        county: Engine, client: TestClient, admin: dict[str, str]) -> None:
    with county.begin() as conn:
        grids = conn.execute(text("""
            SELECT e.grid_id, array_agg(e.id ORDER BY e.id) AS ids FROM entity e
            WHERE e.township_code = :t AND e.is_producer GROUP BY e.grid_id
            HAVING count(*) >= 2 ORDER BY e.grid_id LIMIT 2"""), {"t": TOWNSHIP}).all()
        assert len(grids) == 2
        full, half = grids
        _patrol_every_day(conn, list(full.ids), 31)  # all of May, every producer
        _patrol_every_day(conn, list(half.ids)[: len(half.ids) // 2], 31)
    layer = geojson(client, f"/api/v1/maps/grids?township={TOWNSHIP}&month=2023-05", admin)
    by_id = {f["properties"]["id"]: f["properties"] for f in layer["features"]}
    assert by_id[full.grid_id]["daily_coverage_percent"] == 100.0
    assert by_id[full.grid_id]["monthly_patrols"] == 31 * len(full.ids)
    assert by_id[full.grid_id]["monthly_patrols_target"] == 20 * len(full.ids)
    assert by_id[half.grid_id]["daily_coverage_percent"] == pytest.approx(
        100 * (len(half.ids) // 2) / len(half.ids), abs=0.05)
    assert by_id[full.grid_id]["supervisor"]  # the demo staff
    report = client.get("/api/v1/reports/patrols?month=2023-05", headers=admin).json()
    row = next(r for r in report["rows"] if r["township_code"] == TOWNSHIP)
    grids_all = [f["properties"] for f in layer["features"]]
    assert sum(g["producers"] for g in grids_all) == row["producers"]
    covered = sum((g["daily_coverage_percent"] or 0) * g["producers"] for g in grids_all)
    assert covered / row["producers"] == pytest.approx(row["daily_coverage_percent"], abs=0.1)
    assert client.get("/api/v1/maps/grids?month=2099-01", headers=admin).status_code == 422


def test_site_points_carry_their_flags_and_grids_their_completeness(
        county: Engine, client: TestClient, admin: dict[str, str]) -> None:
    with county.connect() as conn:
        ent = conn.execute(text("""
            SELECT e.id, e.grid_id, p.commodity, ST_X(ST_PointOnSurface(p.geom)) AS x,
                   ST_Y(ST_PointOnSurface(p.geom)) AS y
            FROM entity e JOIN plot p ON p.entity_id = e.id
            JOIN commodity c ON c.slug = p.commodity AND c.provenance_key
            ORDER BY e.id, p.id LIMIT 1""")).one()

    def point(accuracy: float | None) -> dict[str, Any]:
        return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [ent.x, ent.y]},
                "properties": {"client_uuid": str(uuid.uuid4()), "entity_id": ent.id,
                               "commodity": ent.commodity, "accuracy_m": accuracy,
                               "collected_at": "2023-03-05T09:30:00"}}
    r = client.post("/api/v1/collections/points", headers=admin,
                    json={"type": "FeatureCollection", "features": [point(5), point(None)]})
    assert r.status_code == 200, r.text
    sites = geojson(client, "/api/v1/maps/site-points?year=2023", admin)["features"]
    assert len(sites) == 2
    assert {tuple(f["properties"]["flags"]) for f in sites} >= {()}
    assert any("accuracy_missing" in f["properties"]["flags"] for f in sites)
    assert all(f["properties"]["grid_id"] == ent.grid_id for f in sites)
    grids = geojson(client, "/api/v1/maps/provenance-grids?year=2023", admin)["features"]
    mine = next(f["properties"] for f in grids if f["properties"]["id"] == ent.grid_id)
    assert mine["collected"] >= 1 and mine["flagged_points"] >= 1
    assert mine["percent_complete"] == round(100 * mine["collected"] / mine["pairs"], 1)
    assert geojson(client, "/api/v1/maps/site-points?year=2022", admin)["features"] == []


# --- vector tiles -----------------------------------------------------------------------------


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def test_vector_tiles_aggregate_at_low_zoom_and_carry_points_at_detail(
        county: Engine, client: TestClient, admin: dict[str, str]) -> None:
    with county.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(location), ST_Y(location) FROM entity "
                                     "ORDER BY id LIMIT 1")).one()
        z = 9
        x, y = _tile_of(lon, lat, z)
        west, south, east, north = tiles.tile_bounds(z, x, y)
        assert west <= lon <= east and south <= lat <= north
        inside = conn.execute(text(
            "SELECT count(*) FROM entity WHERE location && ST_MakeEnvelope(:w, :s, :e, :n, 4326)"),
            {"w": west, "s": south, "e": east, "n": north}).scalar_one()
        cells = tiles.tile_rows(conn, "entities", z, x, y)
        assert inside > 100 and sum(r.count for r in cells) == inside
        assert len(cells) <= (tiles.CELLS_PER_TILE + 1) ** 2
        zd = tiles.DETAIL_ZOOM
        detail = tiles.tile_rows(conn, "entities", zd, *_tile_of(lon, lat, zd))
    assert detail and all(r.count == 1 for r in detail)
    r = client.get(f"/api/v1/tiles/entities/{z}/{x}/{y}.mvt", headers=admin)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.content[:1] == b"\x1a"  # protobuf: Tile.layers, length-delimited
    gcj = client.get(f"/api/v1/tiles/entities/{z}/{x}/{y}.mvt?crs=gcj02", headers=admin)
    assert gcj.status_code == 200 and gcj.content != r.content
    empty = client.get("/api/v1/tiles/plots/9/0/0.mvt", headers=admin)
    assert empty.status_code == 200 and empty.content == b""
    assert client.get("/api/v1/tiles/entities/3/9/0.mvt", headers=admin).status_code == 422
    assert client.get("/api/v1/tiles/people/3/1/1.mvt", headers=admin).status_code == 422


# --- static HTML --------------------------------------------------------------------------------


def _cli(db_url: str, settings: Settings, *args: str) -> tuple[int, str]:
    env = {"GEOREG_DATABASE_URL": db_url, "GEOREG_PII_KEY": settings.pii_key or "",
           "GEOREG_STATE_DIR": str(settings.state_dir)}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def test_static_html_is_self_contained(county: Engine, db_url: str, settings: Settings,
                                       client: TestClient, admin: dict[str, str],
                                       tmp_path: Path) -> None:
    plan = client.post("/api/v1/sampling/plans", headers=admin, json={
        "area": {"townships": [TOWNSHIP]}, "commodities": ["tea"], "n": 5,
        "test_kind": "rapid_colloidal_gold", "replacements": 2, "seed": 1})
    assert plan.status_code == 201, plan.text
    plan_id = plan.json()["id"]
    for args, must in ((["county"], "安溪"), (["township", TOWNSHIP], "网格"),
                       (["provenance", "--year", "2023"], "产地"),
                       (["plan", str(plan_id)], plan.json()["targets"][0]["entity_name"])):
        out = tmp_path / f"{args[0]}.html"
        code, output = _cli(db_url, settings, "map", *args, "-o", str(out))
        assert code == 0, output
        page = out.read_text(encoding="utf-8")
        assert '<html lang="zh-CN">' in page and must in page
        assert not re.search(r'<script src=|<link rel="stylesheet"', page), args
        assert "L.version" in page or "Leaflet" in page  # Leaflet itself, inline
        assert '"mode":"static"' in page
    code, output = _cli(db_url, settings, "map", "plan", "999999", "-o", str(tmp_path / "x.html"))
    assert code != 0


def test_layers_are_compact_json(county: Engine, client: TestClient,
                                 admin: dict[str, str]) -> None:
    r = client.get("/api/v1/maps/entities", headers=admin | {"Accept-Encoding": "gzip"})
    raw = r.content  # httpx has un-gzipped it
    # Chinese names as UTF-8, no padding: a county fits in a few MB
    assert b"\\u" not in raw and b", " not in raw[:2000]
    assert json.loads(raw)["type"] == "FeatureCollection"


def test_base_maps_tianditu_needs_a_key_and_all_can_be_turned_off(settings: Settings) -> None:
    from maps import pages

    settings.map_tiles = True
    plain = pages.draw_page(settings).render()
    assert "tile.openstreetmap.org" in plain and "is.autonavi.com" in plain
    assert "tianditu.gov.cn" not in plain
    settings.tianditu_key = "k-test-123"
    keyed = pages.draw_page(settings).render()
    assert "tianditu.gov.cn" in keyed and "tk=k-test-123" in keyed and "天地图" in keyed
    settings.map_tiles = False
    off = pages.draw_page(settings).render()
    assert "tianditu.gov.cn" not in off and "tile.openstreetmap.org" not in off
    # GCJ-02 base maps only on served pages: a static page would need every layer twice
    assert "is.autonavi.com" not in pages.county_page(settings.model_copy(
        update={"map_tiles": True}), data={}).render()
