"""Reproducible demo data: producers, buyers, smallholders, their plots and grid staff.

County scale fills Anxi to its 2023 plan: the producers per township are read from
`plan_target`, so the figures the system must reproduce come out of entity rows. Province scale
adds a fictitious province (division codes 99…, demo boundaries around Anxi) with about a
million entities, to exercise the load path at province size (docs/domain.md, "Scale").

Everything is drawn from numpy's `default_rng(seed)` and from PostGIS functions given the seed.
A run first deletes the previous demo rows (`entity.origin = 'demo'`, their plots, the fictitious
province) in the same transaction, so it can be repeated; registry rows are never touched.
Personal numbers exist only in memory here: the database gets keyed hashes, ciphertexts and
masked forms (georeg.pii), as the schema asks. At province scale the secondary indexes, unique
constraints and foreign keys are dropped for the load and rebuilt from their catalog definitions.

`generate` here runs the steps; the package's modules hold them: `parameters` (kinds, crops,
names, mixes), `geography`, `entities`, `plots`, `identities`, `province`, `load` (COPY into
staging, set-based INSERT), `grids` (demo township boundaries and grids, also used by
importers.anxi); `activity` and `testing` add a year of patrols, certificates and test results
to the county's demo entities. Underscored names are private to the package.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, text

from georeg.pii import PiiCipher
from georeg.registry import KIND_LABELS
from importers.demo.entities import Entities, _county_counts, _draw_entities, _province_counts
from importers.demo.geography import Geography, _load_geography
from importers.demo.identities import Identity, _identities
from importers.demo.load import (
    DETACHABLE,
    ENTITY_COLUMNS,
    INSERT_ENTITIES,
    INSERT_PLOTS,
    PLOT_COLUMNS,
    _check,
    _clear,
    _entity_rows,
    _ewkb,
    _plot_rows,
    _reserve_ids,
    _staff,
    _stage,
)
from importers.demo.parameters import BUYER, CROPS, KINDS, PLAN_YEAR, PROVINCE_PREFIX
from importers.demo.plots import Plots, _draw_plots, _locations
from importers.demo.province import _create_province

__all__ = ["KINDS", "PROVINCE_PREFIX", "generate"]

Progress = Callable[[str], AbstractContextManager[Any]]


def _note_rows(step: Any, rows: int) -> None:
    """Tell a recording progress (the benchmark) how many rows a step handled."""
    if hasattr(step, "rows"):
        step.rows = rows


def _quiet(label: str) -> AbstractContextManager[None]:
    return nullcontext()


@dataclass
class _Drawn:
    geo: Geography
    ent: Entities
    plots: Plots
    who: Identity
    location: list[bytes]
    codes: list[str]
    province: int  # townships of the fictitious province


def _draw(conn: Connection, *, seed: int, bulk: bool, province_entities: int,
          province_townships: int, progress: Progress,
          rngs: list[np.random.Generator]) -> _Drawn:
    rng_place, rng_geo, rng_who, rng_where = rngs
    codes = conn.execute(text(
        "SELECT unit FROM plan_target WHERE year = :y AND metric = 'producers' "
        "AND unit <> 'county' ORDER BY unit"), {"y": PLAN_YEAR}).scalars().all()
    province: list[str] = []
    if bulk:
        with progress(f"生成示范省乡镇边界与网格（{province_townships:,} 个乡镇）") as step:
            province = _create_province(conn, province_townships, seed, rng_place)
            _note_rows(step, len(province))
    with progress("读取乡镇与网格边界"):
        conn.execute(text("ANALYZE township, grid"))  # the plans below depend on their size
        geo = _load_geography(conn, [*codes, *province], rng_place)
        key_risk = set(conn.execute(text("SELECT slug FROM commodity WHERE key_risk")).scalars())
        known = set(conn.execute(text("SELECT slug FROM commodity")).scalars())
        if missing := {c.slug for c in CROPS} - known:
            raise RuntimeError(f"商品目录缺少：{', '.join(sorted(missing))}")
    with progress(f"生成主体与地块（种子 {seed}）") as step:
        town, kind = _county_counts(conn, geo, rng_geo)
        if bulk:
            more_town, more_kind = _province_counts(geo, province_entities, rng_geo)
            town, kind = np.concatenate([town, more_town]), np.concatenate([kind, more_kind])
        ent = _draw_entities(geo, town, kind, rng_geo)
        plots = _draw_plots(geo, ent, rng_where)
        lx, ly = _locations(geo, ent, plots, rng_where)
        who = _identities(geo, ent, rng_who, key_risk)
        location = _ewkb(shapely.points(lx, ly))
        _note_rows(step, len(ent) + len(plots))
    return _Drawn(geo=geo, ent=ent, plots=plots, who=who, location=location,
                  codes=[*codes, *province], province=len(province))


def generate(engine: Engine, *, seed: int, scale: str = "county", cipher: PiiCipher,
             progress: Progress = _quiet, province_entities: int = 1_000_000,
             province_townships: int = 1_100) -> dict[str, int | str]:
    """Replace the demo data in one transaction; return counts for the CLI (zh-CN keys)."""
    if scale not in ("county", "province"):
        raise ValueError(f"未知规模：{scale}")
    started = time.perf_counter()
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    bulk = scale == "province"
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))  # demo data: no fsync wait
        # The one writer allowed to TRUNCATE audited tables (sql/021_audit.sql), recorded there.
        conn.execute(text("SET LOCAL georeg.allow_truncate = 'on'"))
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        restore: list[str] = []
        with progress("暂停触发器" + ("、外键与索引" if bulk else "")):
            conn.execute(text("ALTER TABLE entity DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE plot DISABLE TRIGGER USER"))
            if bulk:
                for row in conn.execute(DETACHABLE).all():
                    conn.execute(text(row.drop_sql))
                    restore.append(row.restore_sql)
        with progress("清除旧的演示数据"):
            _clear(conn)
        d = _draw(conn, seed=seed, bulk=bulk, province_entities=province_entities,
                  province_townships=province_townships, progress=progress, rngs=rngs[:4])

        with progress("主体写入暂存表（二进制 COPY）") as step:
            ids = _reserve_ids(conn, len(d.ent))
            _note_rows(step, _stage(conn, "entity_load", ENTITY_COLUMNS,
                                    _entity_rows(d.geo, d.ent, d.who, ids, d.location, cipher)))
        with progress("地块写入暂存表（二进制 COPY）") as step:
            _note_rows(step, _stage(conn, "plot_load", PLOT_COLUMNS,
                                    _plot_rows(d.geo, d.ent, d.who, d.plots, ids, rngs[3])))
        with progress("主体入库：分配网格，校验所属乡镇") as step:
            _note_rows(step, _check("主体", len(d.ent),
                                    conn.execute(INSERT_ENTITIES).rowcount))
        with progress("地块入库：分配网格，计算面积，校验所属乡镇") as step:
            _note_rows(step, _check("地块", len(d.plots), conn.execute(INSERT_PLOTS).rowcount))
        if restore:
            with progress("重建索引、唯一约束与外键") as step:
                for statement in restore:
                    conn.execute(text(statement))
                _note_rows(step, len(d.ent) + len(d.plots))
        conn.execute(text("ALTER TABLE entity ENABLE TRIGGER USER"))
        conn.execute(text("ALTER TABLE plot ENABLE TRIGGER USER"))
        with progress("网格监管员与协管员") as step:
            staff = _staff(conn, d.codes, rngs[4])
            _note_rows(step, staff)
        with progress("更新统计信息"):
            conn.execute(text("ANALYZE entity, plot"))

    counts = np.bincount(d.ent.kind, minlength=len(KINDS))
    report: dict[str, int | str] = {"规模": "全省（示范）" if bulk else "县（安溪）",
                                    "随机种子": str(seed)}  # a label, not a quantity
    report.update({KIND_LABELS[k]: int(counts[i]) for i, k in enumerate(KINDS)})
    report["生产主体合计"] = int(counts[:BUYER].sum())
    report["地块"] = len(d.plots)
    report["其中面状地块"] = int(np.isnan(d.plots.area_mu).sum())
    if bulk:
        report["示范省乡镇"] = d.province
        report["示范省网格"] = int(d.geo.province_part[d.geo.grid_town].sum())
    report["新增网格人员"] = staff
    report["用时（秒）"] = f"{time.perf_counter() - started:.1f}"
    return report
