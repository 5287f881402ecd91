"""Patrols and compliance certificates: single records or batches of up to 5,000."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Request, UploadFile
from pydantic import BaseModel, Field

from api.deps import CurrentAccount, Db
from georeg import activity
from georeg.clock import today
from importers.activity_files import read_certificates, read_patrols

router = APIRouter(tags=["巡查与合格证"])
Batch = Annotated[int, Field(ge=1)]


class PatrolIn(BaseModel):
    entity_id: int
    inspector: str = Field(min_length=1, max_length=50, description="巡查人")
    kind: Literal["online", "field"] = Field(description="online 线上巡查；field 现场检查")
    patrolled_at: datetime = Field(description="巡查时间；未带时区按北京时间")
    result: Literal["normal", "problem"] = "normal"
    findings: str | None = Field(None, max_length=2000, description="发现的问题")
    follow_up: str | None = Field(None, max_length=2000, description="整改要求或跟进")
    follow_up_due: date | None = None
    external_id: str | None = Field(None, max_length=100,
                                    description="外部编号（重复提交不重复登记）")


class CertificateIn(BaseModel):
    entity_id: int
    batch_no: str = Field(min_length=1, max_length=100, description="批次号")
    issued_on: date
    commodity: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$")
    quantity: float = Field(gt=0)
    unit: str = Field("kg", max_length=10)
    trace_code: str | None = Field(None, max_length=100, description="追溯码（一品一码）")


@router.post("/patrols", status_code=201,
             summary="登记巡查（至多 5000 条一批，全部成功或全部不保存）")
def post_patrols(request: Request, conn: Db, account: CurrentAccount,
                 body: Annotated[list[PatrolIn], Field(min_length=1, max_length=5000)]
                 ) -> dict[str, Any]:
    ids = activity.record_patrols(conn, [p.model_dump() for p in body], account=account,
                                  today=today(request.app.state.clock))
    return _stored(ids, len(body))


@router.post("/certificates", status_code=201, summary="登记承诺达标合格证（可带追溯码）")
def post_certificates(request: Request, conn: Db, account: CurrentAccount,
                      body: Annotated[list[CertificateIn], Field(min_length=1, max_length=5000)]
                      ) -> dict[str, Any]:
    ids = activity.record_certificates(conn, [c.model_dump() for c in body], account=account,
                                       today=today(request.app.state.clock))
    return _stored(ids, len(body))


def _stored(ids: list[int], sent: int) -> dict[str, Any]:
    return {"created": len(ids), "ids": ids, "skipped_existing": sent - len(ids)}


# Plain defs: FastAPI runs them in the thread pool, off the event loop; the upload is already
# spooled to a temporary file.
@router.post("/patrols/import", status_code=201,
             summary="从 CSV/XLSX 导入巡查记录（中文表头，全部成功或全部不导入）")
def import_patrols(request: Request, conn: Db, account: CurrentAccount,
                   file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    rows = read_patrols(conn, file.file.read(), file.filename or "")
    return _stored(activity.record_patrols(conn, rows, account=account,
                                           today=today(request.app.state.clock)), len(rows))


@router.post("/certificates/import", status_code=201,
             summary="从 CSV/XLSX 导入合格证与追溯码（中文表头，全部成功或全部不导入）")
def import_certificates(request: Request, conn: Db, account: CurrentAccount,
                        file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    rows = read_certificates(conn, file.file.read(), file.filename or "")
    return _stored(activity.record_certificates(conn, rows, account=account,
                                                today=today(request.app.state.clock)), len(rows))
