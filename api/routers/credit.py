"""Credit records and the key-supervision list: lookup, events, grade, list, printable report.

Resident ID and phone lookups travel in a POST body so the numbers never appear in URLs or
access logs. Every full view of personal data and every export is recorded in pii_access.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ConfigDict, Field
from sqlalchemy import Connection

from api.deps import Cipher, CurrentAccount, Db, Today
from api.limits import SHEET_LIMIT, upload_limit
from api.routers.reports import Format, table_response
from api.schemas import INT64_MAX, ApiModel, NonBlank, PathId
from api.uploads import Parsed, parsed_upload
from georeg import credit, registry
from georeg.accounts import Account
from georeg.credit.events import check_may_record, get_event
from georeg.credit.listing import LIST_COLUMNS, current_members
from georeg.credit.report import exported_fields
from georeg.errors import FieldError, InvalidInput
from georeg.pii import record_pii_access
from importers import credit_files

router = APIRouter(prefix="/credit", tags=["信用档案"])

KindCode = Literal["licence", "penalty", "patrol", "sampling", "special_inspection", "reward"]
OutcomeCode = Literal["pass", "fail", "minor", "major", "normal", "problem"]
AsOf = Annotated[date | None, Query(description="计算信用等级的日期（默认今天）")]
Reveal = Annotated[bool, Query(description="显示完整身份证号与电话（仅限授权角色，查看将被记录）")]


class PersonalLookup(ApiModel):
    model_config = ConfigDict(extra="forbid")
    resident_id: str | None = Field(None, max_length=40, description="身份证号（精确匹配）")
    phone: str | None = Field(None, max_length=40, description="电话号码（精确匹配）")


class EventIn(ApiModel):
    """A new event, or (with `corrects`) a correction: amend changes the fields given,
    void withdraws the event; both need a reason."""
    model_config = ConfigDict(extra="forbid")
    kind: KindCode | None = Field(None, description="licence 行政许可、penalty 行政处罚、"
                                  "patrol 日常巡查、sampling 抽样检测（监督抽查、监测、快检）、"
                                  "special_inspection 专项检查、reward 奖励")
    occurred_on: date | None = Field(None, description="事件日期（不能晚于今天）")
    outcome: OutcomeCode | None = Field(None, description="sampling：pass/fail；penalty："
                                        "minor/major；patrol、special_inspection：normal/problem")
    issuing_unit: str | None = Field(None, max_length=200, description="发证/处罚单位")
    document_no: str | None = Field(None, max_length=100, description="文号")
    summary: str | None = Field(None, max_length=2000, description="摘要")
    evidence_ref: str | None = Field(None, max_length=500, description="证据材料编号或位置")
    corrects: Annotated[int | None, Field(ge=1, le=INT64_MAX)] = Field(
        None, description="被更正的事件编号（同一主体）")
    action: Literal["amend", "void"] | None = Field(None, description="amend 更正；void 作废")
    reason: str | None = Field(None, max_length=1000, description="更正或作废的原因")


class ListingIn(ApiModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, NonBlank] = Field(min_length=1, max_length=1000,
                                             description="列入或移出的原因")


EARLIEST_AS_OF = date(2000, 1, 1)


def _as_of(now: date, as_of: date | None) -> date:
    if as_of is None:
        return now
    if as_of > now:
        msg = "as_of 不能晚于今天"
        raise InvalidInput(msg, [FieldError("as_of", "in_future", msg)])
    if as_of < EARLIEST_AS_OF:  # the rating looks years back: year 1 has no "before"
        msg = f"as_of 不能早于 {EARLIEST_AS_OF.isoformat()}"
        raise InvalidInput(msg, [FieldError("as_of", "too_early", msg)])
    return as_of


@router.get("/search", summary="按名称（部分匹配）或统一社会信用代码查找主体")
def search(conn: Db, account: CurrentAccount, day: Today,
           q: Annotated[str, Query(min_length=1, max_length=100,
                                   description="名称的一部分，或 18 位统一社会信用代码")]
           ) -> dict[str, Any]:
    return credit.search(conn, q, today=day)


@router.post("/search", summary="按身份证号或电话精确查找（号码放在请求体中，不进入网址和日志）")
def search_personal(conn: Db, account: CurrentAccount, cipher: Cipher, day: Today,
                    body: PersonalLookup) -> dict[str, Any]:
    return credit.search_personal(conn, cipher=cipher, today=day, account=account,
                                  resident_id=body.resident_id, phone=body.phone)


@router.get("/key-supervision", summary="当前重点监管名单（json、csv 或 xlsx）")
def key_supervision_list(conn: Db, account: CurrentAccount, day: Today,
                         township: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
                         format: Format = "json") -> Any:
    rows = current_members(conn, township=township)
    download = table_response(rows, LIST_COLUMNS, format, f"key-supervision-{day}",
                              "重点监管名单")
    if download is None:
        return {"as_of": day, "count": len(rows), "rows": rows}
    # Smallholders are people: their names leave the system in this file.
    record_pii_access(conn, account=account, fields=["name"],
                      entity_ids=[r["entity_id"] for r in rows if r["kind"] == "smallholder"],
                      purpose=f"export key-supervision list ({format})")
    return download


@router.post("/events/import", status_code=201,
             summary="批量导入信用事件（CSV 或 XLSX，中文表头；全部成功或全部不保存）")
@upload_limit(SHEET_LIMIT)
def import_events(upload: Annotated[Parsed[list[credit_files.SheetRow]], parsed_upload(
                      SHEET_LIMIT, credit_files.read_event_file, "CSV 或 XLSX 文件")],
                  conn: Db, account: CurrentAccount) -> dict[str, Any]:
    # A plain def: FastAPI runs it in a worker thread, so the database work does not block
    # the event loop (the file was read before the transaction opened).
    check_may_record(account)
    ids = credit_files.import_events(conn, upload.get(), account)
    return {"file": upload.filename, "created": len(ids), "ids": ids}


@router.get("/{entity_id}", summary="信用档案：主体、信用等级、重点监管名单、事件时间线")
def get_record(conn: Db, account: CurrentAccount, cipher: Cipher, day: Today,
               entity_id: PathId, as_of: AsOf = None, reveal: Reveal = False) -> dict[str, Any]:
    record = credit.credit_record(conn, entity_id, as_of=_as_of(day, as_of))
    if reveal:
        shown = registry.reveal_pii(conn, entity_id, account=account, cipher=cipher,
                                    purpose=f"GET /credit/{entity_id}")
        entity = record["entity"]
        entity.update({k: v for k, v in shown.items() if v is not None})
        entity["pii_masked"] = False
    return record


@router.get("/{entity_id}/report.html", response_class=HTMLResponse,
            summary="可打印的信用档案（HTML，个人信息脱敏）")
def report_html(request: Request, conn: Db, account: CurrentAccount, day: Today,
                entity_id: PathId, as_of: AsOf = None) -> HTMLResponse:
    record = credit.credit_record(conn, entity_id, as_of=_as_of(day, as_of))
    record_pii_access(conn, account=account, entity_ids=[entity_id],
                      fields=exported_fields(record["entity"]),
                      purpose="export credit report (html)")
    page = credit.render_html(record, generated_at=request.app.state.clock(),
                              generated_by=account.display_name)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@router.post("/{entity_id}/events", status_code=201,
             summary="登记信用事件，或更正/作废已有事件（填写 corrects）")
def post_event(conn: Db, account: CurrentAccount, entity_id: PathId, body: EventIn,
               response: Response) -> dict[str, Any]:
    event_id = credit.add_event(conn, entity_id, body.model_dump(exclude_unset=True),
                                account=account)
    response.headers["Location"] = f"/api/v1/credit/{entity_id}"
    return get_event(conn, event_id)


# credit.list_manually or delist_manually
ChangeListing = Callable[..., object]


def _change_listing(change: ChangeListing, conn: Connection, entity_id: PathId, body: ListingIn,
                    account: Account, day: date) -> dict[str, Any]:
    registry.get_entity(conn, entity_id)  # an unknown entity is a 404 before the role check
    change(conn, entity_id, reason=body.reason, account=account, today=day)
    return credit.memberships(conn, entity_id, day)


@router.post("/{entity_id}/key-supervision", status_code=201,
             summary="人工列入重点监管名单（须注明原因）")
def list_entity(conn: Db, account: CurrentAccount, day: Today, entity_id: PathId,
                body: ListingIn) -> dict[str, Any]:
    return _change_listing(credit.list_manually, conn, entity_id, body, account, day)


@router.delete("/{entity_id}/key-supervision",
               summary="将人工列入的主体移出重点监管名单（须注明原因；按规则列入的不受影响）")
def delist_entity(conn: Db, account: CurrentAccount, day: Today, entity_id: PathId,
                  body: ListingIn) -> dict[str, Any]:
    return _change_listing(credit.delist_manually, conn, entity_id, body, account, day)
