"""`make fuzz`: schemathesis against the API on loopback, signed in as admin and as a township.

A throwaway PostgreSQL cluster (as tests/conftest.py starts) with the schema, the Anxi reference
data and the county demo data, so generated ids sometimes hit real rows; the server is
`uvicorn api.app:create_app` on a free loopback port. Each account gets `--max-examples` cases
per operation within `--max-time` seconds; the run prints the requests made and the server
errors (5xx) found, and exits 1 if there was any. Not part of `make test`: it takes minutes.

    .venv/bin/python -m tests.fuzz [--max-examples 60] [--max-time 600] [--seed 13]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from georeg.cluster import Cluster, throwaway_cluster
from georeg.config import API_ROLE
from georeg.database import make_engine, migrate
from georeg.pii import PiiCipher, generate_key_text

PASSWORD = "fuzz-" + secrets.token_hex(8)
ACCOUNTS = ("admin", "cnx05")  # the administrator and one township account (参内镇)
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load(cluster: Cluster, name: str, key_text: str) -> str:
    from importers import anxi, demo
    from importers.demo.accounts import create_demo_accounts

    cluster.create_database(name)
    cluster.ensure_login_role(API_ROLE)  # the server connects as it: row security is fuzzed too
    url = cluster.url(name)
    engine = make_engine(url, pool_size=1, interactive=False)
    migrate(engine)
    with engine.begin() as conn:
        anxi.load(conn, seed=1)
        create_demo_accounts(conn, PASSWORD)
    demo.generate(engine, seed=2023, cipher=PiiCipher.from_key_text(key_text))
    engine.dispose()
    return url


def _token(base: str, username: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/token",
                   data={"username": username, "password": PASSWORD}, timeout=30)
    r.raise_for_status()
    return r.json()["access_token"]


def _run(base: str, token: str, report: Path, args: argparse.Namespace) -> dict[str, int]:
    """One schemathesis run; returns requests made and server errors from its NDJSON events."""
    cmd = [str(BIN / "schemathesis"), "run", f"{base}/openapi.json",
           "--checks", "not_a_server_error", "--max-examples", str(args.max_examples),
           "--max-time", str(args.max_time), "--seed", str(args.seed), "--workers", "2",
           "--phases", "examples,coverage,fuzzing", "--request-timeout", "60",
           "--suppress-health-check", "all", "--no-shrink", "--continue-on-failure",
           "--header", f"Authorization: Bearer {token}",
           "--report", "ndjson", "--report-ndjson-path", str(report)]
    subprocess.run(cmd, check=False)
    requests = server_errors = 0
    failing: Counter[str] = Counter()
    with report.open() as f:
        for line in f:
            for interaction in _interactions(json.loads(line)):
                requests += 1
                status = (interaction.get("response") or {}).get("status_code")
                if status is None or int(status) >= 500:
                    server_errors += 1
                    request = interaction["request"]
                    failing[f"{status} {request['method']} {request['uri'].split('?')[0]}"] += 1
    for what, n in failing.most_common(30):
        print(f"  {n:5d}  {what}")
    return {"requests": requests, "server_errors": server_errors}


def _interactions(event: object) -> list[dict]:
    """Every recorded request/response pair in one NDJSON event, wherever it nests."""
    found: list[dict] = []
    stack = [event]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "request" in node and "response" in node and "timestamp" in node:
                found.append(node)
                continue
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=60)
    parser.add_argument("--max-time", type=int, default=600, help="seconds per account")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--report-dir", type=Path, default=None,
                        help="keep schemathesis' NDJSON events here (to see what failed)")
    args = parser.parse_args()

    with throwaway_cluster("fuzz") as cluster:
        return _fuzz(cluster, cluster.root.parent, args)


def _fuzz(cluster: Cluster, root: Path, args: argparse.Namespace) -> int:
    server = None
    try:
        key_text = generate_key_text()
        print("载入模式、安溪参考数据与演示数据……", flush=True)
        url = _load(cluster, "georeg_fuzz", key_text)
        port = _free_port()
        env = {**os.environ, "GEOREG_DATABASE_URL": url, "GEOREG_PII_KEY": key_text,
               "GEOREG_MAP_TILES": "false",
               "GEOREG_STATE_DIR": str(root / "state")}
        server = subprocess.Popen(
            [str(BIN / "uvicorn"), "--factory", "api.app:create_app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"], env=env)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{base}/api/v1/health", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        totals = {"requests": 0, "server_errors": 0}
        for username in ACCOUNTS:
            print(f"== {username} ==", flush=True)
            report = (args.report_dir or root) / f"{username}.ndjson"
            report.parent.mkdir(parents=True, exist_ok=True)
            result = _run(base, _token(base, username), report, args)
            print(f"{username}: {result['requests']} 个请求，"
                  f"{result['server_errors']} 个服务器错误", flush=True)
            for k in totals:
                totals[k] += result[k]
        print(f"合计：{totals['requests']} 个请求，{totals['server_errors']} 个服务器错误（5xx）")
        return 1 if totals["server_errors"] else 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    sys.exit(main())
