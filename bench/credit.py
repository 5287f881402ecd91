"""Credit records at province scale: 10 events per entity by binary COPY, then timed lookups.

On the registry that `python -m bench` has just loaded (a million entities): about
10,000,000 credit_event rows (a mix of kinds and outcomes over 2020-2023, with a few voided
events), then the median of `samples` random lookups of each kind through the public
functions of georeg.credit, the same code path as the API: by USCC, by resident ID (through
the keyed hash), by part of a Chinese name, and a grade as of a day. After the load, the
credit standings (sql/012) are refreshed as of TODAY.
GEOREG_BENCH_EVENTS_PER_ENTITY (default 10) lowers the event count for a quick run.
"""

from __future__ import annotations

import os
import statistics
import struct
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from bench.report import Row
from georeg.credit import grade_as_of, refresh_standings, search, search_personal
from georeg.database import transaction
from georeg.ids import resident_id_check_char
from georeg.pii import PiiCipher, mask_resident_id

BENCH_DB = "georeg_bench"
SEED = 5
FIRST_DAY = date(2020, 1, 1)
LAST_DAY = date(2023, 12, 31)
# Lookups run as of the end of the generated record, so that grades read real events
# (the API passes georeg_today(); a later day would leave every event outside the window).
TODAY = LAST_DAY
VOID_SHARE = 0.002  # events voided afterwards by a correction
CHUNK = 200_000  # events built and sent at a time
MARKER = "信用基准测试"  # address of the smallholders added with known resident IDs

ISSUERS = {"licence": "安溪县市场监督管理局", "penalty": "安溪县市场监督管理局",
           "patrol": "安溪县农业农村局", "sampling": "泉州市农产品质量安全检测中心",
           "special_inspection": "安溪县农业农村局", "reward": "安溪县人民政府"}
# (kind, outcome, share of events, summary)
MIX: tuple[tuple[str, str | None, float, str], ...] = (
    ("patrol", "normal", 0.40, "日常巡查，未发现问题"),
    ("patrol", "problem", 0.05, "日常巡查发现农药存放不规范，已责令整改"),
    ("sampling", "pass", 0.24, "监督抽查茶叶样品，农残检测合格"),
    ("sampling", "fail", 0.01, "监督抽查茶叶样品，农残超标"),
    ("licence", None, 0.10, "取得食用农产品承诺达标合格证"),
    ("special_inspection", "normal", 0.085, "茶园农药使用专项检查，未发现问题"),
    ("special_inspection", "problem", 0.015, "茶园农药使用专项检查发现问题"),
    ("penalty", "minor", 0.04, "使用禁用农药，警告并罚款"),
    ("penalty", "major", 0.01, "销售农残超标茶叶，没收违法所得并罚款"),
    ("reward", None, 0.05, "评为县级农产品质量安全示范户"),
)
VOID_REASON = "录入错误，重复登记"
COLUMNS = ("id", "entity_id", "kind", "occurred_on", "issuing_unit", "summary", "outcome",
           "action", "corrects", "reason", "root_id", "recorded_by")

_EPOCH = np.datetime64("2000-01-01", "D")  # PostgreSQL's binary dates count days from here
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)


def _binary_rows(n: int, values: list[Any]) -> bytes:
    """n rows in COPY binary format, built by numpy rather than a Python loop per row.

    Each value is an int64 array (bigint), a datetime64[D] array (date), bytes (the same text
    in every row) or None (NULL)."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for j, v in enumerate(values):
        fields.append((f"len{j}", ">i4"))
        if isinstance(v, bytes):
            fields.append((f"val{j}", f"S{len(v)}"))
        elif v is not None:
            fields.append((f"val{j}", ">i4" if v.dtype.kind == "M" else ">i8"))
    rows = np.empty(n, dtype=np.dtype(fields))
    rows["count"] = len(values)
    for j, v in enumerate(values):
        if v is None:
            rows[f"len{j}"] = -1
        elif isinstance(v, bytes):
            rows[f"len{j}"], rows[f"val{j}"] = len(v), v
        elif v.dtype.kind == "M":
            rows[f"len{j}"], rows[f"val{j}"] = 4, (v - _EPOCH).astype(np.int64)
        else:
            rows[f"len{j}"], rows[f"val{j}"] = 8, v
    return rows.tobytes()


def _utf8(value: str | None) -> bytes | None:
    return None if value is None else value.encode()


def _chunk_bytes(ids: np.ndarray, entity: np.ndarray, mix: np.ndarray, day: np.ndarray,
                 recorded_by: int, corrects: np.ndarray | None) -> Iterator[bytes]:
    """Rows of one chunk, one block per (kind, outcome): within a block every text is fixed.

    corrects None: original records; else voids of the events `corrects` (of the same
    entities, with the same content). root_id is sent as the trigger sets it: the event's own
    id, or for a void the id of the (uncorrected) event it voids."""
    for m, (kind, outcome, _, summary) in enumerate(MIX):
        pick = mix == m
        n = int(pick.sum())
        if not n:
            continue
        common = [ids[pick], entity[pick], kind.encode(), day[pick], ISSUERS[kind].encode(),
                  summary.encode(), _utf8(outcome)]
        if corrects is None:
            tail = [b"record", None, None, ids[pick]]
        else:
            tail = [b"void", corrects[pick], VOID_REASON.encode(), corrects[pick]]
        yield _binary_rows(n, [*common, *tail, np.full(n, recorded_by, np.int64)])


def _add_known_smallholders(engine: Engine, cipher: PiiCipher, n: int,
                            rng: np.random.Generator) -> list[str]:
    """n smallholders whose plain resident IDs we know, like the demo's, hashed with `cipher`.

    Birth dates from 2001 on, later than any demo ID (1950-2000), so no hash collides. Each
    copies the name, township and site of a random existing smallholder."""
    ids = []
    with engine.begin() as conn:
        sources = conn.execute(text(
            "SELECT id FROM entity WHERE kind = 'smallholder' AND address IS DISTINCT FROM :m "
            "ORDER BY random() LIMIT :n"), {"m": MARKER, "n": n}).scalars().all()
        for i, source in enumerate(sources):
            birth = date(2001, 1, 1) + timedelta(days=i)
            first17 = f"350524{birth:%Y%m%d}{int(rng.integers(1, 1000)):03d}"
            rid = first17 + resident_id_check_char(first17)
            conn.execute(text("""
                INSERT INTO entity (kind, name, resident_id_hash, resident_id_enc,
                                    resident_id_masked, village, address, township_code,
                                    location, origin)
                SELECT 'smallholder', name, :h, :enc, :masked, village, :m, township_code,
                       location, 'demo'
                FROM entity WHERE id = :src"""),
                {"h": cipher.lookup_hash("resident_id", rid),
                 "enc": cipher.encrypt("resident_id", rid), "masked": mask_resident_id(rid),
                 "m": MARKER, "src": source})
            ids.append(rid)
    return ids


def _load_events(engine: Engine, events_per_entity: int, rng: np.random.Generator) -> int:
    """Generate and COPY the events; returns the number of rows."""
    with engine.connect() as conn:
        entity_ids = np.array(conn.execute(text("SELECT id FROM entity ORDER BY id"))
                              .scalars().all(), dtype=np.int64)
        recorded_by = conn.execute(text(
            "SELECT id FROM account WHERE role = 'admin' ORDER BY id LIMIT 1")).scalar_one()
    n = len(entity_ids) * events_per_entity
    # Entities drawn at random: some have none, some many, about events_per_entity on average.
    entity = entity_ids[rng.integers(0, len(entity_ids), n)]
    mix = rng.choice(len(MIX), n, p=np.array([m[2] for m in MIX]) / sum(m[2] for m in MIX))
    days = (LAST_DAY - FIRST_DAY).days + 1
    day = np.datetime64(FIRST_DAY, "D") + np.sort(rng.integers(0, days, n)).astype(
        "timedelta64[D]")  # recorded in date order, as a registry fills up
    ids = np.arange(1, n + 1, dtype=np.int64)
    voided = np.sort(rng.choice(n, int(n * VOID_SHARE), replace=False))
    void_ids = np.arange(n + 1, n + 1 + len(voided), dtype=np.int64)

    raw = engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cur:  # type: ignore[union-attr]
            # The triggers stay on. The BEFORE INSERT row trigger (credit_event_before_insert:
            # no future date, root_id of a correction) costs about 5 % of the load, measured
            # on this registry (500,000 rows: 4.4 s with it, 4.2 s with user triggers off):
            # the foreign-key checks and the three indexes take the time, and disabling
            # those is not on offer. So the rows go through every check an API write gets.
            # The statement trigger of sql/012 then marks each loaded entity's standing
            # stale (a DISTINCT over the transition table and one upsert per entity): about
            # 1.7 s per million rows in a scratch-table measurement (2M rows, 1M entities:
            # 0.9 s without it, 4.3 s with it), paid once; the refresh below replaces them.
            with cur.copy(f"COPY credit_event ({', '.join(COLUMNS)}) FROM STDIN "
                          "(FORMAT BINARY)") as copy:
                copy.write(_HEADER)
                for lo in range(0, n, CHUNK):
                    part = slice(lo, lo + CHUNK)
                    for block in _chunk_bytes(ids[part], entity[part], mix[part], day[part],
                                              recorded_by, None):
                        copy.write(block)
                for lo in range(0, len(voided), CHUNK):
                    v = voided[lo:lo + CHUNK]
                    for block in _chunk_bytes(void_ids[lo:lo + CHUNK], entity[v], mix[v],
                                              day[v], recorded_by, ids[v]):
                        copy.write(block)
                copy.write(_TRAILER)
            # Ids were given explicitly: move the identity past them.
            cur.execute("SELECT setval(pg_get_serial_sequence('credit_event', 'id'), "
                        "(SELECT max(id) FROM credit_event))")
        raw.commit()
    finally:
        raw.close()
    return n + len(voided)


def _median_ms(engine: Engine, calls: list[Callable[[Any], Any]]) -> tuple[float, float]:
    """Median and total of the calls, each in a transaction of its own; ms and seconds."""
    timings = []
    with engine.connect() as conn:
        for call in calls:
            started = time.perf_counter()
            call(conn)
            timings.append(time.perf_counter() - started)
            conn.rollback()
    return statistics.median(timings) * 1000, sum(timings)


def _fragment(name: str, rng: np.random.Generator) -> str:
    """2 to 4 consecutive characters of a name."""
    size = min(len(name), int(rng.integers(2, 5)))
    start = int(rng.integers(0, len(name) - size + 1))
    return name[start:start + size]


def run(engine: Engine, cipher: PiiCipher, *, events_per_entity: int = 10,
        samples: int = 200) -> list[Row]:
    events_per_entity = int(os.environ.get("GEOREG_BENCH_EVENTS_PER_ENTITY", events_per_entity))
    rng = np.random.default_rng(SEED)
    with engine.begin() as conn:
        # Events are truncated below: never outside the bench database.
        name = conn.execute(text("SELECT current_database()")).scalar_one()
        if name != BENCH_DB:
            raise RuntimeError(f"信用基准测试只在数据库 {BENCH_DB} 中运行，当前为 {name}")
        # A rerun on the same database starts over (events are append-only otherwise).
        conn.execute(text("SET LOCAL georeg.allow_truncate = 'on'"))  # audited (sql/021)
        conn.execute(text("TRUNCATE credit_event, key_supervision_listing CASCADE"))
        conn.execute(text("DELETE FROM entity WHERE address = :m AND origin = 'demo'"),
                     {"m": MARKER})
    known_ids = _add_known_smallholders(engine, cipher, samples, rng)

    started = time.perf_counter()
    loaded = _load_events(engine, events_per_entity, rng)
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("ANALYZE credit_event"))
        conn.execute(text("ANALYZE entity"))
    analyze_seconds = time.perf_counter() - started
    # COPY left every loaded entity's credit standing stale (sql/012): the daily refresh as
    # of TODAY, so that the database is consistent and sampling plans read standings.
    started = time.perf_counter()
    with transaction(engine, TODAY) as conn:
        standings = refresh_standings(conn, TODAY)
        conn.execute(text("ANALYZE credit_standing"))
    standing_seconds = time.perf_counter() - started

    with engine.connect() as conn:
        usccs = conn.execute(text("SELECT uscc FROM entity WHERE uscc IS NOT NULL "
                                  "ORDER BY random() LIMIT :n"), {"n": samples}).scalars().all()
        names = conn.execute(text("SELECT name FROM entity ORDER BY random() LIMIT :n"),
                             {"n": 2 * samples}).scalars().all()
        graded = conn.execute(text("SELECT id FROM entity ORDER BY random() LIMIT :n"),
                              {"n": samples}).scalars().all()
    first = np.datetime64(date(2021, 1, 1), "D")
    grade_days = (first + rng.integers(0, (LAST_DAY - date(2021, 1, 1)).days + 1,
                                       len(graded)).astype("timedelta64[D]")).tolist()
    # Chinese fragments only (a fragment of letters and digits is searched as a code).
    fragments = [f for f in (_fragment(n, rng) for n in names)
                 if any("\u4e00" <= ch <= "\u9fff" for ch in f)][:samples]

    lookups: list[tuple[str, float, list[Callable[[Any], Any]]]] = [
        ("按信用代码查找", 5, [lambda c, u=u: search(c, u, today=TODAY) for u in usccs]),
        ("按身份证号查找", 5, [lambda c, r=r: search_personal(c, cipher=cipher, today=TODAY,
                                                             resident_id=r)
                              for r in known_ids]),
        ("按名称片段查找（2-4 字）", 50,
         [lambda c, q=q: search(c, q, today=TODAY) for q in fragments]),
        ("按日期计算信用等级", 20,
         [lambda c, e=e, d=d: grade_as_of(c, e, d) for e, d in zip(graded, grade_days,
                                                                     strict=True)]),
    ]
    rows = [Row(f"载入信用事件（每主体约 {events_per_entity} 条，二进制 COPY）", load_seconds,
                loaded),
            Row("ANALYZE", analyze_seconds),
            Row(f"刷新信用状况（截至 {TODAY}）", standing_seconds, standings)]
    for label, target, calls in lookups:
        median, total = _median_ms(engine, calls)
        rows.append(Row(f"{label}：中位数 {median:.1f} ms（目标 < {target} ms）", total,
                        len(calls)))
    return rows
