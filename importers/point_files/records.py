"""Records and errors: what a point file reader hands over, and how it is assembled.

Two kinds of failure: `PointFileError` when the whole file is unusable, and `RecordError`s
attached to a single `PointRecord` when only that row or feature is bad.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from georeg.errors import FieldError, InvalidInput
from importers.point_files.aliases import GEOMETRY_KEYS, LABELS, canonical_key
from importers.point_files.values import BadValue, FieldValue, convert, parse_coord, parse_pair
from importers.tables import Unreadable, decode_text, is_blank


@dataclass(frozen=True)
class RecordError:
    field: str  # "longitude", "latitude", "collected_at", "geometry", "row", or a field key
    code: str  # machine code: "missing", "not_a_number", "not_a_point", "bad_time", ...
    message: str  # zh-CN


@dataclass(frozen=True)
class PointRecord:
    # CSV/XLSX: the row number Excel shows (header on row 1 -> first data row is 2);
    # GeoJSON/GPX/KML: the 1-based index of the feature, waypoint or point in the file.
    record: int
    lon: float | None
    lat: float | None
    # Only keys the source has (a column, property or element); None when blank or unreadable.
    fields: dict[str, FieldValue]
    errors: tuple[RecordError, ...] = ()


class PointFileError(InvalidInput):
    """The whole file is unusable; `message` (zh-CN) says what and where, `code` why.

    An input error of the kernel: the API answers it as 422 with the code as the error of
    field "file" (the problem's own code stays "invalid_input")."""

    def __init__(self, code: str, message: str, line: int | None = None) -> None:
        super().__init__(message, [FieldError("file", code, message)])
        self.code = code
        self.message = message
        self.line = line


def decode(data: bytes, what: str) -> str:
    """The text of a CSV, GeoJSON or undeclared XML file (see importers.tables.decode_text)."""
    try:
        return decode_text(data)
    except Unreadable as e:
        where = f"第{e.line}行有" if e.line else "文件含有"
        raise PointFileError(
            "unknown_encoding",
            f"无法识别{what}的文字编码：{where}既不是 UTF-8 也不是 GB18030/GBK 的字符。"
            "请在 Excel 中“另存为”→“CSV UTF-8（逗号分隔）”后重新上传",
            e.line,
        ) from None


def build(no: int, lon_raw: object, lat_raw: object, attrs: dict[str, list[object]],
          errors: Iterable[RecordError] = (), *, pair: object = None,
          has_point: bool = True) -> PointRecord:
    """Assemble a record; every problem becomes a RecordError, never an exception."""
    errs = list(errors)
    lon = lat = None
    if has_point:
        if pair is not None and is_blank(lon_raw) and is_blank(lat_raw):
            try:
                lon, lat = parse_pair(pair)
            except BadValue as e:
                errs.append(RecordError("coordinates", e.code, e.message))
        else:
            for axis, raw in (("longitude", lon_raw), ("latitude", lat_raw)):
                try:
                    value, _ = parse_coord(raw, LABELS[axis])
                except BadValue as e:
                    errs.append(RecordError(axis, e.code, e.message))
                    continue
                if axis == "longitude":
                    lon = value
                else:
                    lat = value
    fields: dict[str, FieldValue] = {}
    for key, values in attrs.items():
        if key in GEOMETRY_KEYS:
            continue
        try:
            fields[key] = convert(key, values)
        except BadValue as e:
            fields[key] = None
            errs.append(RecordError(key, e.code, e.message))
    return PointRecord(no, lon, lat, fields, tuple(errs))


def map_attrs(pairs: Iterable[tuple[object, object]]) -> dict[str, list[object]]:
    """Named values -> canonical key -> its values in order; unknown names are dropped."""
    attrs: dict[str, list[object]] = {}
    for name, value in pairs:
        key = canonical_key(name)
        if key is not None:
            attrs.setdefault(key, []).append(value)
    return attrs

