"""Geometry input: RFC 7946 GeoJSON in, checked with GEOS, EWKB out (EPSG:4326)."""

from __future__ import annotations

import re
from typing import Any

import shapely
from shapely.geometry import shape

from georeg.errors import FieldError, InvalidInput

# GEOS validity reasons in zh-CN; the location GEOS reports is kept.
_REASONS = {
    "Self-intersection": "自相交",
    "Ring Self-intersection": "环自相交",
    "Too few points in geometry component": "点数不足",
    "Hole lies outside shell": "内环位于外环之外",
    "Nested holes": "内环嵌套",
    "Interior is disconnected": "内部不连通",
    "Nested shells": "外环嵌套",
    "Duplicate Rings": "环重复",
    "Invalid Coordinate": "坐标无效",
    "Ring is not closed": "环未闭合",
}


def _reason_zh(reason: str) -> str:
    m = re.match(r"([^\[]+)(\[.*\])?", reason)
    head = (m.group(1) if m else reason).strip()
    where = m.group(2) if m and m.group(2) else ""
    return _REASONS.get(head, head) + (f"，位置 {where}" if where else "")


def parse(geojson: dict[str, Any], *, field: str, allowed: tuple[str, ...]) -> shapely.Geometry:
    """A valid geometry of an allowed type in WGS 84 lon/lat, or InvalidInput naming the field."""
    def bad(code: str, message: str) -> InvalidInput:
        return InvalidInput(message, [FieldError(field, code, message)])

    try:
        geom = shape(geojson)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise bad("invalid_geojson", "不是有效的 GeoJSON 几何") from e
    if geom.geom_type not in allowed:
        raise bad("geometry_type", f"几何类型应为 {' / '.join(allowed)}，收到 {geom.geom_type}")
    if geom.is_empty:
        raise bad("empty_geometry", "几何为空")
    coords = shapely.get_coordinates(geom)
    if not ((coords[:, 0] >= -180).all() and (coords[:, 0] <= 180).all()
            and (coords[:, 1] >= -90).all() and (coords[:, 1] <= 90).all()):
        raise bad("coordinates_out_of_range", "坐标超出经纬度范围（经度 ±180，纬度 ±90）")
    if not geom.is_valid:
        raise bad("invalid_geometry", "几何图形无效：" + _reason_zh(shapely.is_valid_reason(geom)))
    return geom


def to_ewkb(geom: shapely.Geometry) -> bytes:
    return shapely.to_wkb(shapely.set_srid(geom, 4326), include_srid=True)
