"""Provenance collection: batches of GPS site points from the field."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from api.deps import Cipher, CurrentAccount, Db
from api.limits import POINT_FILE_LIMIT, upload_limit
from api.uploads import Parsed, parsed_upload
from georeg import collection
from georeg.collection import FLAG_LABELS, Thresholds, ingest_geojson
from georeg.config import Settings
from georeg.crs import normalize_crs
from georeg.errors import FieldError, NotFound, UnsupportedMediaType
from importers.point_files import PointRecord, read_point_file
from importers.points import to_submissions

router = APIRouter(prefix="/collections", tags=["产地溯源信息采集"])

JSON_TYPES = ("application/json", "application/geo+json")


def thresholds(request: Request) -> Thresholds:
    s: Settings = request.app.state.settings
    return Thresholds(max_accuracy_m=s.collection_max_accuracy_m,
                      far_from_plots_m=s.collection_far_from_plots_m)


CrsQuery = Annotated[str, Query(description="wgs84（默认）、cgcs2000、gcj02、bd09 或 EPSG 代码")]
PointFile = Annotated[Parsed[list[PointRecord]],
                      parsed_upload(POINT_FILE_LIMIT, read_point_file, "点位文件")]


async def raw_body(request: Request) -> bytes:
    """The whole body, read before the transaction opens (a slow sender holds no connection);
    the body limit middleware has bounded it."""
    return await request.body()


@router.post("/points", summary="批量上传产地点位（GeoJSON FeatureCollection，每批至多 5000 个）",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/geo+json": {"schema": {"type": "object"}}}}})
@upload_limit(POINT_FILE_LIMIT)
async def upload_points(request: Request, body: Annotated[bytes, Depends(raw_body)],
                        account: CurrentAccount, conn: Db, crs: CrsQuery = "wgs84") -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise UnsupportedMediaType("请以 application/geo+json 或 application/json 提交",
                                   [FieldError("content-type", "unsupported", "内容类型不受支持")])
    collection.check_may_collect(account)
    crs_code = normalize_crs(crs)
    # The body goes to PostgreSQL as it came, and the answer comes back as JSON text
    # (georeg/collection/geojson.py). In the thread pool: on the event loop the half second
    # a batch takes would hold every other request.
    answer = await run_in_threadpool(ingest_geojson, conn, body, crs=crs_code,
                                     collector=account, thresholds=thresholds(request))
    return Response(answer.encode(), media_type="application/json")


def batch_response(outcomes: list[collection.Outcome], **head: Any) -> JSONResponse:
    """The answer to a file's rows, serialised directly: FastAPI's generic encoder took
    longer over 5,000 results than storing them."""
    return JSONResponse({**head, "summary": collection.summary(outcomes),
                         "results": [o.as_dict() for o in outcomes]})


@router.post("/files", summary="上传外业点位文件（GeoJSON、CSV、XLSX、GPX、KML）")
@upload_limit(POINT_FILE_LIMIT)
async def upload_file(request: Request, upload: PointFile, account: CurrentAccount, conn: Db,
                      cipher: Cipher, crs: Annotated[str, Form()] = "wgs84") -> JSONResponse:
    collection.check_may_collect(account)
    crs_code = normalize_crs(crs)
    records = upload.get()
    # The whole file in this request's one transaction: a failure stores nothing.
    subs = await run_in_threadpool(to_submissions, conn, records, cipher=cipher)
    outcomes = await run_in_threadpool(collection.ingest, conn, subs, crs=crs_code,
                                       collector=account, source="file",
                                       thresholds=thresholds(request))
    return await run_in_threadpool(batch_response, outcomes, file=upload.filename, crs=crs_code)


@router.get("/points/{client_uuid}", summary="查看一个已上传的点位（WGS 84）")
def get_point(conn: Db, account: CurrentAccount,
              client_uuid: Annotated[uuid.UUID, Path()]) -> dict[str, Any]:
    point = collection.stored_point(conn, client_uuid)
    if point is None:
        raise NotFound("没有这个 client_uuid 的点位",
                       [FieldError("client_uuid", "not_found", "点位不存在")])
    props = dict(point.properties)
    flags = list(props["flags"])
    props["status"] = collection.status_of(flags)
    props["flags"] = [{"code": f, "message": FLAG_LABELS[f]} for f in flags]
    props["conflicts"] = [{"submitted": c.submitted, "received_at": c.received_at.isoformat()}
                          for c in point.conflicts]
    for key in ("collected_at", "received_at"):
        props[key] = props[key].isoformat() if props[key] else None
    return {"type": "Feature", "id": props["client_uuid"], "geometry": point.geometry,
            "properties": props}
