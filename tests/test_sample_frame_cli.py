"""`georeg sample --frame FILE.csv`: a candidate list from a file, no database."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from cli import main


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["sample", *args], env={"GEOREG_DATABASE_URL": ""})


def rows(result: Result) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(result.stdout)))


@pytest.fixture
def metre_frame(tmp_path: Path) -> Path:
    rng = np.random.default_rng(4)
    lines = ["id,x,y,town,risk"]
    for i in range(300):
        town = "城厢镇" if i < 200 else "湖头镇"
        lines.append(f"F{i:03d},{rng.uniform(0, 20_000):.1f},{rng.uniform(0, 15_000):.1f},"
                     f"{town},{1 + (i % 7 == 0)}")
    path = tmp_path / "frame.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_base_then_replacements_with_probabilities(metre_frame: Path) -> None:
    result = run("--frame", str(metre_frame), "--n", "12", "--method", "grts", "--seed", "7",
                 "--over", "3")
    assert result.exit_code == 0, result.stderr
    out = rows(result)
    assert list(out[0]) == ["id", "rank", "role", "inclusion_probability"]
    assert [r["rank"] for r in out] == [str(k) for k in range(1, 16)]
    assert [r["role"] for r in out] == ["base"] * 12 + ["replacement"] * 3
    assert len({r["id"] for r in out}) == 15
    # equal probabilities: n / N for every unit, base or replacement
    assert [float(r["inclusion_probability"]) for r in out] == pytest.approx([12 / 300] * 15)
    figures = re.findall(r"(\d\.\d{4})", result.stderr)
    assert "空间均衡度" in result.stderr and "简单随机抽样" in result.stderr
    assert len(figures) == 2 and float(figures[0]) < float(figures[1])
    assert "随机种子 7" in result.stderr
    # the same seed gives the same list; another seed or method another
    assert run("--frame", str(metre_frame), "--n", "12", "--seed", "7",
               "--over", "3").stdout == result.stdout
    assert run("--frame", str(metre_frame), "--n", "12", "--seed", "8",
               "--over", "3").stdout != result.stdout
    lpm = run("--frame", str(metre_frame), "--n", "12", "--method", "lpm", "--seed", "7")
    assert lpm.exit_code == 0 and lpm.stdout != result.stdout and len(rows(lpm)) == 12


def test_strata_weights_and_legacy(metre_frame: Path, tmp_path: Path) -> None:
    result = run("--frame", str(metre_frame), "--n", "9", "--method", "lpm", "--seed", "1",
                 "--stratum-column", "town", "--weight-column", "risk", "--over", "3")
    assert result.exit_code == 0, result.stderr
    out = rows(result)
    assert list(out[0])[-1] == "stratum"
    base = [r for r in out if r["role"] == "base"]
    assert sum(r["stratum"] == "城厢镇" for r in base) == 6  # 9 * 200/300
    assert sum(r["stratum"] == "湖头镇" for r in base) == 3
    assert "层 城厢镇：单位 200，样本 6" in result.stderr
    # risk 2 units have twice the probability of risk 1 units within a stratum
    probs = {(r["stratum"], int(r["id"][1:]) % 7 == 0): float(r["inclusion_probability"])
             for r in out}
    compared = [town for town in ("城厢镇", "湖头镇")
                if (town, True) in probs and (town, False) in probs]
    assert compared
    for town in compared:
        assert probs[(town, True)] == pytest.approx(2 * probs[(town, False)])
    # must-sample units are base units with probability 1
    text = metre_frame.read_text(encoding="utf-8").splitlines()
    text[0] += ",must"
    text[1:] = [line + (",是" if k in (0, 5) else ",") for k, line in enumerate(text[1:])]
    legacy = tmp_path / "legacy.csv"
    legacy.write_text("\n".join(text) + "\n", encoding="utf-8")
    result = run("--frame", str(legacy), "--n", "4", "--seed", "2", "--legacy-column", "must",
                 "--method", "srs")
    assert result.exit_code == 0, result.stderr
    base = {r["id"]: float(r["inclusion_probability"]) for r in rows(result)}
    assert base["F000"] == base["F005"] == 1.0 and len(base) == 4


def test_lon_lat_frame_in_gbk_with_chinese_headers(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    lines = ["编号,id,经度,纬度"]
    for i in range(80):
        lines.append(f"{i},A{i},{118.0 + rng.uniform(0, 0.3):.6f},{25.0 + rng.uniform(0, 0.2):.6f}")
    path = tmp_path / "lonlat.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    result = run("--frame", str(path), "--n", "8", "--seed", "3")
    assert result.exit_code == 0, result.stderr
    assert len(rows(result)) == 8 and "经纬度已投影为米" in result.stderr


@pytest.mark.parametrize(("content", "args", "fragment"), [
    ("id,x,y\n1,0,0\n2,1,1\n", ["--n", "3"], "样本量 3 大于抽样框的单位数 2"),
    ("id,x,y\n1,0,0\n2,1,1\n", ["--n", "0"], "样本量须为正整数"),
    ("id,east,north\n1,0,0\n", ["--n", "1"], "缺少列：坐标"),
    ("x,y\n0,0\n", ["--n", "1"], "缺少列：id"),
    ("id,x,y\n1,0,0\n2,1,1\n", ["--n", "1", "--stratum-column", "town"], "分层列“town”"),
    ("id,x,y\n1,0,0\n2,abc,1\n3,2,2\n", ["--n", "1"], "第 3 行：x 坐标不是数字（abc）"),
    ("id,x,y\n1,0,0\n2,1,\n", ["--n", "1"], "第 3 行：y 坐标不是数字（空）"),
    ("id,lon,lat\n1,118,25\n2,218,25\n", ["--n", "1"], "第 3 行：经纬度超出范围"),
    ("id,x,y,w\n1,0,0,1\n2,1,1,0\n", ["--n", "1", "--weight-column", "w"], "第 3 行：权重须大于 0"),
    ("id,x,y\n1,0,0\n1,1,1\n", ["--n", "1"], "第 3 行：id“1”与第 2 行重复"),
    ("id,x,y\n", ["--n", "1"], "没有数据行"),
    ("id,x,y\n1,0,0\n2,1,1\n", ["--n", "1", "--over", "5"], "大于抽样框"),
])
def test_bad_input_is_refused_with_a_reason(tmp_path: Path, content: str, args: list[str],
                                            fragment: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    result = run("--frame", str(path), "--seed", "1", *args)
    assert result.exit_code == 1
    assert fragment in result.stderr, result.stderr
    assert result.stdout == ""


def test_database_mode_needs_a_frame_for_now() -> None:
    result = run("--n", "5")
    assert result.exit_code == 1 and "需要 --frame" in result.stderr
