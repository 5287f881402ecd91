"""Rapid tests, lab results, the MRL table, and the testing-progress report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from sqlalchemy import Connection

from api.deps import CurrentAccount, Db, Today
from api.limits import SHEET_LIMIT, upload_limit
from api.routers.reports import Format, table_response
from api.schemas import OFFSET_MAX, PathId, QueryId
from api.uploads import Parsed, parsed_upload
from georeg.accounts import Account
from georeg.testing import mrl, progress, results, review
from importers import testing_files

router = APIRouter(prefix="/testing", tags=["检测"])
reports = APIRouter(prefix="/reports", tags=["报表"])

Records = dict[str, Any] | list[dict[str, Any]]
BATCH = "一条记录（对象）或一批（数组，至多 5000 条，全部成功或全部不保存）"
Year = Annotated[int | None, Query(ge=2000, le=2100)]
Unit = Annotated[str | None, Query(pattern=r"^(county|[0-9]{12})$",
                                   description="county（县级）或 12 位乡镇代码")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=OFFSET_MAX)]
Sheet = list[testing_files.SheetRow]
RapidTestSheet = Annotated[Parsed[Sheet], parsed_upload(SHEET_LIMIT,
                                                        testing_files.rapid_test_sheet)]
MrlSheet = Annotated[Parsed[Sheet], parsed_upload(SHEET_LIMIT, testing_files.mrl_sheet)]

RAPID_EXAMPLE = {"entity_id": 1, "commodity": "cowpea", "sampled_on": "2023-05-04",
                 "unit": "350524113000", "method": "colloidal_gold", "parameter": "克百威",
                 "result": "pass", "sample_no": "KJ-2023-0001"}
LAB_EXAMPLE = {"entity_id": 1, "commodity": "cowpea", "sampled_on": "2023-05-04",
               "unit": "county", "kind": "supervisory_sampling",
               "lab": "县农产品质量安全检测站", "report_no": "AX-2023-0001",
               "analytes": [{"substance": "克百威", "not_detected": True, "lod_mg_kg": 0.005},
                            {"substance": "毒死蜱", "value_mg_kg": 0.012}]}


REVIEW_EXAMPLE = {"decisions": [{"substance": "未列入农药", "judgement": "fail",
                                 "basis": "参照 GB 2763-2021 同类蔬菜限量 0.05 mg/kg",
                                 "limit_mg_kg": 0.05}],
                  "note": "县农安中心复核"}


# results.record_rapid_tests or record_lab_results: all rows stored, or none
Record = Callable[..., dict[str, Any]]


def _store(record: Record, conn: Connection, body: Records, account: Account, day: date
           ) -> dict[str, Any]:
    """One record (an object) or a batch (an array), stored by `record`."""
    rows = body if isinstance(body, list) else [body]
    return record(conn, rows, account=account, today=day)


@router.post("/rapid-tests", status_code=201,
             summary="登记快检结果（一条或一批；不合格自动记入信用档案并列入重点监管名单）")
def post_rapid_tests(conn: Db, account: CurrentAccount, day: Today,
                     body: Annotated[Records, Body(description=BATCH, openapi_examples={
                         "one": {"value": RAPID_EXAMPLE}})]) -> dict[str, Any]:
    return _store(results.record_rapid_tests, conn, body, account, day)


# Plain def: FastAPI runs it in the thread pool; the file was read before the transaction.
@router.post("/rapid-tests/import", status_code=201,
             summary="从 CSV/XLSX 导入快检结果（中文表头，全部成功或全部不导入）")
@upload_limit(SHEET_LIMIT)
def import_rapid_tests(upload: RapidTestSheet, conn: Db, account: CurrentAccount, day: Today
                       ) -> dict[str, Any]:
    rows = testing_files.read_rapid_test_file(conn, upload.get())
    return _store(results.record_rapid_tests, conn, rows, account, day)


@router.get("/rapid-tests", summary="快检结果列表")
def get_rapid_tests(conn: Db, account: CurrentAccount, year: Year = None, unit: Unit = None,
                    method: Literal["colloidal_gold", "enzyme_inhibition", "veterinary"]
                    | None = None, result: Literal["pass", "fail"] | None = None,
                    entity_id: QueryId = None, commodity: str | None = None,
                    limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    return results.list_rapid_tests(conn, year=year, unit=unit, method=method, result=result,
                                    entity_id=entity_id, commodity=commodity, limit=limit,
                                    offset=offset)


@router.post("/lab-results", status_code=201,
             summary="登记定量检测结果（按限量表和禁用农药名单判定；不合格记入信用档案）")
def post_lab_results(conn: Db, account: CurrentAccount, day: Today,
                     body: Annotated[Records, Body(description=BATCH, openapi_examples={
                         "one": {"value": LAB_EXAMPLE}})]) -> dict[str, Any]:
    return _store(results.record_lab_results, conn, body, account, day)


@router.get("/lab-results",
            summary="定量检测结果列表（含各检测项目的判定与复核判定；result=review 为待复核）")
def get_lab_results(conn: Db, account: CurrentAccount, year: Year = None, unit: Unit = None,
                    kind: Literal["routine_monitoring", "risk_monitoring",
                                  "supervisory_sampling"] | None = None,
                    result: Literal["pass", "fail", "review"] | None = None,
                    entity_id: QueryId = None, commodity: str | None = None,
                    limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    return results.list_lab_results(conn, year=year, unit=unit, kind=kind, result=result,
                                    entity_id=entity_id, commodity=commodity, limit=limit,
                                    offset=offset)


@router.post("/lab-results/{sample_id}/review",
             summary="复核判定待复核样品（逐项判定合格或不合格并写明依据；县级监管员、系统管理员；"
                     "不合格记入信用档案）")
def post_lab_review(conn: Db, account: CurrentAccount,
                    sample_id: PathId,
                    body: Annotated[dict[str, Any], Body(
                        description="decisions：每个待复核检测项目一项（substance、judgement 为 "
                                    "pass 或 fail、basis 判定依据、可选 limit_mg_kg 参考限量）；"
                                    "note：可选说明",
                        openapi_examples={"one": {"value": REVIEW_EXAMPLE}})]) -> dict[str, Any]:
    return review.settle_review_request(conn, sample_id, body, account=account)


@router.get("/mrl", summary="最大残留限量表（现行；history=true 含已被替换的版本）")
def get_mrl(conn: Db, account: CurrentAccount, substance: str | None = None,
            history: bool = False, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    return mrl.list_mrl(conn, substance=substance, history=history, limit=limit, offset=offset)


@router.post("/mrl/import", status_code=201,
             summary="导入最大残留限量表（CSV/XLSX；每行须注明标准、条款和原文）")
@upload_limit(SHEET_LIMIT)
def import_mrl(upload: MrlSheet, conn: Db, account: CurrentAccount) -> dict[str, Any]:
    mrl.check_may_load(account)  # before the file's errors: a refused account learns nothing
    return testing_files.import_mrl(conn, upload.get(), upload.filename, account=account)


@reports.get("/testing-progress",
             summary="快检任务与定量监测进度（按检测单位和方法，季度序时进度）")
def testing_progress(conn: Db, account: CurrentAccount, as_of: Today, year: Year = None,
                     quarter: Annotated[int | None, Query(ge=1, le=4)] = None,
                     format: Format = "json") -> Any:
    report = progress.testing_progress(conn, year=year or progress.latest_year(conn, as_of),
                                       quarter=quarter, as_of=as_of)
    download = table_response(report["rows"], progress.COLUMNS, format,
                              f"testing-progress-{report['year']}-q{report['quarter']}",
                              f"{report['year']}年快检与监测进度")
    return download if download is not None else report
