"""Provenance collection: 200,000 points through the API batch endpoint vs a bare COPY.

The API path includes JSON parsing, validation, conversion, flags, township and grid
assignment, served by uvicorn on loopback. The client encodes its requests before the clock
starts (a phone has its batch ready; encoding 200,000 features took a twentieth of the client
and server's shared CPU) and reads every answer in full. The bare COPY writes the same rows,
already resolved, into a copy of the site_point table with the same indexes, in the same run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import Engine, text

from bench.report import Row

BATCH = 5000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _features(engine: Engine, n: int, seed: int, *, township_code: str = "350524",
              uuid_salt: int = 0) -> tuple[list[list[dict]], list[int]]:
    """n points near the entities' own sites (of the county, or of one township), in batches;
    the entity ids used. A different `uuid_salt` gives new client_uuids for the same points."""
    with engine.connect() as conn:
        sites = conn.execute(text(
            "SELECT id, ST_X(location), ST_Y(location) FROM entity "
            "WHERE township_code LIKE :t || '%' ORDER BY id"), {"t": township_code}).all()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(sites), n)
    jitter = rng.normal(0, 0.0003, (n, 2))
    accuracy = rng.choice([3.0, 5.0, 8.0, 12.0, 40.0], n)
    feats = []
    for i in range(n):
        eid, x, y = sites[pick[i]]
        feats.append({"type": "Feature",
                      "geometry": {"type": "Point",
                                   "coordinates": [x + jitter[i, 0], y + jitter[i, 1]]},
                      "properties": {"client_uuid": str(uuid.UUID(
                          int=((seed << 64) + (uuid_salt % (1 << 60) << 20) + i) % (1 << 128))),
                                     "entity_id": eid,
                                     "collected_at": f"2023-0{1 + i % 9}-1{i % 10}T09:30:00",
                                     "accuracy_m": float(accuracy[i])}})
    return [feats[i:i + BATCH] for i in range(0, n, BATCH)], [s[0] for s in sites]


def _serve(env: dict[str, str], port: int, workers: int | None = None) -> subprocess.Popen[bytes]:
    georeg = Path(sys.executable).with_name("georeg")
    # a process per core by default, as the server would be deployed on the 2-core machine
    proc = subprocess.Popen([str(georeg), "serve", "--port", str(port), "--workers",
                             str(workers or os.cpu_count() or 1)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("API 服务未能启动")


@contextmanager
def serve(env: dict[str, str], *, workers: int | None = None
          ) -> Iterator[tuple[int, Callable[[str], str]]]:
    """`georeg serve` on a free loopback port: (port, a login function giving a bearer token)."""
    port = _free_port()
    proc = _serve(env | {"GEOREG_PORT": str(port)}, port, workers)

    def login(username: str) -> str:
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/token", data={
            "username": username, "password": env.get("GEOREG_DEMO_PASSWORD", "georeg-demo")})
        r.raise_for_status()
        return r.json()["access_token"]

    try:
        yield port, login
    finally:
        proc.terminate()
        proc.wait(10)


def upload_once(engine: Engine, port: int, token: str, township_code: str, *, n: int,
                seed: int = 11) -> Row:
    """n new points of the township's entities, one stream of BATCH-sized requests; a Row."""
    batches, _ = _features(engine, n, seed, township_code=township_code,
                           uuid_salt=time.time_ns())
    bodies = [json.dumps({"type": "FeatureCollection", "features": b}).encode() for b in batches]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/geo+json"}
    stored = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        started = time.perf_counter()
        for body in bodies:
            r = client.post("/api/v1/collections/points", headers=headers, content=body)
            r.raise_for_status()
            summary = r.json()["summary"]
            stored += summary.get("accepted", 0) + summary.get("accepted_with_flags", 0)
        seconds = time.perf_counter() - started
    assert stored == n, f"只存入 {stored} / {n} 个点位"
    return Row("点位上传", seconds, stored)


def run(engine: Engine, env: dict[str, str], *, n: int = 200_000, seed: int = 7) -> list[Row]:
    batches, _ = _features(engine, n, seed)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM site_point_conflict; DELETE FROM site_point_rejection;"
                          " DELETE FROM site_point"))
    port = _free_port()
    proc = _serve(env | {"GEOREG_PORT": str(port)}, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            token = client.post("/api/v1/auth/token", data={
                "username": "admin", "password": env.get("GEOREG_DEMO_PASSWORD", "georeg-demo")
            }).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}",
                       "Content-Type": "application/geo+json"}
            statuses: dict[str, int] = {}
            bodies = [json.dumps({"type": "FeatureCollection", "features": b}).encode()
                      for b in batches]

            def send(body: bytes) -> dict[str, int]:
                r = client.post("/api/v1/collections/points", headers=headers, content=body)
                r.raise_for_status()
                return r.json()["summary"]

            timings = []
            # One phone at a time, then two uploading at once (the server has 2 cores).
            half = len(batches) // 2
            for streams, part, sent in ((1, bodies[:half], batches[:half]),
                                        (2, bodies[half:], batches[half:])):
                started = time.perf_counter()
                with ThreadPoolExecutor(streams) as pool:
                    for summary in pool.map(send, part):
                        for k, v in summary.items():
                            statuses[k] = statuses.get(k, 0) + v
                timings.append((streams, time.perf_counter() - started,
                                sum(len(b) for b in sent)))
    finally:
        proc.terminate()
        proc.wait(10)
    copy_seconds = _bare_copy(engine)
    stored = statuses.get("accepted", 0) + statuses.get("accepted_with_flags", 0)
    assert stored == n, f"只存入 {stored} / {n} 个点位"
    rows = [Row(f"API 批量上传，{streams} 路并发（{BATCH}/批，含校验、标记、网格归属）",
                seconds, count) for streams, seconds, count in timings]
    return [*rows, Row("同样的行：裸 COPY 进同样带索引的表", copy_seconds, stored)]


def _bare_copy(engine: Engine) -> float:
    """COPY the stored rows (binary, EWKB) into a table like site_point: the floor to beat."""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_copy; "
                          "CREATE TABLE bench_copy (LIKE site_point INCLUDING ALL)"))
        cols = ("client_uuid, content_hash, entity_id, commodity, geom, input_crs, input_x, "
                "input_y, collected_at, accuracy_m, collector_id, flags, source, township_code")
        rows = conn.execute(text(f"SELECT {cols.replace('geom', 'ST_AsEWKB(geom)')} "
                                 "FROM site_point ORDER BY id")).all()
    raw = engine.raw_connection()
    try:
        started = time.perf_counter()
        with raw.driver_connection.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                f"COPY bench_copy ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "bytea", "int8", "text", "bytea", "text", "float8", "float8",
                            "timestamptz", "float4", "int8", "text[]", "text", "bpchar"])
            for r in rows:
                copy.write_row(r)
        raw.commit()
        seconds = time.perf_counter() - started
    finally:
        raw.close()
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_copy"))
    return seconds


def bench_env(url: str, state_dir: str) -> dict[str, str]:
    return dict(os.environ, GEOREG_DATABASE_URL=url, GEOREG_STATE_DIR=state_dir)
