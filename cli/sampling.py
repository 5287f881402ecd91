"""`georeg sample`: a spatially balanced sample of a CSV frame, or a saved plan from a request.

georeg.sampling is imported inside the command: numba and its compiled loops take seconds to
load, which `georeg --help` and every other command should not pay.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import click

from cli.base import account, fail, main, transaction
from georeg.clock import today
from georeg.config import Settings
from georeg.errors import GeoregError


@main.command("sample")
@click.option("--frame", "frame_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="抽样框 CSV：id 与 x、y（米）或 lon、lat（经纬度）")
@click.option("--n", "n", type=int, default=None, help="样本量（分层时为各层之和；--frame 时必填）")
@click.option("--method", type=click.Choice(["grts", "lpm", "srs"]), default="grts",
              show_default=True, help="grts 空间均衡、lpm 局部枢轴法、srs 简单随机")
@click.option("--seed", type=int, default=None, help="随机种子（省略时随机生成并报告）")
@click.option("--stratum-column", default=None, help="分层列名")
@click.option("--allocation", type=click.Choice(["proportional", "equal"]),
              default="proportional", show_default=True, help="分层时的样本分配")
@click.option("--weight-column", default=None, help="权重列名（入样概率与权重成正比）")
@click.option("--legacy-column", default=None, help="必抽列名（1/是 为必抽单位）")
@click.option("--over", type=int, default=0, show_default=True, help="替补单位数")
@click.option("--request", "request_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="不用 --frame 时：抽样计划请求 JSON（同 POST "
              "/api/v1/sampling/plans），按数据库登记的主体抽样并保存计划")
@click.option("--as", "username", default="admin", show_default=True,
              help="--request：以哪个账号制定计划")
@click.option("--json", "as_json", is_flag=True, help="--request：以 JSON 输出整个计划")
@click.pass_obj
def sample_cmd(settings: Settings, frame_file: str | None, n: int | None, method: str,
               seed: int | None, stratum_column: str | None, allocation: str,
               weight_column: str | None, legacy_column: str | None, over: int,
               request_file: str | None, username: str, as_json: bool) -> None:
    """抽样：CSV 写到标准输出（id,rank,role,inclusion_probability），均衡度写到标准错误。

    role 为 base（基本样本）或 replacement（替补，按顺序使用，分层时用同层替补）。
    --request plan.json（不用 --frame）则按数据库中的登记主体制定并保存抽样计划。
    """
    if request_file is not None and frame_file is None:
        _sample_request(settings, request_file, username=username, as_json=as_json)
        return
    if frame_file is not None and n is None:
        fail("需要 --n：样本量")
    if seed is None:
        seed = secrets.randbelow(2**31)
    if frame_file is None:
        fail("需要 --frame（抽样框 CSV）或 --request（抽样计划请求 JSON，按数据库抽样）")
    _sample_frame(frame_file, n=n, method=method, seed=seed, stratum_column=stratum_column,
                  allocation=allocation, weight_column=weight_column,
                  legacy_column=legacy_column, over=over)


def _sample_request(settings: Settings, request_file: str, *, username: str,
                    as_json: bool) -> None:
    """A plan from a request file, drawn from the database and saved (same rules as the API)."""
    from georeg.sampling.plans import (  # lazy: see the module docstring
        create_plan,
        parse_request,
        plan_text,
    )

    try:
        raw = json.loads(Path(request_file).read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as e:
        fail(f"{request_file}：不是有效的 JSON（{type(e).__name__}）")
    day = today()
    try:
        req = parse_request(raw)
        with transaction(settings, day) as conn:
            planner = account(conn, username)
            plan = create_plan(conn, req, account=planner, today=day, raw=raw)
    except GeoregError as e:  # nothing was saved: the transaction rolled back
        fail(f"{request_file}：{e.detail}"
             + "".join(f"\n  {x.field}：{x.message}" for x in e.errors))
    if as_json:
        click.echo(json.dumps(plan, ensure_ascii=False, indent=1))
    else:
        click.echo(plan_text(plan), nl=False)


def _sample_frame(frame_file: str, *, n: int, method: str, seed: int,
                  stratum_column: str | None, allocation: str, weight_column: str | None,
                  legacy_column: str | None, over: int) -> None:
    from georeg.sampling import (  # lazy: see the module docstring
        METHOD_LABELS,
        SamplingError,
        select,
        srs_balance_mean,
    )
    from georeg.sampling.balance import default_reps
    from importers.frame_files import FrameError, read_frame, write_selection_csv

    try:
        frame = read_frame(Path(frame_file).read_bytes(), stratum_column=stratum_column,
                           weight_column=weight_column, legacy_column=legacy_column)
        selection = select(frame.x, frame.y, n, method=method, seed=seed,  # type: ignore[arg-type]
                           weights=frame.weights, strata=frame.strata,
                           allocation=allocation,  # type: ignore[arg-type]
                           legacy=frame.legacy, over=over)
    except FrameError as e:
        fail(f"{frame_file}：{e.message}")
    except SamplingError as e:
        fail(e.detail)
    sys.stdout.write(write_selection_csv(frame, selection))
    size = len(frame.ids)
    projected = "（经纬度已投影为米）" if frame.projected_from_lonlat else ""
    replacements = int((~selection.is_base).sum())
    click.echo(f"抽样框 {size} 个单位{projected}；{METHOD_LABELS[method]}；样本 {n}，"
               f"替补 {replacements}；随机种子 {seed}", err=True)
    if frame.strata is not None:
        for key, (units, allocated) in selection.stratum_sizes.items():
            click.echo(f"  层 {key}：单位 {units}，样本 {allocated}", err=True)
    if selection.balance is None:
        click.echo("空间均衡度：样本少于 2 个，无法计算", err=True)
        return
    reps = default_reps(size)
    srs_mean = srs_balance_mean(frame.x, frame.y, selection.frame_probability,
                                int(selection.is_base.sum()), seed, reps=reps)
    click.echo(f"空间均衡度（Pielou，0 为最均衡）：{selection.balance:.4f}；"
               f"同一抽样框简单随机抽样 {reps} 次的平均值：{srs_mean:.4f}", err=True)
