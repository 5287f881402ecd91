"""Provenance collection: batches of GPS site points, stored once, flagged in the database.

The path is set-based: Python checks what it must (shape, numbers, UUIDs) and converts
coordinates in numpy arrays; the rows go to a temporary table by binary COPY; one INSERT ...
SELECT resolves entities, computes townships, grids and flags and stores new points
(ON CONFLICT on client_uuid makes retries, even concurrent ones, store one copy).
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from georeg.accounts import Account
from georeg.clock import CST
from georeg.crs import to_wgs84
from georeg.errors import FieldError

MAX_BATCH = 5000

FLAG_LABELS = {
    "outside_collector_township": "不在采集员所属乡镇范围内",
    "outside_entity_township": "不在主体所属乡镇范围内",
    "low_accuracy": "定位精度差于阈值",
    "accuracy_missing": "定位精度缺失或为 0（可能为模拟定位）",
    "swapped_coordinates": "经纬度疑似填反",
    "outside_china": "位于中国境外或在 (0, 0)",
    "far_from_plots": "距该主体其他地块过远",
    "near_duplicate": "与该主体同日另一点位几乎重合",
}

REJECTION_MESSAGES = {
    "missing_geometry": ("geometry", "缺少几何"),
    "not_a_point": ("geometry", "几何必须是点"),
    "invalid_coordinates": ("geometry", "坐标不是有效的数字"),
    "coordinates_out_of_range": ("geometry", "坐标超出经纬度范围"),
    "invalid_client_uuid": ("client_uuid", "client_uuid 缺失或不是有效的 UUID"),
    "missing_entity": ("entity_id", "缺少主体编号"),
    "unknown_entity": ("entity_id", "主体不存在"),
    "unknown_plot": ("plot_id", "地块不存在或不属于该主体"),
    "unknown_commodity": ("commodity", "未知的农产品品种"),
    "invalid_time": ("collected_at", "采集时间格式无效"),
    "invalid_accuracy": ("accuracy_m", "定位精度应为非负数（米）"),
    "out_of_scope": ("entity_id", "该主体不在本账号的管辖乡镇"),
    "ambiguous_entity": ("entity_name", "同名主体不止一个：请改用主体编号或统一社会信用代码"),
    "invalid_record": ("record", "记录内容有误"),
}


@dataclass
class Submission:
    """One feature or file row, as sent (coordinates in the declared CRS)."""

    record: int  # 1-based, as the user counts (feature number, spreadsheet row)
    client_uuid: str | None = None
    entity_id: int | None = None
    plot_id: int | None = None
    commodity: str | None = None
    x: float | None = None
    y: float | None = None
    collected_at: datetime | None = None
    accuracy_m: float | None = None
    note: str | None = None
    reasons: list[str] = field(default_factory=list)
    extra_errors: list[FieldError] = field(default_factory=list)  # from file parsing


@dataclass(frozen=True)
class Thresholds:
    max_accuracy_m: float = 30.0
    far_from_plots_m: float = 5000.0
    near_duplicate_m: float = 5.0


@dataclass
class Outcome:
    record: int
    client_uuid: str | None
    status: str  # accepted, accepted_with_flags, duplicate, conflict, rejected
    flags: list[str] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    point_id: int | None = None
    original_status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": self.record, "client_uuid": self.client_uuid,
                               "status": self.status}
        if self.point_id is not None:
            out["point_id"] = self.point_id
        if self.flags or self.status in ("accepted_with_flags", "duplicate"):
            out["flags"] = [{"code": f, "message": FLAG_LABELS[f]} for f in self.flags]
        if self.original_status:
            out["original_status"] = self.original_status
        if self.errors:
            out["errors"] = [{"field": e.field, "code": e.code, "message": e.message}
                             for e in self.errors]
        return out


def status_of(flags: list[str]) -> str:
    return "accepted_with_flags" if flags else "accepted"


def parse_time(value: Any) -> datetime | None:
    """ISO 8601; a time without offset is China Standard Time (phones record local time)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=CST)


def _check(s: Submission) -> None:
    """Checks that need no database; failures become rejection reasons."""
    try:
        s.client_uuid = str(uuid.UUID(str(s.client_uuid))) if s.client_uuid else None
    except ValueError:
        s.client_uuid = None
    if s.client_uuid is None:
        s.reasons.append("invalid_client_uuid")
    if s.entity_id is None and not s.reasons:
        s.reasons.append("missing_entity")
    if s.x is not None and s.y is not None and not (math.isfinite(s.x) and math.isfinite(s.y)):
        s.reasons.append("invalid_coordinates")
    if s.accuracy_m is not None and not (math.isfinite(s.accuracy_m) and s.accuracy_m >= 0):
        s.reasons.append("invalid_accuracy")


def content_hash(s: Submission, crs: str) -> bytes:
    """What was sent, canonically: a retry hashes the same, an edit does not."""
    parts = [s.client_uuid, s.entity_id, s.plot_id, s.commodity, crs,
             None if s.x is None else repr(float(s.x)), None if s.y is None else repr(float(s.y)),
             s.collected_at.isoformat() if s.collected_at else None,
             None if s.accuracy_m is None else repr(float(s.accuracy_m)), s.note,
             sorted(s.reasons)]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).digest()


_STAGE = """
CREATE TEMP TABLE incoming (
    ord int, client_uuid uuid, content_hash bytea, entity_id bigint, plot_id bigint,
    commodity text, lon double precision, lat double precision, input_x double precision,
    input_y double precision, collected_at timestamptz, accuracy_m real, note text,
    reasons text[],
    repeat boolean,  -- an earlier row of the batch names the same entity
    xy geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326))
        STORED
) ON COMMIT DROP
"""

# Reasons the database knows: unknown entity, plot or commodity; an entity outside the scope;
# coordinates out of range, unless swapping them lands in the entity's township (then the
# point is kept, swapped, and flagged for review).
_RESOLVE = """
UPDATE incoming i SET reasons = found.reasons
FROM (
    SELECT j.ord, array_remove(ARRAY[
        CASE WHEN NOT (j.lon BETWEEN -180 AND 180 AND j.lat BETWEEN -90 AND 90)
              AND NOT coalesce(ST_Intersects(et.boundary,
                                             ST_SetSRID(ST_MakePoint(j.lat, j.lon), 4326)),
                               false)
             THEN 'coordinates_out_of_range' END,
        CASE WHEN e.id IS NULL THEN 'unknown_entity' END,
        CASE WHEN e.id IS NOT NULL AND CAST(:scope AS text) IS NOT NULL
                  AND e.township_code <> :scope THEN 'out_of_scope' END,
        CASE WHEN j.plot_id IS NOT NULL AND p.entity_id IS DISTINCT FROM j.entity_id
             THEN 'unknown_plot' END,
        CASE WHEN j.commodity IS NOT NULL AND c.slug IS NULL THEN 'unknown_commodity' END
    ], NULL) AS reasons
    FROM incoming j
    LEFT JOIN entity e ON e.id = j.entity_id
    LEFT JOIN township et ON et.code = e.township_code
    LEFT JOIN plot p ON p.id = j.plot_id
    LEFT JOIN commodity c ON c.slug = j.commodity
    WHERE j.reasons = '{}') found
WHERE i.ord = found.ord AND found.reasons <> '{}'
"""

# New points: first occurrence per client_uuid, flags computed here, in input order; each
# point's township and grid go to site_point_place in the same statement.
_INSERT = """
WITH first AS (
    SELECT DISTINCT ON (i.client_uuid) i.*, pt.geom, here.code AS township_code,
           here.grid_id,
           array_remove(ARRAY[
               -- one point-in-polygon test per point (`here`), compared by code after
               CASE WHEN CAST(:collector_township AS text) IS NOT NULL
                     AND here.code IS DISTINCT FROM :collector_township
                    THEN 'outside_collector_township' END,
               CASE WHEN here.code IS DISTINCT FROM e.township_code
                    THEN 'outside_entity_township' END,
               CASE WHEN i.accuracy_m > :max_accuracy THEN 'low_accuracy' END,
               CASE WHEN coalesce(i.accuracy_m, 0) = 0 THEN 'accuracy_missing' END,
               CASE WHEN NOT pt.in_range OR (here.code IS DISTINCT FROM e.township_code
                     AND ST_Intersects(et.boundary,
                                       ST_SetSRID(ST_MakePoint(i.lat, i.lon), 4326)))
                    THEN 'swapped_coordinates' END,
               CASE WHEN NOT (ST_X(pt.geom) BETWEEN 73.4 AND 135.1
                              AND ST_Y(pt.geom) BETWEEN 3.8 AND 53.6)
                    THEN 'outside_china' END,
               -- most points lie near a plot: that test first, settling most rows
               -- (within far_m / 111,320 degrees is within far_m metres: a cheap planar
               -- test before the spherical one)
               CASE WHEN NOT EXISTS (SELECT 1 FROM plot p WHERE p.entity_id = i.entity_id
                                     AND p.id IS DISTINCT FROM i.plot_id
                                     AND (ST_DWithin(p.geom, pt.geom, :far_m / 111320.0)
                                          OR ST_DWithin(p.geom::geography,
                                                        pt.geom::geography, :far_m)))
                     AND EXISTS (SELECT 1 FROM plot p WHERE p.entity_id = i.entity_id
                                 AND p.id IS DISTINCT FROM i.plot_id)
                    THEN 'far_from_plots' END,
               -- another point of the entity within 5 m on the same day (CST): stored
               -- before (the entity's points of that day, by index), or earlier in this
               -- batch (only rows whose entity came before, through the batch's GiST index)
               CASE WHEN EXISTS (
                        SELECT 1 FROM site_point o
                        WHERE o.entity_id = i.entity_id
                          AND o.collected_at >= day.start
                          AND o.collected_at < day.start + interval '1 day'
                          AND ST_DWithin(o.geom::geography, pt.geom::geography, :near_m))
                    OR i.repeat AND EXISTS (
                        SELECT 1 FROM incoming m
                        WHERE m.xy && ST_Expand(pt.geom, 0.0001)
                          AND m.entity_id + 0 = i.entity_id AND m.ord < i.ord
                          AND m.reasons = '{}' AND m.client_uuid <> i.client_uuid
                          AND ST_DWithin(m.xy::geography, pt.geom::geography, :near_m)
                          AND (m.collected_at AT TIME ZONE 'Asia/Shanghai')::date
                              = (i.collected_at AT TIME ZONE 'Asia/Shanghai')::date)
                    THEN 'near_duplicate' END
           ], NULL) AS flags
    FROM incoming i
    CROSS JOIN LATERAL (SELECT i.lon BETWEEN -180 AND 180 AND i.lat BETWEEN -90 AND 90 AS ok) r
    CROSS JOIN LATERAL (
        SELECT r.ok AS in_range,
               ST_SetSRID(CASE WHEN r.ok THEN ST_MakePoint(i.lon, i.lat)
                               ELSE ST_MakePoint(i.lat, i.lon) END, 4326) AS geom) pt
    CROSS JOIN LATERAL (
        SELECT date_trunc('day', i.collected_at AT TIME ZONE 'Asia/Shanghai')
                   AT TIME ZONE 'Asia/Shanghai' AS start) day
    JOIN entity e ON e.id = i.entity_id
    JOIN township et ON et.code = e.township_code
    -- Where the point lies: most points lie in their entity's grid (one test, no index
    -- search); the other grids next, by index; the township polygons only for points
    -- outside every grid.
    LEFT JOIN current_grid eg ON eg.id = e.grid_id
    CROSS JOIN LATERAL (
        SELECT CASE WHEN ST_Intersects(eg.boundary, pt.geom) THEN eg.id END AS grid_id) home
    LEFT JOIN LATERAL (
        SELECT eg.township_code AS code, home.grid_id WHERE home.grid_id IS NOT NULL
        UNION ALL
        SELECT g.township_code, g.id FROM current_grid g
        WHERE home.grid_id IS NULL AND ST_Intersects(g.boundary, pt.geom)
        UNION ALL
        SELECT t.code, NULL FROM township t
        WHERE home.grid_id IS NULL AND ST_Intersects(t.boundary, pt.geom)
        LIMIT 1) here ON true
    WHERE i.reasons = '{}'
    ORDER BY i.client_uuid, i.ord),
stored AS (
    INSERT INTO site_point (client_uuid, content_hash, entity_id, plot_id, commodity, geom,
                            input_crs, input_x, input_y, collected_at, accuracy_m, note,
                            collector_id, flags, source)
    SELECT client_uuid, content_hash, entity_id, plot_id, commodity, geom, :crs, input_x,
           input_y, collected_at, accuracy_m, note, :collector, flags, :source
    FROM first ORDER BY ord
    ON CONFLICT (client_uuid) DO NOTHING
    RETURNING id, client_uuid, flags),
placed AS (
    INSERT INTO site_point_place (site_point_id, township_code, grid_id)
    SELECT s.id, f.township_code, f.grid_id FROM stored s JOIN first f USING (client_uuid))
SELECT id, client_uuid, flags FROM stored
"""

_EXISTING = """
SELECT i.ord, sp.id, sp.flags, sp.content_hash = i.content_hash AS same
FROM incoming i JOIN site_point sp ON sp.client_uuid = i.client_uuid
WHERE i.reasons = '{}' AND NOT (i.ord = ANY(:inserted_ords))
"""

_CONFLICTS = """
INSERT INTO site_point_conflict (client_uuid, content_hash, submitted, collector_id)
SELECT i.client_uuid, i.content_hash,
       jsonb_build_object('entity_id', i.entity_id, 'plot_id', i.plot_id,
                          'commodity', i.commodity, 'crs', CAST(:crs AS text),
                          'coordinates', jsonb_build_array(i.input_x, i.input_y),
                          'collected_at', i.collected_at, 'accuracy_m', i.accuracy_m,
                          'note', i.note),
       :collector
FROM incoming i WHERE i.ord = ANY(:ords)
ON CONFLICT (client_uuid, content_hash) DO NOTHING
"""

_REJECTIONS = """
INSERT INTO site_point_rejection (client_uuid, content_hash, entity_id, township_code, commodity,
                                  collected_at, reasons, collector_id)
SELECT i.client_uuid, i.content_hash, e.id, e.township_code, c.slug, i.collected_at, i.reasons,
       :collector
FROM incoming i
LEFT JOIN entity e ON e.id = i.entity_id
LEFT JOIN commodity c ON c.slug = i.commodity
WHERE i.reasons <> '{}'
ON CONFLICT (content_hash) DO NOTHING
"""

_COPY = ("COPY incoming (ord, client_uuid, content_hash, entity_id, plot_id, commodity, lon, lat,"
         " input_x, input_y, collected_at, accuracy_m, note, reasons, repeat)"
         " FROM STDIN (FORMAT BINARY)")
_COPY_TYPES = ["int4", "uuid", "bytea", "int8", "int8", "text", "float8", "float8", "float8",
               "float8", "timestamptz", "float4", "text", "text[]", "bool"]


def _converted(subs: list[Submission], crs: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 lon/lat for every submission (NaN where no usable coordinates were sent)."""
    x = np.array([s.x if s.x is not None else np.nan for s in subs], dtype=float)
    y = np.array([s.y if s.y is not None else np.nan for s in subs], dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    lon, lat = np.full_like(x, np.nan), np.full_like(y, np.nan)
    if ok.any():
        lon[ok], lat[ok] = to_wgs84(crs, x[ok], y[ok])
    return lon, lat


def ingest(conn: Connection, subs: list[Submission], *, crs: str, collector: Account,
           source: str = "api", thresholds: Thresholds = Thresholds()) -> list[Outcome]:
    """Store a batch; every submission gets an outcome, in input order."""
    lon, lat = _converted(subs, crs)
    for s in subs:
        _check(s)
    raw = conn.connection.driver_connection
    assert raw is not None
    conn.execute(text(_STAGE))
    seen: set[int] = set()
    with raw.cursor().copy(_COPY) as copy:
        copy.set_types(_COPY_TYPES)
        for i, s in enumerate(subs):
            repeat = s.entity_id in seen
            if s.entity_id is not None:
                seen.add(s.entity_id)
            valid_xy = s.x is not None and s.y is not None and bool(np.isfinite(lon[i]))
            key = uuid.UUID(s.client_uuid) if s.client_uuid else None
            copy.write_row((i, key, content_hash(s, crs), s.entity_id, s.plot_id,
                            s.commodity, float(lon[i]) if valid_xy else None,
                            float(lat[i]) if valid_xy else None, s.x if valid_xy else None,
                            s.y if valid_xy else None, s.collected_at, s.accuracy_m, s.note,
                            s.reasons, repeat))
    params = {"scope": collector.township_code, "collector": collector.id,
              "collector_township": collector.township_code, "crs": crs, "source": source,
              "max_accuracy": thresholds.max_accuracy_m, "far_m": thresholds.far_from_plots_m,
              "near_m": thresholds.near_duplicate_m}
    # A spatial index for the in-batch near-duplicate search when an entity comes more than
    # once. (No ANALYZE: it cost a tenth of a batch, and the plans without it probe by
    # primary key per row, as good for 5,000 rows.)
    if len(seen) < sum(s.entity_id is not None for s in subs):
        conn.execute(text("CREATE INDEX ON incoming USING gist (xy)"))
    conn.execute(text(_RESOLVE), params)
    new_rows = conn.execute(text(_INSERT), params).all()
    inserted = {str(r.client_uuid): r.id for r in new_rows}
    flags = {r.id: list(r.flags) for r in new_rows}
    conn.execute(text(_REJECTIONS), params)
    reasons = dict(conn.execute(text("SELECT ord, reasons FROM incoming WHERE reasons <> '{}'")
                                ).all())
    first: dict[str, int] = {}
    for i, s in enumerate(subs):
        if i not in reasons and s.client_uuid is not None:
            first.setdefault(s.client_uuid, i)
    inserted_ords = [first[u] for u in inserted]
    existing = {}
    if len(inserted_ords) < len(subs) - len(reasons):  # retries and in-batch repeats only
        existing = {r.ord: r for r in conn.execute(text(_EXISTING),
                                                    {"inserted_ords": inserted_ords})}
    conflicts = [o for o, r in existing.items() if not r.same]
    if conflicts:
        conn.execute(text(_CONFLICTS), {**params, "ords": conflicts})

    outcomes = []
    for i, s in enumerate(subs):
        if i in reasons:
            outcomes.append(Outcome(s.record, s.client_uuid, "rejected", errors=[
                FieldError(REJECTION_MESSAGES[r][0], r, REJECTION_MESSAGES[r][1])
                for r in reasons[i] if r != "invalid_record"] + s.extra_errors))
        elif i in existing:
            r = existing[i]
            outcomes.append(Outcome(s.record, s.client_uuid,
                                    "duplicate" if r.same else "conflict", flags=list(r.flags),
                                    point_id=r.id, original_status=status_of(list(r.flags))))
        else:
            pid = inserted[s.client_uuid]  # type: ignore[index]
            f = flags[pid]
            outcomes.append(Outcome(s.record, s.client_uuid, status_of(f), flags=f,
                                    point_id=pid))
    return outcomes


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts = Counter(o.status for o in outcomes)
    return {k: counts.get(k, 0) for k in ("accepted", "accepted_with_flags", "duplicate",
                                          "conflict", "rejected")} | {"total": len(outcomes)}

