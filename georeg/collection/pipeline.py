"""Provenance collection: batches of GPS site points, stored once, flagged in the database.

A batch is staged in a temporary table, `incoming`: an API request's GeoJSON body is parsed
there by PostgreSQL (geojson.py), a file's rows arrive by binary COPY (`ingest`). From there
the path is set-based and shared (`store`): coordinates in another system are converted in
numpy arrays; one INSERT ... SELECT resolves entities, plots and commodities, computes
townships, grids and flags and stores new points (ON CONFLICT on client_uuid makes retries,
even concurrent ones, store one copy); one last statement records rejections and conflicts
and writes the answer, as JSON text, in input order. The statements are the .sql files of
this package; the expressions they share are SQL functions (sql/015_collection_functions.sql).
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
from georeg.database import sql_source, sql_statement
from georeg.errors import FieldError, Forbidden

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
    "entity_deregistered": ("collected_at", "该主体在采集日期之前已注销"),
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


# The package whose .sql files hold the statements (read once): stage.sql, copy_incoming.sql and
# hash_copied.sql (a file's rows; geojson.py stages a body's features), store.sql, answer.sql.
SQL_PACKAGE = "georeg.collection"


def check_may_collect(account: Account) -> None:
    """Uploading site points is a write: accounts that only read (credit clerk) may not."""
    if not account.writes:
        raise Forbidden("本账号不能上传点位")


def stage(conn: Connection) -> None:
    """Create the batch's staging tables (`incoming`, `fresh`), dropped at commit."""
    conn.execute(sql_statement(SQL_PACKAGE, "stage.sql"))


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
    if crs not in ("wgs84", "cgcs2000"):  # CGCS2000 ≈ WGS 84 (docs/domain.md, "Geography")
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
    conn.execute(sql_statement(SQL_PACKAGE, "store.sql"), params)
    summary, results = conn.execute(sql_statement(SQL_PACKAGE, "answer.sql"),
                                    params | _LABELS).one()
    return summary, results or ""


def answer_json(head: dict[str, Any], summary: str, results: str) -> str:
    """The whole answer: `head` (such as the CRS), then the summary and results as written."""
    start = json.dumps(head, ensure_ascii=False)[:-1] + (", " if head else "")
    return f'{start}"summary": {summary}, "results": [{results}]}}'


_COPY_TYPES = ["int4", "int4", "uuid", "int8", "int8", "text", "float8", "float8",
               "timestamptz", "float4", "text", "text[]", "jsonb"]


def ingest(conn: Connection, subs: list[Submission], *, crs: str, collector: Account,
           source: str = "api", thresholds: Thresholds = Thresholds()) -> list[Outcome]:
    """Store a batch of rows (read from a file); every row gets an outcome, in input order."""
    for s in subs:
        _check(s)
    raw = conn.connection.driver_connection
    assert raw is not None
    stage(conn)
    with raw.cursor().copy(sql_source(SQL_PACKAGE, "copy_incoming.sql")) as copy:
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
    conn.execute(sql_statement(SQL_PACKAGE, "hash_copied.sql"), {"crs": crs})
    _, results = store(conn, crs=crs, collector=collector, source=source,
                       thresholds=thresholds)
    return [Outcome.from_answer(r) for r in json.loads(f"[{results}]")]


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts = Counter(o.status for o in outcomes)
    return {k: counts.get(k, 0) for k in ("accepted", "accepted_with_flags", "duplicate",
                                          "conflict", "rejected")} | {"total": len(outcomes)}
