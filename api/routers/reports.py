"""Reports computed from the data: JSON, or CSV / XLSX for Excel."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from api.deps import CurrentAccount, Db, Today
from georeg.export import Columns, to_csv, to_xlsx
from georeg.reports.patrols import COLUMNS as PATROL_COLUMNS
from georeg.reports.patrols import parse_month, patrol_report
from georeg.reports.provenance import COLUMNS, latest_year, provenance_report

router = APIRouter(prefix="/reports", tags=["报表"])

Format = Annotated[Literal["json", "csv", "xlsx"], Query(description="json、csv 或 xlsx")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def table_response(rows: list[dict[str, Any]], columns: Columns, fmt: str, name: str,
                   title: str) -> Response | None:
    """CSV or XLSX download; None for JSON (the caller returns its own body)."""
    if fmt == "json":
        return None
    if fmt == "csv":
        body, media = to_csv(rows, columns), "text/csv; charset=utf-8"
    else:
        body, media = to_xlsx(rows, columns, title=title), XLSX
    return Response(body, media_type=media, headers={
        "Content-Disposition": f"attachment; filename={name}.{fmt}"})


@router.get("/provenance", summary="产地溯源采集完成情况（乡镇 × 8 个重点品种）")
def provenance(conn: Db, account: CurrentAccount, as_of: Today,
               year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
               county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
               format: Format = "json") -> Any:
    year = year or latest_year(conn, as_of)
    rows = provenance_report(conn, year=year, as_of=as_of, county=county)
    download = table_response(rows, COLUMNS, format, f"provenance-{year}",
                              f"{year}年产地溯源采集")
    if download is not None:
        return download
    return {"year": year, "as_of": as_of.isoformat(), "rows": rows}


@router.get("/patrols", summary="巡查、赋码与合格证进度（按乡镇，对照年度目标）")
def patrols(conn: Db, account: CurrentAccount, as_of: Today,
            month: Annotated[str | None, Query(description="YYYY-MM；默认本月")] = None,
            county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
            format: Format = "json") -> Any:
    year, mon = parse_month(month) if month else (as_of.year, as_of.month)
    rows = patrol_report(conn, year=year, month=mon, as_of=as_of, county=county)
    download = table_response(rows, PATROL_COLUMNS, format, f"patrols-{year}-{mon:02d}",
                              f"{year}年{mon}月巡查进度")
    if download is not None:
        return download
    return {"month": f"{year}-{mon:02d}", "as_of": as_of.isoformat(), "rows": rows,
            "behind": [r["township_name"] for r in rows if r["behind"]]}
