"""Values as written in field files: coordinates (decimal, degrees-minutes-seconds, hemisphere
letters), ids, numbers with units and collection times, each parsed or refused with a zh-CN
reason (`BadValue`) that the record keeps."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

from openpyxl.utils.datetime import from_excel

from importers.point_files.aliases import FLOAT_KEYS, INT_KEYS, LABELS
from importers.tables import DATE_TEXT, is_blank

FieldValue = str | float | int | None


class BadValue(Exception):
    """One value is unusable; the record gets a RecordError with this code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_ID_LIKE = re.compile(r"(?<![\d.])\d{14,17}[\dXx](?![\d.])")


def show(raw: object) -> str:
    """A value quoted in a message: short, and never a resident ID number, even one typed
    into the wrong column."""
    s = _ID_LIKE.sub("（疑似身份证号，已隐去）", str(raw).strip())
    return s if len(s) <= 30 else s[:29] + "…"


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
        raise BadValue("not_a_number", f"{label}“{show(raw)}”不是有效数字")
    return v


def parse_coord(raw: object, label: str) -> tuple[float, str | None]:
    """A coordinate as written: decimal degrees, "118.1234°", full-width digits, "东经118.1",
    or degrees-minutes-seconds like 118°11'22.5"E. Returns the value and the axis its
    hemisphere letter names ("lon"/"lat"), if any."""
    if is_blank(raw):
        raise BadValue("missing", f"缺少{label}")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise BadValue("not_a_number", f"{label}“{show(raw)}”不是数字")
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
        raise BadValue("not_a_number", f"{label}“{show(raw)}”不是数字，也不是度分秒格式")
    if hemi:
        sign *= _HEMI_SIGN[hemi]
    return _finite(sign * value, raw, label), (_HEMI_AXIS[hemi] if hemi else None)


def parse_pair(raw: object) -> tuple[float, float]:
    """A single "坐标" cell: "lon,lat"; hemisphere letters, when present, decide the order."""
    if is_blank(raw):
        raise BadValue("missing", "缺少坐标")
    s = unicodedata.normalize("NFKC", str(raw)).strip()
    parts = [p for p in re.split(r"[,;]", s) if p.strip()]
    if len(parts) != 2:
        parts = s.split()
    if len(parts) != 2:
        raise BadValue("bad_coordinates", f"坐标“{show(raw)}”应写成“经度,纬度”")
    (a, axis_a), (b, _axis_b) = (parse_coord(p, "坐标") for p in parts)
    return (b, a) if axis_a == "lat" else (a, b)


def _to_str(key: str, raw: object) -> str | None:
    if is_blank(raw):
        return None
    if isinstance(raw, str):
        s = _clean_text(raw)
        if key in ("entity_uscc", "entity_resident_id"):
            s = unicodedata.normalize("NFKC", s).replace(" ", "").upper()
            if key == "entity_resident_id" and _SCIENTIFIC.fullmatch(s):
                raise BadValue("resident_id_as_number",
                                  "身份证号被存成了数字（科学计数法），末几位已丢失；"
                                  "请把该列设为文本后重新填写")
        return s or None
    if isinstance(raw, bool | dict | list):
        raise BadValue("bad_value", f"{LABELS[key]}的值类型不对")
    if isinstance(raw, float):
        if key == "entity_resident_id":
            # Excel keeps 15 significant digits: an 18-digit ID typed as a number is already
            # damaged. Never echo the number itself.
            raise BadValue("resident_id_as_number",
                              "身份证号被存成了数字，末几位已丢失；请把该列设为文本后重新填写")
        return str(int(raw)) if raw.is_integer() else str(raw)
    if isinstance(raw, datetime | date | time):
        return raw.isoformat()
    return str(raw)


def _to_int(key: str, raw: object) -> int | None:
    if is_blank(raw):
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) < 2**63:
        return raw
    if isinstance(raw, str):
        s = unicodedata.normalize("NFKC", _clean_text(raw)).replace(",", "")
        if _INTEGER.fullmatch(s) and abs(value := int(s.split(".")[0])) < 2**63:
            return value  # database ids are bigint; anything longer is not an id
    raise BadValue("not_an_integer", f"{LABELS[key]}“{show(raw)}”不是整数")


def _to_float(key: str, raw: object) -> float | None:
    if is_blank(raw):
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return _finite(float(raw), raw, LABELS[key])
    if isinstance(raw, str):
        s = unicodedata.normalize("NFKC", raw).strip().lstrip("±").strip()
        s = _UNIT_SUFFIX.sub("", s)
        if _DECIMAL.fullmatch(s):
            return _finite(float(s), raw, LABELS[key])
    raise BadValue("not_a_number", f"{LABELS[key]}“{show(raw)}”不是数字")


# --- times --------------------------------------------------------------------------------------

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
    dm = DATE_TEXT.match(s)
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
        if is_blank(raw):
            continue
        try:
            parsed.append(_parse_when(raw))
        except (ValueError, OverflowError, OSError):
            raise BadValue("bad_time",
                              f"采集时间“{show(raw)}”无法识别，{_BAD_TIME_HINT}") from None
    if not parsed:
        return None
    full = next((p for p in parsed if isinstance(p, datetime)), None)
    if full is not None:
        return full.isoformat()
    day = next((p for p in parsed if isinstance(p, date)), None)
    clock = next((p for p in parsed if isinstance(p, time)), None)
    if day is None:
        raise BadValue("bad_time", f"采集时间只有时刻没有日期，{_BAD_TIME_HINT}")
    return datetime.combine(day, clock).isoformat() if clock else day.isoformat()


# --- fields -------------------------------------------------------------------------------------

def convert(key: str, values: Sequence[object]) -> FieldValue:
    """The value of a canonical field from its column(s); raises BadValue."""
    if key == "collected_at":
        return _collected_at(values)
    raw = next((v for v in values if not is_blank(v)), None)
    if key in INT_KEYS:
        return _to_int(key, raw)
    if key in FLOAT_KEYS:
        return _to_float(key, raw)
    return _to_str(key, raw)

