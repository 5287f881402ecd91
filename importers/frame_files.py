"""Candidate-list files for `georeg sample --frame`: the frame CSV in, the chosen units' CSV out.

The file has a header row with `id` and either `x`,`y` (projected, metres) or `lon`,`lat`
(WGS 84 degrees; `lng`, `longitude`, `latitude`, 经度, 纬度 also accepted), plus optional
stratum, weight and legacy columns named on the command line. Comma- or tab-separated;
encodings as importers.tables decodes them (UTF-8 with or without BOM, GB18030/GBK as Excel
saves, UTF-16 with a BOM). Longitude/latitude become metres in the kernel
(georeg.sampling.frame.project_lonlat), which also holds the frame and the chosen rows.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from georeg.errors import FieldError, InvalidInput
from georeg.sampling.design import Selection
from georeg.sampling.frame import Frame, project_lonlat, selection_rows
from importers.tables import Unreadable, decode_text

LON_NAMES = ("lon", "lng", "longitude", "经度")
LAT_NAMES = ("lat", "latitude", "纬度")
TRUE_WORDS = {"1", "true", "yes", "y", "t", "是", "必抽"}
FALSE_WORDS = {"", "0", "false", "no", "n", "f", "否"}


class FrameError(InvalidInput):
    """A frame file that cannot be used; `message` is zh-CN and names the row or column.

    An input error of the kernel, like the other file readers' (field "file")."""

    def __init__(self, message: str) -> None:
        super().__init__(message, [FieldError("file", "invalid_frame", message)])
        self.message = message


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    folded = [h.strip().lower() for h in header]
    for name in names:
        if name.lower() in folded:
            return folded.index(name.lower())
    return None


def _number(raw: str, line: int, label: str) -> float:
    try:
        value = float(raw.strip().replace(",", ""))
    except ValueError:
        shown = raw.strip()[:20] or "空"
        raise FrameError(f"第 {line} 行：{label}不是数字（{shown}）") from None
    if not np.isfinite(value):
        raise FrameError(f"第 {line} 行：{label}不是有限数值（{raw.strip()[:20]}）")
    return value


def read_frame(data: bytes, *, stratum_column: str | None = None,
               weight_column: str | None = None, legacy_column: str | None = None) -> Frame:
    """Parse a frame CSV; raise FrameError with a zh-CN message naming the row or column."""
    try:
        text = decode_text(data)
    except Unreadable:
        raise FrameError("无法识别文件的文字编码：请另存为 UTF-8 编码的 CSV") from None
    sample = text[:4096]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    while rows and not any(c.strip() for c in rows[0]):
        rows.pop(0)
    if not rows:
        raise FrameError("文件为空：需要表头行（id、x、y 或 id、lon、lat）")
    header = [h.strip().removeprefix("\ufeff") for h in rows[0]]
    id_col = _column(header, ("id",))
    x_col, y_col = _column(header, ("x",)), _column(header, ("y",))
    lonlat = x_col is None or y_col is None
    if lonlat:
        x_col, y_col = _column(header, LON_NAMES), _column(header, LAT_NAMES)
    missing = []
    if id_col is None:
        missing.append("id")
    if x_col is None or y_col is None:
        missing.append("坐标（x、y 米，或 lon、lat 经纬度）")
    extra: dict[str, int] = {}
    for label, name in (("分层", stratum_column), ("权重", weight_column),
                        ("必抽", legacy_column)):
        if name:
            col = _column(header, (name,))
            if col is None:
                missing.append(f"{label}列“{name}”")
            else:
                extra[label] = col
    if missing:
        shown = "、".join(h for h in header if h)[:200] or "（空）"
        raise FrameError(f"缺少列：{'；'.join(missing)}。表头为：{shown}")
    assert id_col is not None and x_col is not None and y_col is not None
    ids: list[str] = []
    xs: list[float] = []
    ys: list[float] = []
    strata: list[str] = []
    weights: list[float] = []
    legacy: list[bool] = []
    seen: dict[str, int] = {}
    width = max(id_col, x_col, y_col, *extra.values()) + 1
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        cells = row + [""] * (width - len(row))
        uid = cells[id_col].strip()
        if not uid:
            raise FrameError(f"第 {line} 行：id 为空")
        if uid in seen:
            raise FrameError(f"第 {line} 行：id“{uid[:40]}”与第 {seen[uid]} 行重复")
        seen[uid] = line
        ids.append(uid)
        xs.append(_number(cells[x_col], line, "经度" if lonlat else "x 坐标"))
        ys.append(_number(cells[y_col], line, "纬度" if lonlat else "y 坐标"))
        if "分层" in extra:
            value = cells[extra["分层"]].strip()
            if not value:
                raise FrameError(f"第 {line} 行：分层列“{stratum_column}”为空")
            strata.append(value)
        if "权重" in extra:
            weight = _number(cells[extra["权重"]], line, "权重")
            if weight <= 0:
                raise FrameError(f"第 {line} 行：权重须大于 0（{weight:g}）")
            weights.append(weight)
        if "必抽" in extra:
            word = cells[extra["必抽"]].strip().lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                raise FrameError(f"第 {line} 行：必抽列应为 1/0 或 是/否（{word[:20]}）")
            legacy.append(word in TRUE_WORDS)
    if not ids:
        raise FrameError("抽样框没有数据行")
    x = np.array(xs)
    y = np.array(ys)
    if lonlat:
        bad = np.flatnonzero((np.abs(x) > 180) | (np.abs(y) > 90))
        if len(bad):
            line = seen[ids[int(bad[0])]]
            raise FrameError(f"第 {line} 行：经纬度超出范围（经度 ±180，纬度 ±90）")
        x, y = project_lonlat(x, y)
    return Frame(ids=ids, x=x, y=y,
                 strata=np.array(strata, dtype=object) if strata else None,
                 weights=np.array(weights) if weights else None,
                 legacy=np.array(legacy, dtype=bool) if legacy else None,
                 projected_from_lonlat=lonlat)


def write_selection_csv(frame: Frame, selection: Selection) -> str:
    """`id,rank,role,inclusion_probability` (plus `stratum` when stratified), no BOM: for
    other programs to read. Probabilities with 10 significant digits."""
    out = io.StringIO()
    columns = ["id", "rank", "role", "inclusion_probability"]
    if frame.strata is not None:
        columns.append("stratum")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in selection_rows(frame, selection):
        row["inclusion_probability"] = f"{row['inclusion_probability']:.10g}"
        writer.writerow([row[c] for c in columns])
    return out.getvalue()
