"""Read field files of GPS site points into plain records (issue 3: provenance collection).

Formats: GeoJSON, CSV/TXT, XLSX, GPX (1.0 and 1.1) and KML/KMZ, as exported by Excel, field
apps and common GPS/outdoor apps. This module only reads: no database access, no coordinate
conversion, no range checks and no entity resolution; the caller does those in set-based SQL.

Two kinds of failure: `PointFileError` when the whole file is unusable (unknown encoding,
malformed XML/JSON, no coordinate columns, nothing in it), and `RecordError`s attached to a
single `PointRecord` when only that row or feature is bad, so the good ones can still be kept.

XML (GPX, KML) is parsed with defusedxml: the files come from outside, and defusedxml refuses
entity declarations and external references whatever the version of the system's expat.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from pathlib import PurePath
from typing import Any

import defusedxml.ElementTree as safe_et
import openpyxl
from defusedxml import DefusedXmlException
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.exceptions import InvalidFileException

FieldValue = str | float | int | None

FORMATS = ("geojson", "csv", "xlsx", "gpx", "kml", "kmz")
EXTENSIONS: dict[str, str] = {
    ".geojson": "geojson", ".json": "geojson",
    ".csv": "csv", ".txt": "csv", ".tsv": "csv",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".gpx": "gpx", ".kml": "kml", ".kmz": "kmz",
}

HEADER_SEARCH_ROWS = 5  # a title row or two above the header is common in county templates
MAX_KML_IN_KMZ = 200 * 1024 * 1024  # guard against a zip bomb disguised as a KMZ


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


class PointFileError(Exception):
    """The whole file is unusable; `message` (zh-CN) says what and where."""

    def __init__(self, code: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line


# --- field names -------------------------------------------------------------------------------

# Canonical key -> accepted header/property names. Matching ignores case, full-width forms,
# spaces, "_", "-", a required-field "*" and a trailing unit in brackets ("经度(°)", "精度（m）").
_ALIASES: dict[str, tuple[str, ...]] = {
    "longitude": ("longitude", "经度", "lon", "lng", "long", "x", "东经"),
    "latitude": ("latitude", "纬度", "lat", "y", "北纬"),
    "coordinates": ("coordinates", "coordinate", "坐标", "经纬度", "lonlat", "lnglat"),
    "client_uuid": ("client_uuid", "uuid", "采集编号", "记录编号"),
    "entity_id": ("entity_id", "主体编号", "主体ID"),
    "entity_uscc": ("entity_uscc", "uscc", "统一社会信用代码", "信用代码"),
    "entity_resident_id": ("entity_resident_id", "resident_id", "身份证号", "身份证号码", "身份证"),
    "entity_name": ("entity_name", "主体名称", "名称", "户主", "姓名"),
    "plot_id": ("plot_id", "地块编号", "地块ID"),
    "commodity": ("commodity", "品种", "产品", "农产品"),
    "collected_at": ("collected_at", "time", "采集时间", "时间", "日期", "date", "datetime",
                     "timestamp"),
    # hdop/pdop are dilution factors, not metres: deliberately absent.
    "accuracy_m": ("accuracy_m", "accuracy", "精度", "定位精度", "精度(米)", "horizontal_accuracy",
                   "hacc"),
    "note": ("note", "备注", "说明", "notes", "remark", "remarks", "description", "desc"),
    "elevation_m": ("elevation_m", "elevation", "ele", "altitude", "alt", "海拔", "高程"),
    "name": ("name", "点名", "点位名称"),
}
_GEOMETRY_KEYS = frozenset({"longitude", "latitude", "coordinates"})

_LABELS = {
    "longitude": "经度", "latitude": "纬度", "coordinates": "坐标", "geometry": "几何",
    "row": "行", "client_uuid": "采集编号", "entity_id": "主体编号",
    "entity_uscc": "统一社会信用代码", "entity_resident_id": "身份证号", "entity_name": "主体名称",
    "plot_id": "地块编号", "commodity": "品种", "collected_at": "采集时间",
    "accuracy_m": "定位精度", "note": "备注", "elevation_m": "海拔", "name": "名称",
}

_INT_KEYS = frozenset({"entity_id", "plot_id"})
_FLOAT_KEYS = frozenset({"accuracy_m", "elevation_m"})


def _norm_key(name: object) -> str:
    s = unicodedata.normalize("NFKC", str(name)).casefold().strip().strip("*:")
    return re.sub(r"[\s_\-]+", "", s)


_ALIAS_INDEX = {_norm_key(a): key for key, names in _ALIASES.items() for a in names}


def canonical_key(name: object) -> str | None:
    """The normalized field key for a header, property or ExtendedData name; None if unknown."""
    k = _norm_key(name)
    if k in _ALIAS_INDEX:
        return _ALIAS_INDEX[k]
    stripped = re.sub(r"[(\[].*[)\]]$", "", k)  # "经度(wgs84)" -> "经度"
    return _ALIAS_INDEX.get(stripped) if stripped else None


# --- values -------------------------------------------------------------------------------------

class _ValueError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_ID_LIKE = re.compile(r"(?<![\d.])\d{14,17}[\dXx](?![\d.])")


def _show(raw: object) -> str:
    """A value quoted in a message: short, and never a resident ID number, even one typed
    into the wrong column."""
    s = _ID_LIKE.sub("（疑似身份证号，已隐去）", str(raw).strip())
    return s if len(s) <= 30 else s[:29] + "…"


def _is_blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _clean_text(raw: str) -> str:
    s = raw.strip()
    if s.startswith('="') and s.endswith('"') and len(s) >= 3:
        return s[2:-1].strip()  # Excel's ="00123" trick to keep leading zeros
    return s


_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+(?:\.0*)?", re.ASCII)
_SCIENTIFIC = re.compile(r"[\d.]+E\+?\d+", re.ASCII)
_UNIT_SUFFIX = re.compile(r"\s*(?:m|米|meters?|公尺)$", re.I)
_HEMI_PREFIX = re.compile(r"^(东经|西经|北纬|南纬|[NSEW])\s*", re.I)
_HEMI_SUFFIX = re.compile(r"\s*([NSEW])$", re.I)
_DMS = re.compile(
    # symbols only, no d/m/s letters: a trailing "s" would read as the southern hemisphere
    r"(?P<d>\d+(?:\.\d+)?)\s*(?:°|度|:)\s*"
    r"(?:(?P<m>\d+(?:\.\d+)?)\s*(?:'|′|’|分|:)?\s*"
    r"(?:(?P<s>\d+(?:\.\d+)?)\s*(?:\"|''|′′|”|秒)?)?)?"
)
_HEMI_SIGN = {"e": 1, "n": 1, "东经": 1, "北纬": 1, "w": -1, "s": -1, "西经": -1, "南纬": -1}
_HEMI_AXIS = {"e": "lon", "w": "lon", "东经": "lon", "西经": "lon",
              "n": "lat", "s": "lat", "北纬": "lat", "南纬": "lat"}


def _finite(v: float, raw: object, label: str) -> float:
    if not math.isfinite(v):
        raise _ValueError("not_a_number", f"{label}“{_show(raw)}”不是有效数字")
    return v


def _parse_coord(raw: object, label: str) -> tuple[float, str | None]:
    """A coordinate as written: decimal degrees, "118.1234°", full-width digits, "东经118.1",
    or degrees-minutes-seconds like 118°11'22.5"E. Returns the value and the axis its
    hemisphere letter names ("lon"/"lat"), if any."""
    if _is_blank(raw):
        raise _ValueError("missing", f"缺少{label}")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _ValueError("not_a_number", f"{label}“{_show(raw)}”不是数字")
    if isinstance(raw, int | float):
        return _finite(float(raw), raw, label), None
    if _DECIMAL.fullmatch(plain := raw.strip()):  # the usual case, without the slow path
        return _finite(float(plain), raw, label), None
    s = raw.replace("º", "°").replace("˚", "°")  # look-alikes NFKC would turn into letters
    s = unicodedata.normalize("NFKC", _clean_text(s)).strip()
    hemi = None
    if m := _HEMI_PREFIX.match(s):
        hemi, s = m.group(1).casefold(), s[m.end():]
    elif m := _HEMI_SUFFIX.search(s):
        hemi, s = m.group(1).casefold(), s[: m.start()]
    s = s.strip()
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign, s = (-1.0 if s[0] == "-" else 1.0), s[1:].strip()
    if re.fullmatch(r"\d+,\d+", s):  # decimal comma, as in a semicolon-delimited CSV
        s = s.replace(",", ".")
    s = s.removesuffix("°").strip()
    value: float | None = None
    if _DECIMAL.fullmatch(s):
        value = float(s)
    elif (m := _DMS.fullmatch(s)) and (m.group("m") or m.group("s")):
        deg, mins, secs = m.group("d"), m.group("m"), m.group("s")
        ok = "." not in deg and float(mins or 0) < 60 and float(secs or 0) < 60
        ok = ok and not (secs and "." in (mins or ""))
        if ok:
            value = float(deg) + float(mins or 0) / 60 + float(secs or 0) / 3600
    if value is None:
        raise _ValueError("not_a_number", f"{label}“{_show(raw)}”不是数字，也不是度分秒格式")
    if hemi:
        sign *= _HEMI_SIGN[hemi]
    return _finite(sign * value, raw, label), (_HEMI_AXIS[hemi] if hemi else None)


def _parse_pair(raw: object) -> tuple[float, float]:
    """A single "坐标" cell: "lon,lat"; hemisphere letters, when present, decide the order."""
    if _is_blank(raw):
        raise _ValueError("missing", "缺少坐标")
    s = unicodedata.normalize("NFKC", str(raw)).strip()
    parts = [p for p in re.split(r"[,;]", s) if p.strip()]
    if len(parts) != 2:
        parts = s.split()
    if len(parts) != 2:
        raise _ValueError("bad_coordinates", f"坐标“{_show(raw)}”应写成“经度,纬度”")
    (a, axis_a), (b, _axis_b) = (_parse_coord(p, "坐标") for p in parts)
    return (b, a) if axis_a == "lat" else (a, b)


def _to_str(key: str, raw: object) -> str | None:
    if _is_blank(raw):
        return None
    if isinstance(raw, str):
        s = _clean_text(raw)
        if key in ("entity_uscc", "entity_resident_id"):
            s = unicodedata.normalize("NFKC", s).replace(" ", "").upper()
            if key == "entity_resident_id" and _SCIENTIFIC.fullmatch(s):
                raise _ValueError("resident_id_as_number",
                                  "身份证号被存成了数字（科学计数法），末几位已丢失；"
                                  "请把该列设为文本后重新填写")
        return s or None
    if isinstance(raw, bool | dict | list):
        raise _ValueError("bad_value", f"{_LABELS[key]}的值类型不对")
    if isinstance(raw, float):
        if key == "entity_resident_id":
            # Excel keeps 15 significant digits: an 18-digit ID typed as a number is already
            # damaged. Never echo the number itself.
            raise _ValueError("resident_id_as_number",
                              "身份证号被存成了数字，末几位已丢失；请把该列设为文本后重新填写")
        return str(int(raw)) if raw.is_integer() else str(raw)
    if isinstance(raw, datetime | date | time):
        return raw.isoformat()
    return str(raw)


def _to_int(key: str, raw: object) -> int | None:
    if _is_blank(raw):
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) < 2**63:
        return raw
    if isinstance(raw, str):
        s = unicodedata.normalize("NFKC", _clean_text(raw)).replace(",", "")
        if _INTEGER.fullmatch(s) and abs(value := int(s.split(".")[0])) < 2**63:
            return value  # database ids are bigint; anything longer is not an id
    raise _ValueError("not_an_integer", f"{_LABELS[key]}“{_show(raw)}”不是整数")


def _to_float(key: str, raw: object) -> float | None:
    if _is_blank(raw):
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return _finite(float(raw), raw, _LABELS[key])
    if isinstance(raw, str):
        s = unicodedata.normalize("NFKC", raw).strip().lstrip("±").strip()
        s = _UNIT_SUFFIX.sub("", s)
        if _DECIMAL.fullmatch(s):
            return _finite(float(s), raw, _LABELS[key])
    raise _ValueError("not_a_number", f"{_LABELS[key]}“{_show(raw)}”不是数字")


# --- times --------------------------------------------------------------------------------------

_DATE_ONLY = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_TIME_ONLY = re.compile(r"(\d{1,2})\s*[:时点]\s*(\d{1,2})(?:\s*[:分]\s*(\d{1,2}(?:\.\d{1,6})?))?"
                        r"\s*(?:秒|分)?")
_TZ = re.compile(r"(?<=\d)\s*(Z|[+-]\d{2}(?::?\d{2})?)$", re.I)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_NUMBER_TEXT = re.compile(r"\s*\d+(?:\.\d+)?\s*", re.ASCII)
_BAD_TIME_HINT = "请写成 2023-03-05 09:30 这样的格式"


def _time_of(m: re.Match[str], pm: bool | None) -> time:
    hour, minute = int(m.group(1)), int(m.group(2))
    sec = float(m.group(3) or 0)
    if pm is not None:
        if not 1 <= hour <= 12:
            raise ValueError("12-hour clock")
        hour = hour % 12 + (12 if pm else 0)
    return time(hour, minute, int(sec), round((sec % 1) * 1_000_000))


def _parse_when_text(text: str) -> datetime | date | time:
    s = unicodedata.normalize("NFKC", text).strip()
    if _ISO_DATE.fullmatch(s):
        return date.fromisoformat(s)
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        pass
    pm: bool | None = None
    if m := re.search(r"\s*(上午|下午|晚上|AM|PM)\s*", s, re.I):
        pm = m.group(1).upper() in ("下午", "晚上", "PM")
        s = (s[: m.start()] + " " + s[m.end():]).strip()
    tz = None
    if ":" in s and (m := _TZ.search(s)):  # an offset only after a clock time, not "2023-3-05"
        tz, s = _offset(m.group(1)), s[: m.start()].strip()
    if tm := _TIME_ONLY.fullmatch(s):
        if tz:
            raise ValueError("time zone without a date")
        return _time_of(tm, pm)
    dm = _DATE_ONLY.match(s)
    if not dm:
        raise ValueError(s)
    d = date(int(dm.group(1)), int(dm.group(2)), int(dm.group(3)))
    rest = s[dm.end():].lstrip("Tt ").strip()
    if not rest:
        if tz or pm is not None:
            raise ValueError("time zone without a time")
        return d
    tm = _TIME_ONLY.fullmatch(rest)
    if not tm:
        raise ValueError(rest)
    return datetime.combine(d, _time_of(tm, pm), tzinfo=tz)


def _offset(text: str) -> tzinfo:
    if text.upper() == "Z":
        return UTC
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return timezone(-delta if text[0] == "-" else delta)


def _parse_when(raw: object) -> datetime | date | time:
    """One time value; raises ValueError. Naive stays naive (the caller means Asia/Shanghai)."""
    if isinstance(raw, datetime | date | time):
        return raw
    if isinstance(raw, str) and not _NUMBER_TEXT.fullmatch(raw):
        return _parse_when_text(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(raw)
    v = float(raw)
    if 19_000_101 <= v <= 21_001_231 and v.is_integer():  # 20230305 typed into a 日期 column
        return datetime.strptime(str(int(v)), "%Y%m%d").date()
    if 20_000 <= v < 80_000:  # an Excel serial date (1954-2119) from a "General" column
        dt = from_excel(v)
        return dt.date() if v.is_integer() else dt
    if 1e9 <= v < 1e10:  # Unix seconds, as phone apps export
        return datetime.fromtimestamp(v, tz=UTC)
    if 1e12 <= v < 1e13:  # Unix milliseconds
        return datetime.fromtimestamp(v / 1000, tz=UTC)
    raise ValueError(raw)


def _collected_at(values: Sequence[object]) -> str | None:
    """ISO 8601 from one or more columns: a full timestamp, or a date column plus a time column
    (field sheets often split 日期 and 时间)."""
    parsed: list[datetime | date | time] = []
    for raw in values:
        if _is_blank(raw):
            continue
        try:
            parsed.append(_parse_when(raw))
        except (ValueError, OverflowError, OSError):
            raise _ValueError("bad_time",
                              f"采集时间“{_show(raw)}”无法识别，{_BAD_TIME_HINT}") from None
    if not parsed:
        return None
    full = next((p for p in parsed if isinstance(p, datetime)), None)
    if full is not None:
        return full.isoformat()
    day = next((p for p in parsed if isinstance(p, date)), None)
    clock = next((p for p in parsed if isinstance(p, time)), None)
    if day is None:
        raise _ValueError("bad_time", f"采集时间只有时刻没有日期，{_BAD_TIME_HINT}")
    return datetime.combine(day, clock).isoformat() if clock else day.isoformat()


# --- records ------------------------------------------------------------------------------------

def _convert(key: str, values: Sequence[object]) -> FieldValue:
    if key == "collected_at":
        return _collected_at(values)
    raw = next((v for v in values if not _is_blank(v)), None)
    if key in _INT_KEYS:
        return _to_int(key, raw)
    if key in _FLOAT_KEYS:
        return _to_float(key, raw)
    return _to_str(key, raw)


def _build(no: int, lon_raw: object, lat_raw: object, attrs: dict[str, list[object]],
           errors: Iterable[RecordError] = (), *, pair: object = None,
           has_point: bool = True) -> PointRecord:
    """Assemble a record; every problem becomes a RecordError, never an exception."""
    errs = list(errors)
    lon = lat = None
    if has_point:
        if pair is not None and _is_blank(lon_raw) and _is_blank(lat_raw):
            try:
                lon, lat = _parse_pair(pair)
            except _ValueError as e:
                errs.append(RecordError("coordinates", e.code, e.message))
        else:
            for axis, raw in (("longitude", lon_raw), ("latitude", lat_raw)):
                try:
                    value, _ = _parse_coord(raw, _LABELS[axis])
                except _ValueError as e:
                    errs.append(RecordError(axis, e.code, e.message))
                    continue
                if axis == "longitude":
                    lon = value
                else:
                    lat = value
    fields: dict[str, FieldValue] = {}
    for key, values in attrs.items():
        if key in _GEOMETRY_KEYS:
            continue
        try:
            fields[key] = _convert(key, values)
        except _ValueError as e:
            fields[key] = None
            errs.append(RecordError(key, e.code, e.message))
    return PointRecord(no, lon, lat, fields, tuple(errs))


def _map_attrs(pairs: Iterable[tuple[object, object]]) -> dict[str, list[object]]:
    attrs: dict[str, list[object]] = {}
    for name, value in pairs:
        key = canonical_key(name)
        if key is not None:
            attrs.setdefault(key, []).append(value)
    return attrs


# --- tables (CSV, XLSX) -------------------------------------------------------------------------

@dataclass
class _Header:
    row: int
    columns: dict[str, list[int]]  # canonical key -> column indexes, in sheet order
    width: int  # index of the last named column + 1


def _find_header(rows: Sequence[tuple[int, Sequence[object]]]) -> _Header | None:
    for row_no, cells in rows:
        columns: dict[str, list[int]] = {}
        for i, cell in enumerate(cells):
            if not _is_blank(cell) and (key := canonical_key(cell)) is not None:
                columns.setdefault(key, []).append(i)
        if ("longitude" in columns and "latitude" in columns) or "coordinates" in columns:
            width = max(i for i, c in enumerate(cells) if not _is_blank(c)) + 1
            return _Header(row_no, columns, width)
    return None


def _no_columns_error(rows: Sequence[tuple[int, Sequence[object]]], where: str) -> PointFileError:
    seen = ""
    if rows:
        names = [_show(c) for c in rows[0][1] if not _is_blank(c)][:8]
        seen = f"（第{rows[0][0]}行是：{'、'.join(names)}）" if names else ""
    return PointFileError(
        "no_coordinate_columns",
        f"{where}前{HEADER_SEARCH_ROWS}行中找不到经度、纬度两列{seen}；"
        "表头应包含“经度”“纬度”（或 lon/lat、lng/lat、x/y），或一列“坐标”写成“经度,纬度”",
    )


Rows = Iterator[tuple[int, Sequence[object]]]


def _take_head(rows: Rows) -> list[tuple[int, Sequence[object]]]:
    """The first non-blank rows, where the header is looked for; `rows` continues after them."""
    head: list[tuple[int, Sequence[object]]] = []
    for n, (row_no, cells) in enumerate(rows, 1):
        if any(not _is_blank(c) for c in cells):
            head.append((row_no, cells))
        if len(head) == HEADER_SEARCH_ROWS or n >= 10 * HEADER_SEARCH_ROWS:
            break
    return head


def _table_records(head: list[tuple[int, Sequence[object]]], rows: Rows, where: str,
                   check_width: bool) -> list[PointRecord]:
    header = _find_header(head)
    if header is None:
        raise _no_columns_error(head, where)
    cols = header.columns

    def cell(cells: Sequence[object], key: str) -> object:
        return next((cells[i] for i in cols.get(key, ()) if i < len(cells)
                     and not _is_blank(cells[i])), None)

    def record(row_no: int, cells: Sequence[object]) -> PointRecord:
        errs = []
        if check_width and len(cells) < header.width:
            # A CSV cut off mid-row (an interrupted download or copy) loses its last columns.
            errs.append(RecordError("row", "too_few_columns",
                                    f"该行只有{len(cells)}列，表头有{header.width}列（文件可能不完整）"))
        attrs = {k: [cells[i] if i < len(cells) else None for i in idx] for k, idx in cols.items()}
        return _build(row_no, cell(cells, "longitude"), cell(cells, "latitude"), attrs, errs,
                      pair=(cell(cells, "coordinates") or "") if "coordinates" in cols else None)

    records = [record(n, c) for n, c in head if n > header.row]
    for row_no, cells in rows:
        if any(not _is_blank(c) for c in cells):
            records.append(record(row_no, cells))
    return records


def _decode_text(data: bytes, what: str) -> str:
    """UTF-8 (with or without BOM), then GB18030 (a superset of GBK, as Excel in China saves
    CSV); UTF-16 only with a BOM (Excel's "Unicode text"). Never guesses beyond that, so a
    file is either read correctly or refused, not turned into mojibake."""
    error: UnicodeDecodeError | None = None
    text: str | None = None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:  # an odd length: a truncated file that ends mid-character
            text = data[: len(data) - len(data) % 2].decode("utf-16")
        except UnicodeDecodeError as e:
            error = e
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            error = e
        if error is not None:
            prefix = data[: error.start].decode("utf-8-sig")
            if sum(ord(c) > 127 for c in prefix) >= 3:
                # Clearly UTF-8 so far: GB18030 would turn all of it into mojibake. Cut off
                # mid-character means a truncated file (the short last row is reported); any
                # other bad byte means a damaged file.
                text = prefix if error.reason == "unexpected end of data" else None
            else:
                try:
                    text, error = data.decode("gb18030"), None
                except UnicodeDecodeError as e:
                    error = e
    if text is not None and "\x00" not in text:  # NUL: UTF-16 without BOM, or binary
        return text.removeprefix("\ufeff")
    line = data[: error.start].count(b"\n") + 1 if error else None
    where = f"第{line}行有" if line else "文件含有"
    raise PointFileError(
        "unknown_encoding",
        f"无法识别{what}的文字编码：{where}既不是 UTF-8 也不是 GB18030/GBK 的字符。"
        "请在 Excel 中“另存为”→“CSV UTF-8（逗号分隔）”后重新上传",
        line,
    )


def _csv_rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    # Excel's row number = the CSV record number (a quoted multi-line cell is still one row).
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    row_no = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise PointFileError("bad_csv", f"CSV 文件第{reader.line_num}行格式错误：{e}",
                                 reader.line_num) from None
        row_no += 1
        yield row_no, cells


def _read_csv(data: bytes) -> list[PointRecord]:
    text = _decode_text(data, "CSV 文件")
    if not text.strip():
        raise PointFileError("empty", "文件是空的")
    # The delimiter is the one under which a header with coordinates appears; fall back to the
    # most frequent candidate on the first line so the "no columns" message shows real headers.
    chosen, best = None, 0
    for delimiter in (",", "\t", ";", "|"):
        try:
            header = _find_header(_take_head(_csv_rows(text, delimiter)))
        except PointFileError:
            continue
        # The most recognised columns wins: "lon<TAB>lat" read with commas is one cell that
        # looks like a "lonlat" coordinates column.
        if header is not None and len(header.columns) > best:
            chosen, best = delimiter, len(header.columns)
    if chosen is None:
        first = text.lstrip().splitlines()[0]
        chosen = max((",", "\t", ";", "|"), key=first.count)
    rows = _csv_rows(text, chosen)
    return _table_records(_take_head(rows), rows, "CSV 文件", check_width=True)


def _format_has_time(number_format: str) -> bool:
    fmt = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", number_format or "")
    return bool(re.search(r"[hs]", fmt, re.I))


def _xlsx_value(cell: Any) -> object:
    value = cell.value
    if isinstance(value, str):
        return value
    if isinstance(value, datetime) and not _format_has_time(getattr(cell, "number_format", "")):
        return value.date()  # a date-only cell: do not invent a 00:00 collection time
    return value


def _xlsx_rows(ws: Any) -> Iterator[tuple[int, list[object]]]:
    row_no = 0
    for row in ws.iter_rows():
        # Read-only rows start at the sheet's first used row: take the number from a real cell.
        row_no = next((c.row for c in row if getattr(c, "row", None)), row_no + 1)
        yield row_no, [_xlsx_value(c) for c in row]


def _read_xlsx(data: bytes) -> list[PointRecord]:
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as e:
        raise PointFileError("bad_xlsx", f"Excel 文件已损坏或不完整，无法打开（{type(e).__name__}）"
                             ) from None
    try:
        first_head: list[tuple[int, Sequence[object]]] = []
        for ws in wb.worksheets:
            rows = _xlsx_rows(ws)
            head = _take_head(rows)
            first_head = first_head or head
            if _find_header(head) is None:
                continue
            records = _table_records(head, rows, f"Excel 工作表“{ws.title}”", check_width=False)
            if not records:
                raise PointFileError("empty", f"Excel 工作表“{ws.title}”表头下面没有数据")
            return records
    except (zipfile.BadZipFile, safe_et.ParseError, KeyError, OSError, ValueError) as e:
        raise PointFileError("bad_xlsx", f"Excel 文件已损坏或不完整（{type(e).__name__}）"
                             ) from None
    finally:
        wb.close()
    raise _no_columns_error(first_head, "Excel 文件各工作表")


# --- GeoJSON ------------------------------------------------------------------------------------

_JSON_MESSAGES = {
    "Expecting value": "此处缺少一个值",
    "Expecting ',' delimiter": "缺少逗号",
    "Expecting ':' delimiter": "缺少冒号",
    "Expecting property name enclosed in double quotes": "属性名应当用双引号括起来",
    "Unterminated string starting at": "字符串没有结束",
    "Invalid control character at": "字符串中有非法控制字符",
    "Extra data": "JSON 结束后还有多余内容",
}


def _read_geojson(data: bytes) -> list[PointRecord]:
    text = _decode_text(data, "GeoJSON 文件")
    if not text.strip():
        raise PointFileError("empty", "文件是空的")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        reason = _JSON_MESSAGES.get(e.msg, e.msg)
        if e.pos >= len(text.rstrip()):
            reason += "（文件在此处意外结束，可能不完整）"
        raise PointFileError("bad_json", f"GeoJSON 第{e.lineno}行第{e.colno}列语法错误：{reason}",
                             e.lineno) from None
    if not isinstance(doc, dict):
        raise PointFileError("not_geojson",
                             "文件不是 GeoJSON：顶层应为 FeatureCollection 或 Feature")
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise PointFileError("not_geojson", "FeatureCollection 缺少 features 数组")
    elif kind == "Feature":
        features = [doc]
    elif kind in ("Point", "MultiPoint"):
        features = [{"type": "Feature", "geometry": doc, "properties": None}]
    else:
        raise PointFileError("not_geojson", f"文件不是 GeoJSON：顶层 type 为“{_show(kind)}”，"
                             "应为 FeatureCollection")
    if not features:
        raise PointFileError("empty", "FeatureCollection 中没有任何要素")
    return [_geojson_record(i, f) for i, f in enumerate(features, 1)]


def _geojson_record(no: int, feature: object) -> PointRecord:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return _build(no, None, None, {}, [RecordError("geometry", "not_a_feature",
                                                        "该要素不是 GeoJSON Feature")],
                      has_point=False)
    props = feature.get("properties")
    attrs = _map_attrs(props.items() if isinstance(props, dict) else ())
    geometry = feature.get("geometry")
    if not geometry:
        return _build(no, None, None, attrs, [RecordError("geometry", "missing_geometry",
                                                           "该要素没有几何（geometry 为空）")],
                      has_point=False)
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if kind == "MultiPoint" and isinstance(coords, list) and len(coords) == 1:
        kind, coords = "Point", coords[0]
    if kind != "Point":
        return _build(no, None, None, attrs, [RecordError(
            "geometry", "not_a_point", f"几何类型为“{_show(kind)}”，只接受点（Point）")],
            has_point=False)
    if not isinstance(coords, list) or len(coords) < 2:
        return _build(no, None, None, attrs, [RecordError(
            "geometry", "bad_coordinates", "点的坐标应为 [经度, 纬度]")], has_point=False)
    if len(coords) > 2 and "elevation_m" not in attrs:
        attrs["elevation_m"] = [coords[2]]
    return _build(no, coords[0], coords[1], attrs)


# --- XML (GPX, KML) -----------------------------------------------------------------------------

_XML_MESSAGES = {
    "no element found": "文件意外结束（可能不完整）",
    "unclosed token": "标记没有结束（文件可能不完整）",
    "mismatched tag": "开始和结束标签不匹配",
    "not well-formed (invalid token)": "格式错误（非法字符）",
    "junk after document element": "根元素之后还有多余内容",
    "undefined entity": "使用了未定义的实体",
    "unclosed CDATA section": "CDATA 段没有结束（文件可能不完整）",
}
_GB_ENCODINGS = {"gbk", "gb2312", "gb18030", "cp936", "x-gbk"}
_XML_DECL = re.compile(
    rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']+)[\"'][^>]*\?>")


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _xml_utf8(data: bytes, what: str) -> bytes:
    """expat reads UTF-8/UTF-16/Latin-1 only; Chinese apps sometimes write GBK."""
    decl = _XML_DECL.match(data)
    declared = decl.group(2).decode("ascii", "replace").casefold() if decl else None
    if decl is not None and declared in _GB_ENCODINGS:
        # same line count, so parse errors still point at the right line
        return ('<?xml version="1.0"?>' + _strict_gb(data[decl.end():], what)).encode("utf-8")
    if declared is None and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) \
            and not _is_utf8(data):
        return _decode_text(data, what).encode("utf-8")
    return data


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _strict_gb(data: bytes, what: str) -> str:
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise PointFileError("unknown_encoding",
                             f"{what}声明为 GBK 编码，但第{line}行有无法解码的字节", line) from None


def _parse_xml(data: bytes, what: str) -> Any:
    try:
        return safe_et.fromstring(_xml_utf8(data, what))
    except safe_et.ParseError as e:
        line, column = e.position
        reason = str(e).split(":", 1)[0]
        reason = _XML_MESSAGES.get(reason, reason)
        raise PointFileError("bad_xml", f"{what}第{line}行第{column + 1}列 XML 格式错误：{reason}",
                             line) from None
    except DefusedXmlException:
        raise PointFileError("unsafe_xml",
                             f"{what}含有 XML 实体声明或外部引用，出于安全原因拒绝读取") from None


def _child(el: Any, name: str) -> Any:
    return next((c for c in el if _local(c.tag) == name), None)


def _text(el: Any) -> str | None:
    if el is None:
        return None
    s = "".join(el.itertext()).strip()
    return s or None


def _read_xml(data: bytes, what: str) -> list[PointRecord]:
    if not data.strip():
        raise PointFileError("empty", "文件是空的")
    root = _parse_xml(data, what)
    kind = _local(root.tag)
    if kind == "gpx":
        records = _gpx_records(root)
    elif kind == "kml":
        records = _kml_records(root)
    else:
        raise PointFileError("unsupported_format",
                             f"{what}的根元素是 <{_show(kind)}>，不是 GPX 或 KML")
    if not records:
        raise PointFileError("empty", f"{what}中没有任何航点、轨迹点或地标")
    return records


def _gpx_records(root: Any) -> list[PointRecord]:
    # GPX 1.0 and 1.1 differ in namespace, not in these element names: match local names.
    records = []
    for el in root.iter():
        if _local(el.tag) not in ("wpt", "trkpt", "rtept"):
            continue
        pairs: list[tuple[object, object]] = []
        ext = _child(el, "extensions")
        if ext is not None:  # leaf elements with known names, e.g. <accuracy>, <client_uuid>
            pairs += [(_local(e.tag), _text(e)) for e in ext.iter() if e is not ext and len(e) == 0]
        attrs = _map_attrs(pairs)
        for tag, key in (("name", "name"), ("time", "collected_at"), ("ele", "elevation_m")):
            if (value := _text(_child(el, tag))) is not None:
                attrs[key] = [value]
        notes = [n for n in (_text(_child(el, "desc")), _text(_child(el, "cmt"))) if n]
        if notes:
            attrs["note"] = ["；".join(dict.fromkeys(notes))]
        records.append(_build(len(records) + 1, el.get("lon"), el.get("lat"), attrs))
    return records


_NON_POINT = frozenset({"LineString", "LinearRing", "Polygon", "Model", "Track", "MultiTrack"})


def _kml_records(root: Any) -> list[PointRecord]:
    records: list[PointRecord] = []
    for pm in root.iter():
        if _local(pm.tag) != "Placemark":
            continue
        attrs = _kml_attrs(pm)
        points, other = [], None
        for g in pm:
            kind = _local(g.tag)
            if kind == "Point":
                points.append(g)
            elif kind == "MultiGeometry":
                # its points are read; a line or polygon beside them (a plot outline) is not
                parts = [p for p in g.iter() if p is not g and _local(p.tag) != "MultiGeometry"]
                points += [p for p in parts if _local(p.tag) == "Point"]
                other = other or next((_local(p.tag) for p in parts
                                       if _local(p.tag) in _NON_POINT), None)
            elif kind in _NON_POINT:
                other = kind
        if not points:
            error = (RecordError("geometry", "not_a_point",
                                 f"地标的几何类型为“{other}”，只接受点（Point）") if other else
                     RecordError("geometry", "missing_geometry", "地标没有点坐标"))
            records.append(_build(len(records) + 1, None, None, attrs, [error], has_point=False))
            continue
        for point in points:
            records.append(_kml_point(len(records) + 1, point, attrs, shared=len(points) > 1))
    return records


def _kml_attrs(pm: Any) -> dict[str, list[object]]:
    pairs: list[tuple[object, object]] = []
    ext = _child(pm, "ExtendedData")
    if ext is not None:
        for e in ext.iter():
            tag = _local(e.tag)
            if tag == "Data":
                name = e.get("name") or _text(_child(e, "displayName")) or ""
                if canonical_key(name) is None:
                    name = _text(_child(e, "displayName")) or name
                pairs.append((name, _text(_child(e, "value"))))
            elif tag == "SimpleData":
                pairs.append((e.get("name") or "", _text(e)))
    attrs = _map_attrs(pairs)  # ExtendedData is explicit data: it wins over name/description
    stamp = _child(pm, "TimeStamp")
    span = _child(pm, "TimeSpan")
    when = (_text(_child(stamp, "when")) if stamp is not None else
            _text(_child(span, "begin")) if span is not None else None)
    for key, value in (("name", _text(_child(pm, "name"))),
                       ("note", _text(_child(pm, "description"))), ("collected_at", when)):
        if value is not None and key not in attrs:
            attrs[key] = [value]
    return attrs


def _kml_point(no: int, point: Any, attrs: dict[str, list[object]], shared: bool
               ) -> PointRecord:
    attrs = dict(attrs)
    errors = []
    text = _text(_child(point, "coordinates"))
    text = re.sub(r"\s*,\s*", ",", text) if text else None  # lenient about "lon, lat"
    if text is None:
        return _build(no, None, None, attrs, [RecordError("geometry", "missing_geometry",
                                                           "点没有坐标（coordinates 为空）")],
                      has_point=False)
    parts = [p.strip() for p in text.split()[0].split(",")]
    if len(parts) < 2:
        return _build(no, None, None, attrs, [RecordError(
            "geometry", "bad_coordinates", "KML 坐标应写成“经度,纬度[,高度]”")], has_point=False)
    mode = (_text(_child(point, "altitudeMode")) or "").casefold()
    if len(parts) > 2 and "elevation_m" not in attrs and (mode == "absolute"
                                                           or parts[2] not in ("0", "0.0", "")):
        attrs["elevation_m"] = [parts[2]]  # the default clampToGround writes a meaningless 0
    if shared and any(not _is_blank(v) for v in attrs.get("client_uuid", ())):
        # One id for several points would make all but the first look like conflicts.
        errors.append(RecordError("client_uuid", "shared_client_uuid",
                                  "同一个地标含多个点，却只有一个采集编号；请把每个点分成单独的地标"))
    return _build(no, parts[0], parts[1], attrs, errors)


def _read_kmz(data: bytes) -> list[PointRecord]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [i for i in zf.infolist() if i.filename.casefold().endswith(".kml")]
            if not names:
                raise PointFileError("bad_kmz", "KMZ 压缩包里没有 KML 文件")
            info = next((i for i in names if i.filename.casefold() == "doc.kml"), names[0])
            if info.file_size > MAX_KML_IN_KMZ:
                raise PointFileError("too_large", "KMZ 中的 KML 文件过大")
            with zf.open(info) as f:
                kml = f.read(MAX_KML_IN_KMZ + 1)
            if len(kml) > MAX_KML_IN_KMZ:
                raise PointFileError("too_large", "KMZ 中的 KML 文件过大")
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise PointFileError("bad_kmz", f"KMZ 文件已损坏或不完整（{type(e).__name__}）") from None
    return _read_xml(kml, f"KMZ 中的 {PurePath(info.filename).name} ")


# --- entry point --------------------------------------------------------------------------------

def detect_format(data: bytes, filename: str) -> str:
    """One of FORMATS ("xls" or "zip" for files refused): by extension, by content when the
    extension says nothing (or is .txt, which GPS apps also use for GPX/KML)."""
    ext = PurePath(filename).suffix.casefold()
    by_ext = EXTENSIONS.get(ext)
    if by_ext is not None and ext != ".txt":
        return by_ext
    return _sniff(data) or "csv"  # a .txt export may be GPX/KML; anything else reads as text


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = [n.casefold() for n in zf.namelist()]
        except zipfile.BadZipFile:
            return "xlsx"  # truncated zip: let the XLSX reader say it is damaged
        if "xl/workbook.xml" in names:
            return "xlsx"
        return "kmz" if any(n.endswith(".kml") for n in names) else "zip"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    head = data[:4096]
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            head = head[len(bom):].decode(encoding, "ignore").encode("utf-8")
    head = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if head.startswith((b"{", b"[")):
        return "geojson"
    if m := re.search(rb"<(?:[\w.-]+:)?(gpx|kml)\b", head):
        return m.group(1).decode()
    return None


def read_point_file(data: bytes, filename: str) -> list[PointRecord]:
    """Read one field file into records; raises PointFileError if the file is unusable."""
    if not data or not data.strip():
        raise PointFileError("empty", "文件是空的")
    fmt = detect_format(data, filename)
    if fmt == "xls":
        raise PointFileError("unsupported_format", "不支持旧版 Excel（.xls）文件，"
                             "请在 Excel 中另存为 .xlsx 或 CSV 后上传")
    if fmt == "zip":
        raise PointFileError("unsupported_format", "压缩包里既没有 Excel 工作簿也没有 KML 文件")
    if fmt == "csv":
        records = _read_csv(data)
    elif fmt == "xlsx":
        records = _read_xlsx(data)
    elif fmt == "geojson":
        records = _read_geojson(data)
    elif fmt == "kmz":
        records = _read_kmz(data)
    else:
        records = _read_xml(data, f"{fmt.upper()} 文件")
    if not records:
        raise PointFileError("empty", "文件中没有任何点位记录")
    return records
