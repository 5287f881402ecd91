"""Registry reads by id and the upload stream, with row security and the audit trail on and off.

The issue's target: registry reads by id on ONE server worker at >= 500 requests/s with a p99
under 100 ms, and the cost of row-level security and the audit trail together at most 10 % of
throughput. Both are toggled in the same run, as the owner, in this bench only:
`ALTER TABLE … DISABLE ROW LEVEL SECURITY` on every table that has it, and `DISABLE TRIGGER`
on the audit triggers (those whose function is named audit_*). The server keeps running
between variants; its plans are invalidated by the ALTERs.

The client: CONNECTIONS keep-alive HTTP/1.1 connections (http.client, one thread each; lighter
than httpx, so that the client on the second core is never what limits the figure), each
request a random producer of the signed-in account's township, read in full. A warm-up second
is not counted.
"""

from __future__ import annotations

import http.client
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, text

from bench.report import Recorder, Row, print_table
from georeg.config import Settings

CONNECTIONS = 8
SECONDS = 8.0
WARMUP = 1.0
READ_TARGET = 500.0
P99_TARGET_MS = 100.0
COST_TARGET = 0.10
TOWNSHIP, ACCOUNT = "350524113000", "cnx05"  # 参内镇 and its township account
TITLE = "按编号读取主体与点位上传：行安全与审计开/关（安溪示范县）"
VARIANTS = (("行安全 + 审计", True, True), ("仅行安全", True, False), ("仅审计", False, True),
            ("都关闭", False, False))


@dataclass
class ReadFigures:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def toggle(engine: Engine, *, row_security: bool | None, audit: bool | None) -> None:
    """Turn row security and the audit trail's recording triggers (audit_row, audit_statement:
    not the guards that keep it append-only) on or off on every table that has them; None
    leaves that one as it is."""
    with engine.begin() as conn:
        if row_security is not None:
            verb = "ENABLE" if row_security else "DISABLE"
            for table in conn.execute(text(
                    "SELECT c.oid::regclass::text FROM pg_class c "
                    "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' "
                    "AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)")).scalars():
                conn.execute(text(f"ALTER TABLE {table} {verb} ROW LEVEL SECURITY"))
        if audit is not None:
            verb = "ENABLE" if audit else "DISABLE"
            for table, name in conn.execute(text(
                    "SELECT t.tgrelid::regclass::text, quote_ident(t.tgname) FROM pg_trigger t "
                    "JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal "
                    "AND p.proname IN ('audit_row', 'audit_statement')")).all():
                conn.execute(text(f"ALTER TABLE {table} {verb} TRIGGER {name}"))


def read_by_id(host: str, port: int, token: str, ids: list[int], *,
               connections: int = CONNECTIONS, seconds: float = SECONDS) -> ReadFigures:
    """GET /api/v1/producers/{id} from `connections` keep-alive clients for `seconds`."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    start_at = time.perf_counter() + 0.2
    count_from = start_at + WARMUP
    stop_at = count_from + seconds
    headers = {"Authorization": f"Bearer {token}"}

    def client(slot: int) -> None:
        rng = random.Random(slot)
        conn = http.client.HTTPConnection(host, port, timeout=30)
        mine = latencies[slot]
        while time.perf_counter() < start_at:
            time.sleep(0.01)
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            conn.request("GET", f"/api/v1/producers/{rng.choice(ids)}", headers=headers)
            response = conn.getresponse()
            response.read()
            t1 = time.perf_counter()
            if t0 >= count_from:
                mine.append(t1 - t0)
                if response.status != 200:
                    errors[slot] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = sorted(x for slot in latencies for x in slot)
    if not every:
        return ReadFigures(0, seconds, 0.0, 0.0, sum(errors))
    return ReadFigures(len(every), seconds, every[len(every) // 2] * 1000,
                       every[min(len(every) - 1, int(len(every) * 0.99))] * 1000, sum(errors))


def producer_ids(engine: Engine, township_code: str, n: int = 2000) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT id FROM entity WHERE township_code = :t AND kind <> 'smallholder' "
            "ORDER BY id LIMIT :n"), {"t": township_code, "n": n}).scalars())


def run(engine: Engine, *, host: str, port: int, token: str, township_code: str,
        upload: Callable[[], Row] | None = None) -> tuple[list[Row], list[str]]:
    """Each variant twice, in the order ABCD DCBA (the tables grow and caches warm as the run
    goes on: a fixed order would favour the variants that come last); per variant the better
    of its two rounds, of reads by id and (given `upload`) of one upload stream."""
    ids = producer_ids(engine, township_code)
    reads: dict[str, list[ReadFigures]] = {label: [] for label, _, _ in VARIANTS}
    uploads: dict[str, list[Row]] = {label: [] for label, _, _ in VARIANTS}
    try:
        for label, rls, audit in (*VARIANTS, *reversed(VARIANTS)):
            toggle(engine, row_security=rls, audit=audit)
            reads[label].append(read_by_id(host, port, token, ids))
            if upload is not None:
                uploads[label].append(upload())
    finally:
        toggle(engine, row_security=True, audit=True)
    rows: list[Row] = []
    lines: list[str] = []
    best_read = {k: max(v, key=lambda f: f.rate) for k, v in reads.items()}
    best_upload = {k: max(v, key=lambda r: r.rate or 0) for k, v in uploads.items() if v}
    for label, _, _ in VARIANTS:
        f = best_read[label]
        rows.append(Row(f"按编号读取主体（1 个进程，{CONNECTIONS} 路连接）：{label}",
                        f.seconds, f.requests))
        lines.append(f"{label}：{f.rate:,.0f} 次/秒，p50 {f.p50_ms:.1f} ms，"
                     f"p99 {f.p99_ms:.1f} ms，非 200 的回答 {f.errors}")
        if label in best_upload:
            up = best_upload[label]
            rows.append(Row(f"点位上传（1 路，{up.rows or 0:,} 点）：{label}", up.seconds, up.rows))
    on, off = best_read[VARIANTS[0][0]], best_read[VARIANTS[-1][0]]
    met = on.rate >= READ_TARGET and on.p99_ms < P99_TARGET_MS
    lines.append(f"目标：≥ {READ_TARGET:.0f} 次/秒且 p99 < {P99_TARGET_MS:.0f} ms"
                 f"（行安全与审计开启）：{'达标' if met else '未达标'}")
    cost = 1 - on.rate / off.rate if off.rate else 0.0
    lines.append(f"行安全 + 审计的代价（读取）：{cost:.1%}（目标 ≤ {COST_TARGET:.0%}）")
    if best_upload:
        up_on = best_upload[VARIANTS[0][0]].rate or 0
        up_off = best_upload[VARIANTS[-1][0]].rate or 1
        lines.append(f"行安全 + 审计的代价（上传）：{1 - up_on / up_off:.1%}"
                     f"（目标 ≤ {COST_TARGET:.0%}）")
    lines.append("（每种组合按 ABCD DCBA 顺序各测两轮，取较好的一轮）")
    return rows, lines


def county(settings: Settings, setup: Recorder) -> tuple[list[Row], list[str]]:
    """The Anxi demo county in a database of its own, served by one worker; rows and lines."""
    from bench.__main__ import fresh_database, load_reference
    from bench.collection import bench_env, serve, upload_once
    from georeg.database import make_engine, migrate
    from georeg.pii import PiiCipher, generate_key_text
    from importers import demo

    url = fresh_database(settings, setup, "georeg_bench_security")
    engine = make_engine(url, pool_size=1, interactive=False)
    with setup("按编号读取：迁移并载入参考数据与县级示范数据"):
        migrate(engine)
        load_reference(engine, settings)
        key = generate_key_text()
        demo.generate(engine, seed=2023, cipher=PiiCipher.from_key_text(key))
    env = bench_env(url, str(settings.state_dir)) | {
        "GEOREG_PII_KEY": key}
    township = os.environ.get("GEOREG_BENCH_TOWNSHIP", TOWNSHIP)
    try:
        with serve(env, workers=1) as (port, login):
            token = login(os.environ.get("GEOREG_BENCH_ACCOUNT", ACCOUNT))
            return run(engine, host="127.0.0.1", port=port, token=token,
                       township_code=township,
                       upload=lambda: upload_once(engine, port, token, township, n=20_000))
    finally:
        engine.dispose()


def main() -> int:
    """`python -m bench.security`: this part of `make bench` alone."""
    rows, lines = county(Settings(), Recorder())
    print_table(TITLE, rows)
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
