"""Field names: the headers, properties and ExtendedData names a point file may use, mapped to
one canonical key each, with the zh-CN label messages name them by."""

from __future__ import annotations

import re
import unicodedata

# Canonical key -> accepted header/property names. Matching ignores case, full-width forms,
# spaces, "_", "-", a required-field "*" and a trailing unit in brackets ("经度(°)", "精度（m）").
ALIASES: dict[str, tuple[str, ...]] = {
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
GEOMETRY_KEYS = frozenset({"longitude", "latitude", "coordinates"})

LABELS = {
    "longitude": "经度", "latitude": "纬度", "coordinates": "坐标", "geometry": "几何",
    "row": "行", "client_uuid": "采集编号", "entity_id": "主体编号",
    "entity_uscc": "统一社会信用代码", "entity_resident_id": "身份证号", "entity_name": "主体名称",
    "plot_id": "地块编号", "commodity": "品种", "collected_at": "采集时间",
    "accuracy_m": "定位精度", "note": "备注", "elevation_m": "海拔", "name": "名称",
}

INT_KEYS = frozenset({"entity_id", "plot_id"})
FLOAT_KEYS = frozenset({"accuracy_m", "elevation_m"})


def _norm_key(name: object) -> str:
    s = unicodedata.normalize("NFKC", str(name)).casefold().strip().strip("*:")
    return re.sub(r"[\s_\-]+", "", s)


_ALIAS_INDEX = {_norm_key(a): key for key, names in ALIASES.items() for a in names}


def canonical_key(name: object) -> str | None:
    """The normalized field key for a header, property or ExtendedData name; None if unknown."""
    k = _norm_key(name)
    if k in _ALIAS_INDEX:
        return _ALIAS_INDEX[k]
    stripped = re.sub(r"[(\[].*[)\]]$", "", k)  # "经度(wgs84)" -> "经度"
    return _ALIAS_INDEX.get(stripped) if stripped else None
