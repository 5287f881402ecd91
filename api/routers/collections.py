"""Provenance collection: batches of GPS site points from the field."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import Cipher, CurrentAccount, Db, settings
from georeg import collection
from georeg.collection import FLAG_LABELS, MAX_BATCH, Submission, Thresholds
from georeg.crs import normalize_crs
from georeg.errors import (
    FieldError,
    Forbidden,
    InvalidInput,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from importers.point_files import PointFileError, read_point_file
from importers.points import to_submissions

router = APIRouter(prefix="/collections", tags=["产地溯源信息采集"])

JSON_TYPES = ("application/json", "application/geo+json")


def _number(value: Any, field: str, s: Submission, reason: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        s.reasons.append(reason)
        return None
    try:
        return float(value)
    except ValueError:
        s.reasons.append(reason)
        return None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def parse_feature(record: int, feature: Any) -> Submission:
    """One GeoJSON feature -> a Submission; what is wrong becomes a rejection reason."""
    s = Submission(record=record)
    if not isinstance(feature, dict):
        s.reasons.append("missing_geometry")
        return s
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        props = {}
    s.client_uuid = props.get("client_uuid") if isinstance(props.get("client_uuid"), str) else None
    s.entity_id = _integer(props.get("entity_id"))
    if props.get("entity_id") is not None and s.entity_id is None:
        s.reasons.append("unknown_entity")
    s.plot_id = _integer(props.get("plot_id"))
    s.commodity = props.get("commodity") if isinstance(props.get("commodity"), str) else None
    s.accuracy_m = _number(props.get("accuracy_m"), "accuracy_m", s, "invalid_accuracy")
    note = props.get("note")
    s.note = str(note)[:1000] if note is not None else None
    try:
        s.collected_at = collection.parse_time(props.get("collected_at"))
    except (ValueError, TypeError):
        s.reasons.append("invalid_time")
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict):
        s.reasons.append("missing_geometry")
    elif geometry.get("type") != "Point":
        s.reasons.append("not_a_point")
    else:
        coords = geometry.get("coordinates")
        if (not isinstance(coords, list) or len(coords) < 2
                or not all(isinstance(c, int | float) and not isinstance(c, bool)
                           for c in coords[:2])):
            s.reasons.append("invalid_coordinates")
        else:
            s.x, s.y = float(coords[0]), float(coords[1])
    return s


def parse_collection(body: bytes) -> list[Submission]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        where = f"第 {e.lineno} 行第 {e.colno} 列" if isinstance(e, json.JSONDecodeError) else ""
        msg = f"请求内容不是有效的 JSON{('（' + where + '）') if where else ''}"
        raise MalformedRequest(msg, [FieldError("body", "invalid_json", msg)]) from e
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" \
            or not isinstance(doc.get("features"), list):
        msg = "请求内容应为 GeoJSON FeatureCollection"
        raise InvalidInput(msg, [FieldError("body", "not_a_feature_collection", msg)])
    features = doc["features"]
    if len(features) > MAX_BATCH:
        raise PayloadTooLarge(f"每批最多 {MAX_BATCH} 个点位，收到 {len(features)} 个",
                              [FieldError("features", "too_many", f"每批最多 {MAX_BATCH} 个")])
    if not features:
        msg = "FeatureCollection 中没有点位"
        raise InvalidInput(msg, [FieldError("features", "empty", msg)])
    return [parse_feature(i + 1, f) for i, f in enumerate(features)]


def thresholds(request: Request) -> Thresholds:
    s = settings(request)
    return Thresholds(max_accuracy_m=s.collection_max_accuracy_m,
                      far_from_plots_m=s.collection_far_from_plots_m)


CrsQuery = Annotated[str, Query(description="wgs84（默认）、cgcs2000、gcj02、bd09 或 EPSG 代码")]


@router.post("/points", summary="批量上传产地点位（GeoJSON FeatureCollection，每批至多 5000 个）",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/geo+json": {"schema": {"type": "object"}}}}})
async def upload_points(request: Request, account: CurrentAccount, conn: Db,
                        crs: CrsQuery = "wgs84") -> JSONResponse:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise UnsupportedMediaType("请以 application/geo+json 或 application/json 提交",
                                   [FieldError("content-type", "unsupported", "内容类型不受支持")])
    if not account.writes:
        raise Forbidden("本账号不能上传点位")
    crs_code = normalize_crs(crs)
    body = await request.body()
    # Parsing and the database work run in the thread pool: on the event loop they would
    # hold every other request for the half second a batch takes.
    subs = await run_in_threadpool(parse_collection, body)
    outcomes = await run_in_threadpool(collection.ingest, conn, subs, crs=crs_code,
                                       collector=account, thresholds=thresholds(request))
    return await run_in_threadpool(batch_response, outcomes, crs=crs_code)


def batch_response(outcomes: list[collection.Outcome], **head: Any) -> JSONResponse:
    """The answer to a batch, serialised directly: it is plain JSON already, and FastAPI's
    generic encoder took longer over 5,000 results than storing them."""
    return JSONResponse({**head, "summary": collection.summary(outcomes),
                         "results": [o.as_dict() for o in outcomes]})


MAX_FILE_BYTES = 50 * 1024 * 1024


@router.post("/files", summary="上传外业点位文件（GeoJSON、CSV、XLSX、GPX、KML）")
async def upload_file(request: Request, account: CurrentAccount, conn: Db, cipher: Cipher,
                      file: Annotated[UploadFile, File(description="点位文件")],
                      crs: Annotated[str, Form()] = "wgs84") -> JSONResponse:
    if not account.writes:
        raise Forbidden("本账号不能上传点位")
    crs_code = normalize_crs(crs)
    data = await file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise PayloadTooLarge("文件超过 50 MB，请分批上传",
                              [FieldError("file", "too_large", "文件过大")])
    try:
        records = await run_in_threadpool(read_point_file, data, file.filename or "")
    except PointFileError as e:
        raise InvalidInput(e.message, [FieldError("file", e.code, e.message)]) from e
    # The whole file in this request's one transaction: a failure stores nothing.
    subs = await run_in_threadpool(to_submissions, conn, records, cipher=cipher)
    outcomes = await run_in_threadpool(collection.ingest, conn, subs, crs=crs_code,
                                       collector=account, source="file",
                                       thresholds=thresholds(request))
    return await run_in_threadpool(batch_response, outcomes, file=file.filename, crs=crs_code)


@router.get("/points/{client_uuid}", summary="查看一个已上传的点位（WGS 84）")
def get_point(conn: Db, account: CurrentAccount,
              client_uuid: Annotated[uuid.UUID, Path()]) -> dict[str, Any]:
    row = conn.execute(text("""
        SELECT sp.id, sp.client_uuid::text AS client_uuid, sp.entity_id, e.name AS entity_name,
               sp.plot_id, sp.commodity, sp.collected_at, sp.accuracy_m, sp.note, sp.flags,
               pp.township_code, t.name AS township_name, pp.grid_id, g.code AS grid_code,
               sp.input_crs, sp.input_x, sp.input_y, sp.source, sp.received_at,
               ST_AsGeoJSON(sp.geom, 8)::json AS geometry
        FROM site_point sp JOIN entity e ON e.id = sp.entity_id
        LEFT JOIN site_point_place pp ON pp.site_point_id = sp.id
        LEFT JOIN township t ON t.code = pp.township_code
        LEFT JOIN grid g ON g.id = pp.grid_id
        WHERE sp.client_uuid = :u"""), {"u": client_uuid}).first()
    if row is None:
        raise NotFound("没有这个 client_uuid 的点位",
                       [FieldError("client_uuid", "not_found", "点位不存在")])
    conflicts = conn.execute(text(
        "SELECT submitted, received_at FROM site_point_conflict WHERE client_uuid = :u "
        "ORDER BY id"), {"u": client_uuid}).all()
    props = row._asdict()
    geometry = props.pop("geometry")
    props["status"] = collection.status_of(list(row.flags))
    props["flags"] = [{"code": f, "message": FLAG_LABELS[f]} for f in row.flags]
    props["conflicts"] = [{"submitted": c.submitted, "received_at": c.received_at.isoformat()}
                          for c in conflicts]
    for key in ("collected_at", "received_at"):
        props[key] = props[key].isoformat() if props[key] else None
    return {"type": "Feature", "id": row.client_uuid, "geometry": geometry, "properties": props}
