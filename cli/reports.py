"""`georeg report provenance|testing-progress`: reports computed from the data, four formats.

georeg.export (openpyxl) and georeg.testing are imported inside the commands: a few hundred ms
that `georeg --help` should not pay.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click

from cli.base import engine_for, fail, main, write_output
from georeg.clock import today
from georeg.config import Settings
from georeg.reports.provenance import COLUMNS as PROVENANCE_COLUMNS
from georeg.reports.provenance import latest_year as latest_collection_year
from georeg.reports.provenance import provenance_report

_FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "csv", "xlsx", "json"]),
                       default="table", show_default=True)
_OUTPUT = click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
                       help="写入文件（xlsx 必须指定）")
_XLSX_NEEDS_OUTPUT = "xlsx 格式请用 -o 指定输出文件"


@main.group("report")
def report() -> None:
    """报表（由数据计算得出）。"""


def _emit(fmt: str, output: str | None, *, rows: list[dict[str, Any]], columns: Sequence[Any],
          title: str, as_json: Any, table: Callable[[], str]) -> None:
    """The report in the chosen format, to the -o file or standard output."""
    from georeg.export import to_csv, to_xlsx  # lazy: see the module docstring

    if fmt == "xlsx":
        if not output:
            fail(_XLSX_NEEDS_OUTPUT)
        data = to_xlsx(rows, columns, title=title)
    elif fmt == "csv":
        data = to_csv(rows, columns)
    elif fmt == "json":
        data = json.dumps(as_json, ensure_ascii=False, default=str, indent=1).encode()
    else:
        data = table().encode()
    write_output(data, output)


@report.command("provenance")
@click.option("--year", type=int, default=None, help="年度（默认：最近一个有采集任务的年度）")
@click.option("--county", default=None, help="6 位县级代码，如 350524")
@_FORMAT
@_OUTPUT
@click.pass_obj
def report_provenance(settings: Settings, year: int | None, county: str | None, fmt: str,
                      output: str | None) -> None:
    """产地溯源采集完成情况：乡镇 × 8 个重点品种。"""
    as_of = today()
    with engine_for(settings).connect() as conn:
        year = year or latest_collection_year(conn, as_of)
        rows = provenance_report(conn, year=year, as_of=as_of, county=county)

    def table() -> str:
        lines = [f"{year} 年产地溯源采集完成情况（截至 {as_of}）"]
        for r in rows:
            if r["entities"]:
                lines.append(f"{r['township_name']:<6}{r['commodity_name']:<5}"
                             f"{r['collected']:>5}/{r['entities']:<5}"
                             f"{r['percent_complete']:>6}%  {r['status_label']}")
        return "\n".join(lines) + "\n"

    _emit(fmt, output, rows=rows, columns=PROVENANCE_COLUMNS, title=f"{year}年产地溯源采集",
          as_json=rows, table=table)


@report.command("testing-progress")
@click.option("--year", type=int, default=None, help="年度（默认：最近一个有快检任务的年度）")
@click.option("--quarter", type=click.IntRange(1, 4), default=None,
              help="统计到该季度末（默认：本季度，往年为四季度）")
@_FORMAT
@_OUTPUT
@click.pass_obj
def report_testing_progress(settings: Settings, year: int | None, quarter: int | None,
                            fmt: str, output: str | None) -> None:
    """快检任务与定量监测进度：按检测单位和方法，季度序时进度，禽肉禽蛋兽残占比。"""
    from georeg.testing.progress import (  # lazy: see the module docstring
        COLUMNS,
        latest_year,
        progress_text,
        testing_progress,
    )

    if fmt == "xlsx" and not output:
        fail(_XLSX_NEEDS_OUTPUT)
    as_of = today()
    with engine_for(settings).connect() as conn:
        progress = testing_progress(conn, year=year or latest_year(conn, as_of),
                                    quarter=quarter, as_of=as_of)
    _emit(fmt, output, rows=progress["rows"], columns=COLUMNS,
          title=f"{progress['year']}年快检与监测进度", as_json=progress,
          table=lambda: progress_text(progress))
