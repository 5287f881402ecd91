"""Patrols and compliance certificates: single records or batches of up to 5,000."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import Connection

from api.deps import CurrentAccount, Db, Today
from api.limits import SHEET_LIMIT, upload_limit
from api.schemas import ApiModel, Id, NonBlank
from api.uploads import Parsed, parsed_upload
from georeg import activity
from georeg.accounts import Account
from importers.activity_files import (
    certificate_sheet,
    patrol_sheet,
    read_certificates,
    read_patrols,
)
from importers.tables import SheetRow

router = APIRouter(tags=["巡查与合格证"])
Batch = Annotated[int, Field(ge=1)]
# activity.record_patrols or record_certificates: the ids stored, rows already there skipped
Record = Callable[..., list[int]]


class PatrolIn(ApiModel):
    entity_id: Id
    inspector: Annotated[str, NonBlank] = Field(min_length=1, max_length=50, description="巡查人")
    kind: Literal["online", "field"] = Field(description="online 线上巡查；field 现场检查")
    patrolled_at: datetime = Field(description="巡查时间；未带时区按北京时间")
    result: Literal["normal", "problem"] = "normal"
    findings: str | None = Field(None, max_length=2000, description="发现的问题")
    follow_up: str | None = Field(None, max_length=2000, description="整改要求或跟进")
    follow_up_due: date | None = None
    external_id: str | None = Field(None, max_length=100,
                                    description="外部编号（重复提交不重复登记）")


class CertificateIn(ApiModel):
    entity_id: Id
    batch_no: Annotated[str, NonBlank] = Field(min_length=1, max_length=100, description="批次号")
    issued_on: date
    commodity: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$")
    # numeric(14, 2): at least a hundredth, below a trillion
    quantity: float = Field(ge=0.01, lt=1e12)
    unit: str = Field("kg", max_length=10)
    trace_code: str | None = Field(None, max_length=100, description="追溯码（一品一码）")


def _store(record: Record, conn: Connection, rows: list[dict[str, Any]], account: Account,
           day: date) -> dict[str, Any]:
    ids = record(conn, rows, account=account, today=day)
    return {"created": len(ids), "ids": ids, "skipped_existing": len(rows) - len(ids)}


@router.post("/patrols", status_code=201,
             summary="登记巡查（至多 5000 条一批，全部成功或全部不保存）")
def post_patrols(conn: Db, account: CurrentAccount, day: Today,
                 body: Annotated[list[PatrolIn], Field(min_length=1, max_length=5000)]
                 ) -> dict[str, Any]:
    return _store(activity.record_patrols, conn, [p.model_dump() for p in body], account, day)


@router.post("/certificates", status_code=201, summary="登记承诺达标合格证（可带追溯码）")
def post_certificates(conn: Db, account: CurrentAccount, day: Today,
                      body: Annotated[list[CertificateIn], Field(min_length=1, max_length=5000)]
                      ) -> dict[str, Any]:
    return _store(activity.record_certificates, conn, [c.model_dump() for c in body], account,
                  day)


PatrolSheet = Annotated[Parsed[list[SheetRow]], parsed_upload(SHEET_LIMIT, patrol_sheet)]
CertificateSheet = Annotated[Parsed[list[SheetRow]], parsed_upload(SHEET_LIMIT,
                                                                   certificate_sheet)]


# Plain defs: FastAPI runs them in the thread pool, off the event loop; the file was read
# (in a dependency, also in the pool) before the transaction opened.
@router.post("/patrols/import", status_code=201,
             summary="从 CSV/XLSX 导入巡查记录（中文表头，全部成功或全部不导入）")
@upload_limit(SHEET_LIMIT)
def import_patrols(upload: PatrolSheet, conn: Db, account: CurrentAccount, day: Today
                   ) -> dict[str, Any]:
    rows = read_patrols(conn, upload.get())
    return _store(activity.record_patrols, conn, rows, account, day)


@router.post("/certificates/import", status_code=201,
             summary="从 CSV/XLSX 导入合格证与追溯码（中文表头，全部成功或全部不导入）")
@upload_limit(SHEET_LIMIT)
def import_certificates(upload: CertificateSheet, conn: Db, account: CurrentAccount,
                        day: Today) -> dict[str, Any]:
    rows = read_certificates(conn, upload.get())
    return _store(activity.record_certificates, conn, rows, account, day)
