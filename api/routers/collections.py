"""Provenance collection: batches of GPS site points from the field."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from api.deps import Cipher, CurrentAccount, Db, settings
from georeg import collection
from georeg.collection import FLAG_LABELS, Thresholds
from georeg.collection_geojson import ingest_geojson
from georeg.crs import normalize_crs
from georeg.errors import (
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from importers.point_files import PointFileError, read_point_file
from importers.points import to_submissions

router = APIRouter(prefix="/collections", tags=["产地溯源信息采集"])

JSON_TYPES = ("application/json", "application/geo+json")


def thresholds(request: Request) -> Thresholds:
    s = settings(request)
    return Thresholds(max_accuracy_m=s.collection_max_accuracy_m,
                      far_from_plots_m=s.collection_far_from_plots_m)


CrsQuery = Annotated[str, Query(description="wgs84（默认）、cgcs2000、gcj02、bd09 或 EPSG 代码")]


@router.post("/points", summary="批量上传产地点位（GeoJSON FeatureCollection，每批至多 5000 个）",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/geo+json": {"schema": {"type": "object"}}}}})
async def upload_points(request: Request, account: CurrentAccount, conn: Db,
                        crs: CrsQuery = "wgs84") -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise UnsupportedMediaType("请以 application/geo+json 或 application/json 提交",
                                   [FieldError("content-type", "unsupported", "内容类型不受支持")])
    if not account.writes:
        raise Forbidden("本账号不能上传点位")
    crs_code = normalize_crs(crs)
    body = await request.body()
    # The body goes to PostgreSQL as it came, and the answer comes back as JSON text
    # (georeg/collection_geojson.py). In the thread pool: on the event loop the half second
    # a batch takes would hold every other request.
    answer = await run_in_threadpool(ingest_geojson, conn, body, crs=crs_code,
                                     collector=account, thresholds=thresholds(request))
    return Response(answer.encode(), media_type="application/json")


def batch_response(outcomes: list[collection.Outcome], **head: Any) -> JSONResponse:
    """The answer to a file's rows, serialised directly: FastAPI's generic encoder took
    longer over 5,000 results than storing them."""
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
