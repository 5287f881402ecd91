"""Map pages: the county page with 20,000 plots and 10,000 entities in headless Chromium.

On a database of its own: the Anxi demo county (about 4,700 entities and 19,600 plots), topped
up with smallholders and point plots inside the townships to the target counts. The app runs
as `georeg serve` (base maps off: no internet here, and tiles are not ours to time); Debian's
Chromium opens /maps/ with a cold cache, as a user who has just logged in. Figures:

- page weight: every response of the page (HTML, scripts, styles, the GeoJSON layers), as
  transferred (gzip) and decoded; target < 5 MB;
- time to open: navigation start until the page reports its layers drawn (`data-ready`,
  set once every layer is loaded, indexed for clustering and drawn); target < 3 s; median of
  three cold loads;
- the plots layer (hidden by default on the county page, loaded with it) switched on;
- vector tiles (ST_AsMVT) over the same registry, and, given a province-scale registry
  (`tiles(engine)` on georeg_bench), the same tiles over a million entities.

`python -m bench.maps` runs it alone; `run()` returns the rows for bench/__main__.py.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from bench.report import Row
from georeg.maplayers import tiles as mvt
from georeg.pii import PiiCipher, generate_key_text
from importers import demo

ENTITIES = 10_000
PLOTS = 20_000
TARGET_BYTES = 5_000_000
TARGET_SECONDS = 3.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOADS = 3
TILE_ZOOMS = (8, 10, 12, 14)


@dataclass
class PageFigures:
    transferred: int = 0
    decoded: int = 0
    requests: int = 0
    seconds: list[float] = field(default_factory=list)
    plots_seconds: float = 0.0
    plots_transferred: int = 0
    plots_decoded: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def top_up(engine: Engine, *, entities: int, plots: int, seed: int = 7) -> tuple[int, int]:
    """Add smallholders (inside the townships, in proportion to their area) and point plots at
    existing entities' sites until the registry holds `entities` and `plots`."""
    with engine.begin() as conn:
        have_e, have_p = conn.execute(text(
            "SELECT (SELECT count(*) FROM entity), (SELECT count(*) FROM plot)")).one()
        if entities > have_e:
            conn.execute(text("""
                WITH share AS (
                    SELECT code, boundary, ST_Area(boundary) / sum(ST_Area(boundary)) OVER ()
                           AS part FROM township WHERE county_code = '350524'),
                pts AS (
                    SELECT s.code, (ST_Dump(ST_GeneratePoints(
                               s.boundary, greatest(1, round(:n * s.part)::int), :seed))).geom AS g
                    FROM share s)
                INSERT INTO entity (kind, name, township_code, location, origin)
                SELECT 'smallholder', '基准测试农户' || row_number() OVER (), code, g, 'demo'
                FROM pts LIMIT :n"""), {"n": entities - have_e, "seed": seed})
        if plots > have_p:
            conn.execute(text("""
                INSERT INTO plot (entity_id, commodity, geom, area_mu)
                SELECT e.id, 'tea', e.location, 1.5
                FROM (SELECT id, location FROM entity ORDER BY md5(id::text || :seed) LIMIT :n) e
                """), {"n": plots - have_p, "seed": str(seed)})
        conn.execute(text("ANALYZE entity, plot"))
        return conn.execute(text(
            "SELECT (SELECT count(*) FROM entity), (SELECT count(*) FROM plot)")).one()


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    georeg = Path(sys.executable).with_name("georeg")
    proc = subprocess.Popen([str(georeg), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("API 服务未能启动")


def _token(base: str, password: str) -> str:
    form = urllib.parse.urlencode({"username": "admin", "password": password}).encode()
    with urllib.request.urlopen(base + "/api/v1/auth/token", data=form) as r:
        return str(json.load(r)["access_token"])


def _weigh(requests: list[Any]) -> tuple[int, int]:
    """Bytes as transferred (headers + gzip body) and as decoded, over finished requests."""
    transferred = decoded = 0
    for request in requests:
        sizes = request.sizes()
        transferred += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        response = request.response()
        decoded += len(response.body()) if response else 0
    return transferred, decoded


def open_page(base: str, token: str, path: str = "/maps/", loads: int = LOADS,
              plots: bool = True) -> PageFigures:
    """Cold loads of a page in headless Chromium: weight and time until its layers are drawn."""
    from playwright.sync_api import sync_playwright

    figures = PageFigures()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for i in range(loads):
                context = browser.new_context(viewport={"width": 1400, "height": 900},
                                              locale="zh-CN")
                context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base)
                              else r.abort())
                context.add_init_script(
                    f"sessionStorage.setItem('georeg.token', {json.dumps(token)})")
                page = context.new_page()
                responses: list[Any] = []
                page.on("requestfinished", lambda r, into=responses: into.append(r))
                page.goto(base + path, wait_until="commit")
                page.wait_for_function("document.body && document.body.dataset.ready === '1'",
                                       timeout=120_000)
                # from navigation start (the page's time origin) to its layers drawn
                figures.seconds.append(page.evaluate("georeg.readyAt") / 1000)
                if i == 0:
                    figures.transferred, figures.decoded = _weigh(responses)
                    figures.requests = len(responses)
                    responses.clear()
                if i == 0 and plots:
                    started = time.perf_counter()
                    page.get_by_text("地块", exact=True).click()
                    page.wait_for_function("georeg.map.hasLayer(georeg.layers.plots) && "
                                           "!document.body.dataset.loading", timeout=120_000)
                    figures.plots_seconds = time.perf_counter() - started
                    figures.plots_transferred, figures.plots_decoded = _weigh(responses)
                context.close()
        finally:
            browser.close()
    return figures


def tiles(engine: Engine) -> list[str]:
    """One vector tile over an Anxi entity at a few zooms: milliseconds (warm) and bytes."""
    import math

    out = []
    with engine.connect() as conn:
        center = conn.execute(text(
            "SELECT ST_X(location), ST_Y(location) FROM entity WHERE township_code = "
            "'350524100000' ORDER BY id LIMIT 1")).one()
        conn.execute(text("SET max_parallel_workers_per_gather = 0"))
        for z in TILE_ZOOMS:
            n = 2 ** z
            x = int((center[0] + 180) / 360 * n)
            y = int((1 - math.asinh(math.tan(math.radians(center[1]))) / math.pi) / 2 * n)
            mvt.tile(conn, "entities", z, x, y)  # warm the cache once
            started = time.perf_counter()
            body = mvt.tile(conn, "entities", z, x, y)
            ms = (time.perf_counter() - started) * 1000
            how = "聚合" if z < mvt.DETAIL_ZOOM else "逐点"
            out.append(f"z{z}（{how}）{ms:.0f} 毫秒 {len(body):,} 字节")
    return out


def run(engine: Engine, env: dict[str, str], *, entities: int = ENTITIES, plots: int = PLOTS,
        cipher: PiiCipher | None = None) -> tuple[list[Row], list[str]]:
    """Seed the county, open its page; rows for print_table and lines that judge the targets.

    `engine` is a freshly migrated database with the Anxi reference data loaded; `env` serves
    the app on it (GEOREG_DATABASE_URL, keys)."""
    rows = []
    started = time.perf_counter()
    demo.generate(engine, seed=2023, cipher=cipher or PiiCipher.from_key_text(
        generate_key_text()))
    n_entities, n_plots = top_up(engine, entities=entities, plots=plots)
    rows.append(Row(f"准备：演示县数据补足到 {n_entities:,} 个主体、{n_plots:,} 个地块",
                    time.perf_counter() - started, n_entities + n_plots))
    port = _free_port()
    proc = _serve(env | {"GEOREG_MAP_TILES": "false", "GEOREG_PORT": str(port)}, port)
    try:
        base = f"http://127.0.0.1:{port}"
        figures = open_page(base, _token(base, env.get("GEOREG_DEMO_PASSWORD", "georeg-demo")))
    finally:
        proc.terminate()
        proc.wait(10)
    rows.append(Row(f"县域总览页：打开至图层绘制完成（冷启动 {LOADS} 次的中位数）", figures.median))
    rows.append(Row("  再打开地块图层（默认隐藏，点击时才下载并聚合绘制）", figures.plots_seconds))
    each = "、".join(f"{s:.2f}" for s in figures.seconds)
    weight = max(figures.transferred, figures.decoded)
    total = (figures.transferred + figures.plots_transferred,
             figures.decoded + figures.plots_decoded)
    lines = [
        f"县域总览页：{figures.requests} 个请求，传输 {figures.transferred / 1e6:.2f} MB"
        f"（gzip），解压后 {figures.decoded / 1e6:.2f} MB；目标 < 5 MB："
        f"{'达标' if weight < TARGET_BYTES else '未达标'}",
        f"  加上地块图层（{n_plots:,} 个）：传输 {total[0] / 1e6:.2f} MB，解压后 "
        f"{total[1] / 1e6:.2f} MB",
        f"县域总览页：打开用时 {figures.median:.2f} 秒（各次 {each}）；目标 < 3 秒："
        f"{'达标' if figures.median < TARGET_SECONDS else '未达标'}",
        f"矢量瓦片（主体，县域数据）：{'；'.join(tiles(engine))}",
    ]
    return rows, lines


def province(engine: Engine, env: dict[str, str]) -> list[str]:
    """On a province-scale registry (bench/__main__.py's georeg_bench, a million entities):
    the overview page switches to vector tiles; its weight and time, and the tiles' times."""
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM entity")).scalar_one()
    port = _free_port()
    proc = _serve(env | {"GEOREG_MAP_TILES": "false", "GEOREG_PORT": str(port)}, port)
    try:
        base = f"http://127.0.0.1:{port}"
        figures = open_page(base, _token(base, env.get("GEOREG_DEMO_PASSWORD", "georeg-demo")),
                            plots=False)
    finally:
        proc.terminate()
        proc.wait(10)
    return [f"全省规模（{n:,} 个主体）总览页（矢量瓦片）：打开 {figures.median:.2f} 秒，"
            f"传输 {figures.transferred / 1e6:.2f} MB，解压后 {figures.decoded / 1e6:.2f} MB",
            f"矢量瓦片（主体，全省数据）：{'；'.join(tiles(engine))}"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    from bench.__main__ import fresh_database, load_reference
    from bench.collection import bench_env
    from bench.report import Recorder, print_table
    from georeg.config import Settings
    from georeg.database import make_engine, migrate

    settings = Settings()
    setup = Recorder()
    url = fresh_database(settings, setup, "georeg_bench_maps")
    engine = make_engine(url, pool_size=1, interactive=False)
    migrate(engine)
    load_reference(engine, settings)
    key = generate_key_text()
    env = bench_env(url, str(settings.state_dir)) | {
        "GEOREG_PII_KEY": key}
    rows, lines = run(engine, env, cipher=PiiCipher.from_key_text(key))
    engine.dispose()
    big = int(os.environ.get("GEOREG_BENCH_MAPS_PROVINCE", 0))
    if big:  # on its own (`make bench` already has one: bench/__main__.py may call province())
        url = fresh_database(settings, setup, "georeg_bench_maps_province")
        engine = make_engine(url, pool_size=1, interactive=False)
        migrate(engine)
        load_reference(engine, settings)
        demo.generate(engine, seed=2023, scale="province", province_entities=big,
                      cipher=PiiCipher.from_key_text(key))
        lines += province(engine, bench_env(url, str(settings.state_dir)) | {
            "GEOREG_PII_KEY": key})
        engine.dispose()
    print_table(f"地图页面：县域总览（{ENTITIES:,} 个主体、{PLOTS:,} 个地块，无头 Chromium）", rows)
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

