"""Geometry input: RFC 7946 GeoJSON in, checked with GEOS, EWKB out (EPSG:4326)."""

from __future__ import annotations

import re
from typing import Any

import shapely
from shapely.geometry import shape

from georeg.errors import FieldError, InvalidInput

# GEOS is_valid_reason prefixes in zh-CN, for every reader that checks geometry (the API's
# GeoJSON here, boundary files in importers.boundary_files).
_REASONS = {
    "Self-intersection": "自相交",
    "Ring Self-intersection": "环自身接触",
    "Too few points in geometry component": "点数不足",
    "Hole lies outside shell": "内环（洞）在外环之外",
    "Nested holes": "内环相互嵌套",
    "Interior is disconnected": "面内部被内环分割成不连通的部分",
    "Nested shells": "多个外环相互嵌套",
    "Duplicate Rings": "存在重复的环",
    "Invalid Coordinate": "坐标无效",
    "Ring is not closed": "环未闭合",
}
_WHERE = re.compile(r"\[\s*([-\d.eE+]+)\s+([-\d.eE+]+)[^\]]*\]")


def invalid_reason(geom: shapely.Geometry) -> str:
    """Why GEOS finds `geom` invalid, in zh-CN, with the place it reports."""
    return reason_zh(shapely.is_valid_reason(geom))


def reason_zh(reason: str) -> str:
    """A GEOS is_valid_reason text ("Self-intersection[118.2 25.06]") in zh-CN."""
    head, bracket, rest = reason.partition("[")
    text = _REASONS.get(head.strip(), head.strip())
    if not bracket:
        return text
    if m := _WHERE.fullmatch(f"[{rest}".strip()):
        return f"{text}，位置约 {float(m.group(1)):.6f}, {float(m.group(2)):.6f}"
    return f"{text}，位置 [{rest}"


def parse(geojson: dict[str, Any], *, field: str, allowed: tuple[str, ...]) -> shapely.Geometry:
    """A valid geometry of an allowed type in WGS 84 lon/lat, or InvalidInput naming the field."""
    def bad(code: str, message: str) -> InvalidInput:
        return InvalidInput(message, [FieldError(field, code, message)])

    try:
        # Z dropped, by rule: RFC 7946 allows an altitude, GPS devices send one, and the
        # registry is 2-D (the columns are; elevation has its own field where it matters).
        geom = shapely.force_2d(shape(geojson))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError,
            shapely.errors.GEOSException) as e:
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
        raise bad("invalid_geometry", "几何图形无效：" + invalid_reason(geom))
    return geom


def to_ewkb(geom: shapely.Geometry) -> bytes:
    return shapely.to_wkb(shapely.set_srid(geom, 4326), include_srid=True)
