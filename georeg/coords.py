"""Conversions between WGS84, GCJ-02 ("Mars") and BD-09 (Baidu) coordinates.

GCJ-02 is the obfuscated datum mandated for published maps in China (AMap, Tencent);
BD-09 is Baidu's further offset on top of GCJ-02. Both forward formulas are the
widely reverse-engineered ones; their commonly published inverses are one-step
approximations (up to ~5 m and ~0.2 m off), so the inverses here refine them by
fixed-point iteration against the forward transform until it reproduces the input.

Pure `math`, scalar in/out, (lon, lat) order like GeoJSON and PostGIS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "PointFn",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert_geojson_geometry",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

PointFn = Callable[[float, float], tuple[float, float]]

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

# Inverse iteration stops once the forward image is this close to the input (degrees).
_TOLERANCE = 1e-9
_MAX_ITERATIONS = 30


def out_of_china(lon: float, lat: float) -> bool:
    """The customary rough bounding box; outside it no offset is applied."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj02_delta(lon: float, lat: float) -> tuple[float, float]:
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = math.sin(radlat)
    magic = 1 - _EE * magic * magic
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 -> GCJ-02; unchanged outside China."""
    if out_of_china(lon, lat):
        return lon, lat
    dlon, dlat = _gcj02_delta(lon, lat)
    return lon + dlon, lat + dlat


def _gcj02_to_wgs84_one_step(lon: float, lat: float) -> tuple[float, float]:
    # The commonly published inverse: subtracts the offset evaluated at the GCJ point
    # instead of the (unknown) WGS point, leaving errors of up to ~5 m.
    if out_of_china(lon, lat):
        return lon, lat
    dlon, dlat = _gcj02_delta(lon, lat)
    return lon - dlon, lat - dlat


def _refine(
    forward: PointFn, target: tuple[float, float], guess: tuple[float, float]
) -> tuple[float, float]:
    # Fixed-point iteration x <- x - (f(x) - target). Converges fast because both
    # offsets change by well under 1 % of a step per step (contraction << 1).
    x, y = guess
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        rx, ry = fx - target[0], fy - target[1]
        if abs(rx) < _TOLERANCE and abs(ry) < _TOLERANCE:
            break
        x, y = x - rx, y - ry
    return x, y


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 -> WGS84, accurate to ~1e-9 degrees (sub-millimetre); unchanged outside China."""
    if out_of_china(lon, lat):
        return lon, lat
    return _refine(wgs84_to_gcj02, (lon, lat), _gcj02_to_wgs84_one_step(lon, lat))


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 -> BD-09; unchanged outside China so all three datums agree there."""
    if out_of_china(lon, lat):
        return lon, lat
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _bd09_to_gcj02_one_step(lon: float, lat: float) -> tuple[float, float]:
    # The commonly published inverse; the sin/cos terms are evaluated at the wrong
    # point, so it is off by up to ~0.2 m.
    if out_of_china(lon, lat):
        return lon, lat
    x = lon - 0.0065
    y = lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """BD-09 -> GCJ-02, accurate to ~1e-9 degrees; unchanged outside China."""
    if out_of_china(lon, lat):
        return lon, lat
    return _refine(gcj02_to_bd09, (lon, lat), _bd09_to_gcj02_one_step(lon, lat))


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 -> BD-09 via GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """BD-09 -> WGS84 via GCJ-02, both steps iterated."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


# --- GeoJSON --------------------------------------------------------------------


def _convert_position(position: Sequence[float], fn: PointFn) -> list[float]:
    x, y = fn(float(position[0]), float(position[1]))
    # Keep altitude (and any further ordinates) untouched.
    return [x, y, *position[2:]]


def _convert_coords(coords: Any, depth: int, fn: PointFn) -> Any:
    if depth == 0:
        return _convert_position(coords, fn)
    return [_convert_coords(c, depth - 1, fn) for c in coords]


# Nesting depth of "coordinates" above a single position.
_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


def convert_geojson_geometry(geometry: dict[str, Any], fn: PointFn) -> dict[str, Any]:
    """Return a new GeoJSON geometry with `fn` applied to every position.

    The input is not modified. A "bbox" member is dropped because it would no
    longer match the converted coordinates.
    """
    kind = geometry.get("type")
    out = {k: v for k, v in geometry.items() if k not in ("coordinates", "geometries", "bbox")}
    if kind == "GeometryCollection":
        out["geometries"] = [convert_geojson_geometry(g, fn) for g in geometry["geometries"]]
        return out
    if kind not in _DEPTH:
        raise ValueError(f"unsupported GeoJSON geometry type: {kind!r}")
    out["coordinates"] = _convert_coords(geometry["coordinates"], _DEPTH[kind], fn)
    return out
