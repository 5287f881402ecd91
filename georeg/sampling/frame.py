"""A sampling frame from a CSV file (`georeg sample --frame`), and the CSV of the chosen units.

The file has a header row with `id` and either `x`,`y` (projected, metres) or `lon`,`lat`
(WGS 84 degrees; `lng`, `longitude`, `latitude`, 经度, 纬度 also accepted), plus optional
stratum, weight and legacy columns named on the command line. Longitude/latitude are projected
to metres with an azimuthal equidistant projection centred on the frame, whose distances from
the centre are true and nearly so across a county or a province — what nearest-neighbour
spatial balance needs. Encodings: UTF-8 (with or without BOM) or GB18030/GBK, as Excel saves.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyproj import CRS, Transformer

from georeg.sampling.design import Selection

LON_NAMES = ("lon", "lng", "longitude", "经度")
LAT_NAMES = ("lat", "latitude", "纬度")
TRUE_WORDS = {"1", "true", "yes", "y", "t", "是", "必抽"}
FALSE_WORDS = {"", "0", "false", "no", "n", "f", "否"}


class FrameError(Exception):
    """A frame file that cannot be used; `message` is zh-CN and names the row or column."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Frame:
    ids: list[str]
    x: np.ndarray  # metres
    y: np.ndarray
    strata: np.ndarray | None
    weights: np.ndarray | None
    legacy: np.ndarray | None
    projected_from_lonlat: bool


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise FrameError("无法识别文件的文字编码：请另存为 UTF-8 编码的 CSV")


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


def aeqd_transformer(lon: np.ndarray, lat: np.ndarray) -> Transformer:
    """WGS 84 -> azimuthal equidistant metres centred on the middle of the points."""
    lon0 = float((lon.min() + lon.max()) / 2)
    lat0 = float((lat.min() + lat.max()) / 2)
    crs = CRS.from_proj4(f"+proj=aeqd +lat_0={lat0:.6f} +lon_0={lon0:.6f} +datum=WGS84 +units=m")
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def read_frame(data: bytes, *, stratum_column: str | None = None,
               weight_column: str | None = None, legacy_column: str | None = None) -> Frame:
    """Parse a frame CSV; raise FrameError with a zh-CN message naming the row or column."""
    text = _decode(data)
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
        x, y = aeqd_transformer(x, y).transform(x, y)
        x, y = np.asarray(x), np.asarray(y)
    return Frame(ids=ids, x=x, y=y,
                 strata=np.array(strata, dtype=object) if strata else None,
                 weights=np.array(weights) if weights else None,
                 legacy=np.array(legacy, dtype=bool) if legacy else None,
                 projected_from_lonlat=lonlat)


def selection_rows(frame: Frame, selection: Selection) -> list[dict[str, Any]]:
    """One row per chosen unit, in the order of use: rank 1 … n are base units."""
    rows = []
    for rank, (pos, base, prob) in enumerate(zip(selection.order, selection.is_base,
                                                 selection.inclusion_probability,
                                                 strict=True), start=1):
        row: dict[str, Any] = {"id": frame.ids[pos], "rank": rank,
                               "role": "base" if base else "replacement",
                               "inclusion_probability": float(prob)}
        if frame.strata is not None:
            row["stratum"] = frame.strata[pos]
        rows.append(row)
    return rows


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
