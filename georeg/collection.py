"""Provenance collection: batches of GPS site points, stored once, flagged in the database.

A batch is staged in a temporary table, `incoming`: an API request's GeoJSON body is parsed
there by PostgreSQL (georeg/collection_geojson.py), a file's rows arrive by binary COPY
(`ingest`). From there the path is set-based and shared (`store`): coordinates in another
system are converted in numpy arrays; one INSERT ... SELECT resolves entities, plots and
commodities, computes townships, grids and flags and stores new points (ON CONFLICT on
client_uuid makes retries, even concurrent ones, store one copy); one last statement records
rejections and conflicts and writes the answer, as JSON text, in input order.
"""

from __future__ import annotations

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
    """One file row (or feature), as sent (coordinates in the declared CRS)."""

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

    @classmethod
    def from_answer(cls, result: dict[str, Any]) -> Outcome:
        """One entry of the answer's `results` (the JSON the API sends)."""
        return cls(result["record"], result["client_uuid"], result["status"],
                   flags=[f["code"] for f in result.get("flags", [])],
                   errors=[FieldError(e["field"], e["code"], e["message"])
                           for e in result.get("errors", [])],
                   point_id=result.get("point_id"),
                   original_status=result.get("original_status"))

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


STAGE = """
CREATE TEMP TABLE incoming (
    ord int,             -- position in the batch, from 1
    record int,          -- as the user counts: feature number, spreadsheet row
    client_uuid uuid, content_hash bytea, entity_id bigint, plot_id bigint,
    commodity text, lon double precision, lat double precision, input_x double precision,
    input_y double precision, collected_at timestamptz, accuracy_m real, note text,
    reasons text[],      -- why the row is rejected; '{}' while it is not
    extra_errors jsonb,  -- file rows: what reading the file found wrong
    xy geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326))
        STORED
) ON COMMIT DROP;
-- The points this batch stored, by row: the answer tells them from retries by this.
CREATE TEMP TABLE fresh (ord int, id bigint, flags text[]) ON COMMIT DROP
"""

# What was sent, canonically: the staged row's text form (the time as epoch seconds, so the
# session's time zone does not matter, and the reasons found before the database was asked).
# A retry hashes the same, an edit does not. Used where the rows are staged.
CONTENT_HASH = """sha256(convert_to(ROW(
    client_uuid, entity_id, plot_id, commodity, CAST(:crs AS text), input_x, input_y,
    extract(epoch FROM collected_at), accuracy_m, note, reasons)::text, 'UTF8'))"""

# One statement stores the batch. First the reasons the database knows (`resolved`): unknown
# entity, plot or commodity; an entity outside the scope; coordinates out of range (or not
# convertible), unless swapping them lands in the entity's township (then the point is kept,
# swapped, and flagged for review). Rejected rows get their reasons (`rejected`). Then the new
# points: first occurrence per client_uuid, flags computed here, in input order; each point's
# township and grid go to site_point_place, and its row number to `fresh`.
_STORE = """
WITH resolved AS MATERIALIZED (
    -- (Every row, and `good` a boolean, on purpose: the planner takes half of the rows to
    -- pass a boolean but 1 in 200 to equal an array, and with so few expected it joined
    -- `stored` to `first` row by row.)
    SELECT *, reasons = '{}' AND found = '{}' AS good FROM (
        SELECT i.*, e.township_code AS entity_township, e.grid_id AS entity_grid,
               array_remove(ARRAY[
                   -- (the township's polygon only for these rare rows)
                   CASE WHEN NOT coalesce(i.lon BETWEEN -180 AND 180
                                          AND i.lat BETWEEN -90 AND 90, false)
                         AND NOT coalesce((
                             SELECT ST_Intersects(t.boundary,
                                                  ST_SetSRID(ST_MakePoint(i.lat, i.lon), 4326))
                             FROM township t WHERE t.code = e.township_code), false)
                        THEN 'coordinates_out_of_range' END,
                   CASE WHEN e.id IS NULL THEN 'unknown_entity' END,
                   CASE WHEN e.id IS NOT NULL AND CAST(:scope AS text) IS NOT NULL
                             AND e.township_code <> :scope THEN 'out_of_scope' END,
                   CASE WHEN i.plot_id IS NOT NULL AND p.entity_id IS DISTINCT FROM i.entity_id
                        THEN 'unknown_plot' END,
                   CASE WHEN i.commodity IS NOT NULL AND c.slug IS NULL THEN 'unknown_commodity' END
               ], NULL) AS found
        FROM incoming i
        LEFT JOIN entity e ON e.id = i.entity_id
        LEFT JOIN plot p ON p.id = i.plot_id
        LEFT JOIN commodity c ON c.slug = i.commodity) checked),
rejected AS (
    UPDATE incoming i SET reasons = r.found
    FROM resolved r WHERE i.ord = r.ord AND r.reasons = '{}' AND r.found <> '{}'),
first AS (
    SELECT DISTINCT ON (i.client_uuid) i.*, pt.geom, here.code AS township_code,
           here.grid_id,
           array_remove(ARRAY[
               -- one point-in-polygon test per point (`here`), compared by code after
               CASE WHEN CAST(:collector_township AS text) IS NOT NULL
                     AND here.code IS DISTINCT FROM :collector_township
                    THEN 'outside_collector_township' END,
               CASE WHEN here.code IS DISTINCT FROM i.entity_township
                    THEN 'outside_entity_township' END,
               CASE WHEN i.accuracy_m > :max_accuracy THEN 'low_accuracy' END,
               CASE WHEN coalesce(i.accuracy_m, 0) = 0 THEN 'accuracy_missing' END,
               CASE WHEN NOT pt.in_range OR (here.code IS DISTINCT FROM i.entity_township
                     AND (SELECT ST_Intersects(t.boundary,
                                               ST_SetSRID(ST_MakePoint(i.lat, i.lon), 4326))
                          FROM township t WHERE t.code = i.entity_township))
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
               -- batch (the entity's rows near in longitude, by the batch's index)
               CASE WHEN EXISTS (
                        SELECT 1 FROM site_point o
                        WHERE o.entity_id = i.entity_id
                          AND o.collected_at >= day.start
                          AND o.collected_at < day.start + interval '1 day'
                          AND ST_DWithin(o.geom::geography, pt.geom::geography, :near_m))
                    OR EXISTS (
                        SELECT 1 FROM incoming m
                        WHERE m.entity_id = i.entity_id
                          AND m.lon BETWEEN ST_X(pt.geom) - 0.0001 AND ST_X(pt.geom) + 0.0001
                          AND m.xy && ST_Expand(pt.geom, 0.0001)
                          AND m.ord < i.ord AND m.client_uuid <> i.client_uuid
                          AND m.ord NOT IN (SELECT ord FROM resolved WHERE NOT good)
                          AND ST_DWithin(m.xy::geography, pt.geom::geography, :near_m)
                          AND (m.collected_at AT TIME ZONE 'Asia/Shanghai')::date
                              = (i.collected_at AT TIME ZONE 'Asia/Shanghai')::date)
                    THEN 'near_duplicate' END
           ], NULL) AS flags
    FROM resolved i
    CROSS JOIN LATERAL (SELECT i.lon BETWEEN -180 AND 180 AND i.lat BETWEEN -90 AND 90 AS ok) r
    CROSS JOIN LATERAL (
        SELECT r.ok AS in_range,
               ST_SetSRID(CASE WHEN r.ok THEN ST_MakePoint(i.lon, i.lat)
                               ELSE ST_MakePoint(i.lat, i.lon) END, 4326) AS geom) pt
    CROSS JOIN LATERAL (
        SELECT date_trunc('day', i.collected_at AT TIME ZONE 'Asia/Shanghai')
                   AT TIME ZONE 'Asia/Shanghai' AS start) day
    -- Where the point lies: most points lie in their entity's grid (one test, no index
    -- search); the other grids next, by index; the township polygons only for points
    -- outside every grid.
    LEFT JOIN current_grid eg ON eg.id = i.entity_grid
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
    WHERE i.good
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
new AS (
    SELECT f.ord, s.id, s.flags, f.township_code, f.grid_id, f.geom
    FROM stored s JOIN first f USING (client_uuid)),
placed AS (
    INSERT INTO site_point_place (site_point_id, township_code, grid_id, geom)
    SELECT id, township_code, grid_id, geom FROM new ORDER BY id)
INSERT INTO fresh (ord, id, flags) SELECT ord, id, flags FROM new
"""

# Every row's outcome, in one statement that also keeps the rejections (for the report) and
# the conflicting submissions (for review), and writes the answer as JSON text, so that no
# row passes through Python objects. A row not stored by this batch found its client_uuid
# taken: by an earlier batch, a concurrent one (this is a new statement, which sees it), or
# an earlier row of this batch. The flag lists are written once per distinct combination.
_ANSWER = """
WITH labels AS MATERIALIZED (
    SELECT CAST(:flag_labels AS jsonb) AS flag, CAST(:rejection_messages AS jsonb) AS reason),
outcome AS MATERIALIZED (
    SELECT i.ord, i.record, i.client_uuid, i.content_hash, i.reasons, i.extra_errors,
           coalesce(n.id, sp.id) AS point_id, coalesce(n.flags, sp.flags) AS flags,
           CASE WHEN i.reasons <> '{}' THEN 'rejected'
                WHEN n.id IS NOT NULL
                THEN CASE WHEN n.flags = '{}' THEN 'accepted' ELSE 'accepted_with_flags' END
                WHEN sp.content_hash = i.content_hash THEN 'duplicate'
                ELSE 'conflict' END AS status,
           CASE WHEN sp.flags = '{}' THEN 'accepted'
                WHEN sp.flags IS NOT NULL THEN 'accepted_with_flags' END AS original_status
    FROM incoming i
    LEFT JOIN fresh n ON n.ord = i.ord
    -- one probe by client_uuid for each row not stored now and not rejected (OFFSET 0 keeps
    -- it a probe per row: joined, the planner may read all of site_point)
    LEFT JOIN LATERAL (
        SELECT sp.id, sp.flags, sp.content_hash FROM site_point sp
        WHERE sp.client_uuid = i.client_uuid AND n.ord IS NULL AND i.reasons = '{}'
        OFFSET 0) sp ON true),
rejections AS (
    INSERT INTO site_point_rejection (client_uuid, content_hash, entity_id, township_code,
                                      commodity, collected_at, reasons, collector_id)
    SELECT i.client_uuid, i.content_hash, e.id, e.township_code, c.slug, i.collected_at,
           i.reasons, :collector
    FROM incoming i
    LEFT JOIN entity e ON e.id = i.entity_id
    LEFT JOIN commodity c ON c.slug = i.commodity
    WHERE i.reasons <> '{}'
    ON CONFLICT (content_hash) DO NOTHING),
conflicts AS (
    INSERT INTO site_point_conflict (client_uuid, content_hash, submitted, collector_id)
    SELECT i.client_uuid, i.content_hash,
           jsonb_build_object('entity_id', i.entity_id, 'plot_id', i.plot_id,
                              'commodity', i.commodity, 'crs', CAST(:crs AS text),
                              'coordinates', jsonb_build_array(i.input_x, i.input_y),
                              'collected_at', i.collected_at, 'accuracy_m', i.accuracy_m,
                              'note', i.note),
           :collector
    FROM outcome o JOIN incoming i USING (ord)
    WHERE o.status = 'conflict'
    ON CONFLICT (client_uuid, content_hash) DO NOTHING),
flag_list AS (
    SELECT d.flags, (SELECT coalesce(json_agg(json_build_object(
                                         'code', f, 'message', labels.flag ->> f)), '[]')
                     FROM unnest(d.flags) f)::text AS json
    FROM (SELECT DISTINCT flags FROM outcome WHERE flags IS NOT NULL) d, labels)
SELECT json_build_object(
           'accepted', count(*) FILTER (WHERE o.status = 'accepted'),
           'accepted_with_flags', count(*) FILTER (WHERE o.status = 'accepted_with_flags'),
           'duplicate', count(*) FILTER (WHERE o.status = 'duplicate'),
           'conflict', count(*) FILTER (WHERE o.status = 'conflict'),
           'rejected', count(*) FILTER (WHERE o.status = 'rejected'),
           'total', count(*))::text AS summary,
       string_agg(concat(
           '{"record":', o.record,
           ',"client_uuid":', coalesce('"' || o.client_uuid || '"', 'null'),
           ',"status":"', o.status, '"',
           ',"point_id":' || o.point_id,
           ',"flags":' || CASE WHEN o.flags <> '{}'
                                 OR o.status IN ('accepted_with_flags', 'duplicate')
                               THEN fl.json END,
           ',"original_status":"' || CASE WHEN o.status IN ('duplicate', 'conflict')
                                          THEN o.original_status END || '"',
           ',"errors":' || CASE WHEN o.status = 'rejected' THEN CAST((
               SELECT coalesce(jsonb_agg(jsonb_build_object(
                                             'field', labels.reason -> r ->> 0, 'code', r,
                                             'message', labels.reason -> r ->> 1)
                                         ORDER BY k), '[]')
               FROM unnest(o.reasons) WITH ORDINALITY AS u(r, k)
               WHERE r <> 'invalid_record') || coalesce(o.extra_errors, '[]') AS text) END,
           '}'), ',' ORDER BY o.ord) AS results
FROM outcome o
CROSS JOIN labels
LEFT JOIN flag_list fl ON fl.flags = o.flags
"""

_LABELS = {"flag_labels": json.dumps(FLAG_LABELS, ensure_ascii=False),
           "rejection_messages": json.dumps(REJECTION_MESSAGES, ensure_ascii=False)}


def _convert(conn: Connection, crs: str) -> None:
    """Staged coordinates sent in another system, to WGS 84 in numpy arrays (GCJ-02 and BD-09
    have no EPSG code); what cannot be converted is left without coordinates (rejected)."""
    ords, x, y = conn.execute(text(
        "SELECT array_agg(ord ORDER BY ord), array_agg(input_x ORDER BY ord),"
        " array_agg(input_y ORDER BY ord) FROM incoming WHERE input_x IS NOT NULL")).one()
    if not ords:
        return
    lon, lat = to_wgs84(crs, np.array(x, dtype=float), np.array(y, dtype=float))
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    conn.execute(text("""
        UPDATE incoming i SET lon = c.lon, lat = c.lat
        FROM unnest(CAST(:ords AS int[]), CAST(:lon AS float8[]), CAST(:lat AS float8[]))
             AS c(ord, lon, lat)
        WHERE i.ord = c.ord"""), {
        "ords": ords,
        "lon": [v if good else None for v, good in zip(lon.tolist(), ok.tolist(), strict=True)],
        "lat": [v if good else None for v, good in zip(lat.tolist(), ok.tolist(), strict=True)]})


def store(conn: Connection, *, crs: str, collector: Account, source: str,
          thresholds: Thresholds) -> tuple[str, str]:
    """Store the staged batch; the answer's `summary` and `results` (JSON texts)."""
    if crs not in ("wgs84", "cgcs2000"):  # CGCS2000 is WGS 84 within centimetres (SPEC.md)
        _convert(conn, crs)
    params = {"scope": collector.township_code, "collector": collector.id,
              "collector_township": collector.township_code, "crs": crs, "source": source,
              "max_accuracy": thresholds.max_accuracy_m, "far_m": thresholds.far_from_plots_m,
              "near_m": thresholds.near_duplicate_m}
    # For the in-batch near-duplicate search: a B-tree builds in a third of the time a GiST
    # index took, and an entity's points near in longitude are few even when one entity
    # fills the batch (a GPS track). (No ANALYZE: it cost a tenth of a batch, and the plans
    # without it probe by index per row, as good for 5,000 rows.)
    conn.execute(text("CREATE INDEX ON incoming (entity_id, lon)"))
    conn.execute(text(_STORE), params)
    summary, results = conn.execute(text(_ANSWER), params | _LABELS).one()
    return summary, results or ""


def answer_json(head: dict[str, Any], summary: str, results: str) -> str:
    """The whole answer: `head` (such as the CRS), then the summary and results as written."""
    start = json.dumps(head, ensure_ascii=False)[:-1] + (", " if head else "")
    return f'{start}"summary": {summary}, "results": [{results}]}}'


_COPY = ("COPY incoming (ord, record, client_uuid, entity_id, plot_id, commodity, input_x,"
         " input_y, collected_at, accuracy_m, note, reasons, extra_errors)"
         " FROM STDIN (FORMAT BINARY)")
_COPY_TYPES = ["int4", "int4", "uuid", "int8", "int8", "text", "float8", "float8",
               "timestamptz", "float4", "text", "text[]", "jsonb"]


def ingest(conn: Connection, subs: list[Submission], *, crs: str, collector: Account,
           source: str = "api", thresholds: Thresholds = Thresholds()) -> list[Outcome]:
    """Store a batch of rows (read from a file); every row gets an outcome, in input order."""
    for s in subs:
        _check(s)
    raw = conn.connection.driver_connection
    assert raw is not None
    conn.execute(text(STAGE))
    with raw.cursor().copy(_COPY) as copy:
        copy.set_types(_COPY_TYPES)
        for i, s in enumerate(subs, 1):
            valid_xy = s.x is not None and s.y is not None and "invalid_coordinates" \
                not in s.reasons
            extra = [{"field": e.field, "code": e.code, "message": e.message}
                     for e in s.extra_errors]
            copy.write_row((i, s.record, uuid.UUID(s.client_uuid) if s.client_uuid else None,
                            s.entity_id, s.plot_id, s.commodity, s.x if valid_xy else None,
                            s.y if valid_xy else None, s.collected_at, s.accuracy_m, s.note,
                            s.reasons, extra or None))
    conn.execute(text(f"UPDATE incoming SET lon = input_x, lat = input_y,"
                      f" content_hash = {CONTENT_HASH}"), {"crs": crs})
    _, results = store(conn, crs=crs, collector=collector, source=source,
                       thresholds=thresholds)
    return [Outcome.from_answer(r) for r in json.loads(f"[{results}]")]


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts = Counter(o.status for o in outcomes)
    return {k: counts.get(k, 0) for k in ("accepted", "accepted_with_flags", "duplicate",
                                          "conflict", "rejected")} | {"total": len(outcomes)}
