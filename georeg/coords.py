"""Conversions between WGS84, GCJ-02 ("Mars") and BD-09 (Baidu) coordinates.

GCJ-02 is the obfuscated datum mandated for published maps in China (AMap, Tencent);
BD-09 is Baidu's further offset on top of GCJ-02. Both forward formulas are the
widely reverse-engineered ones; their commonly published inverses are one-step
approximations (up to ~5 m and ~0.2 m off), so the inverses here refine them by
fixed-point iteration against the forward transform until it reproduces the input.

numpy arrays (the `*_array` functions, for batches) or scalars, (lon, lat) order like
GeoJSON and PostGIS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "PointFn",
    "bd09_to_gcj02",
    "bd09_to_gcj02_array",
    "bd09_to_wgs84",
    "bd09_to_wgs84_array",
    "convert_geojson_geometry",
    "gcj02_to_bd09",
    "gcj02_to_bd09_array",
    "gcj02_to_wgs84",
    "gcj02_to_wgs84_array",
    "out_of_china",
    "wgs84_to_bd09",
    "wgs84_to_bd09_array",
    "wgs84_to_gcj02",
    "wgs84_to_gcj02_array",
]

PointFn = Callable[[float, float], tuple[float, float]]
Array = np.ndarray
ArrayFn = Callable[[Array, Array], tuple[Array, Array]]

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


def _in_china(lon: Array, lat: Array) -> Array:
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _transform_lat(x: Array, y: Array) -> Array:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: Array, y: Array) -> Array:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj02_delta(lon: Array, lat: Array) -> tuple[Array, Array]:
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = np.sin(radlat)
    magic = 1 - _EE * magic * magic
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


# --- arrays: every function below takes and returns numpy arrays of lon and lat -----------

def wgs84_to_gcj02_array(lon: Array, lat: Array) -> tuple[Array, Array]:
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _gcj02_delta(lon, lat)
    inside = _in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _gcj02_to_wgs84_one_step_array(lon: Array, lat: Array) -> tuple[Array, Array]:
    # The commonly published inverse: subtracts the offset evaluated at the GCJ point
    # instead of the (unknown) WGS point, leaving errors of up to ~5 m.
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _gcj02_delta(lon, lat)
    inside = _in_china(lon, lat)
    return np.where(inside, lon - dlon, lon), np.where(inside, lat - dlat, lat)


def _refine(forward: ArrayFn, lon: Array, lat: Array, guess: tuple[Array, Array]
            ) -> tuple[Array, Array]:
    # Fixed-point iteration x <- x - (f(x) - target). Converges fast because both
    # offsets change by well under 1 % of a step per step (contraction << 1).
    x, y = guess
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        rx, ry = fx - lon, fy - lat
        if np.all(np.abs(rx) < _TOLERANCE) and np.all(np.abs(ry) < _TOLERANCE):
            break
        x, y = x - rx, y - ry
    return x, y


def _inverse(forward: ArrayFn, one_step: ArrayFn, lon: Array, lat: Array
             ) -> tuple[Array, Array]:
    """The accurate inverse of `forward`, refined from its one-step approximation."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x, y = _refine(forward, lon, lat, one_step(lon, lat))
    inside = _in_china(lon, lat)
    return np.where(inside, x, lon), np.where(inside, y, lat)


def gcj02_to_wgs84_array(lon: Array, lat: Array) -> tuple[Array, Array]:
    """GCJ-02 -> WGS84, accurate to ~1e-9 degrees (sub-millimetre); unchanged outside China."""
    return _inverse(wgs84_to_gcj02_array, _gcj02_to_wgs84_one_step_array, lon, lat)


def gcj02_to_bd09_array(lon: Array, lat: Array) -> tuple[Array, Array]:
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    inside = _in_china(lon, lat)
    return (np.where(inside, z * np.cos(theta) + 0.0065, lon),
            np.where(inside, z * np.sin(theta) + 0.006, lat))


def _bd09_to_gcj02_one_step_array(lon: Array, lat: Array) -> tuple[Array, Array]:
    # The commonly published inverse; the sin/cos terms are evaluated at the wrong
    # point, so it is off by up to ~0.2 m.
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    inside = _in_china(lon, lat)
    return np.where(inside, z * np.cos(theta), lon), np.where(inside, z * np.sin(theta), lat)


def bd09_to_gcj02_array(lon: Array, lat: Array) -> tuple[Array, Array]:
    """BD-09 -> GCJ-02, accurate to ~1e-9 degrees; unchanged outside China."""
    return _inverse(gcj02_to_bd09_array, _bd09_to_gcj02_one_step_array, lon, lat)


def wgs84_to_bd09_array(lon: Array, lat: Array) -> tuple[Array, Array]:
    return gcj02_to_bd09_array(*wgs84_to_gcj02_array(lon, lat))


def bd09_to_wgs84_array(lon: Array, lat: Array) -> tuple[Array, Array]:
    return gcj02_to_wgs84_array(*bd09_to_gcj02_array(lon, lat))


# --- scalars --------------------------------------------------------------------------------

def _scalar(fn: ArrayFn) -> PointFn:
    def point(lon: float, lat: float) -> tuple[float, float]:
        x, y = fn(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return float(x), float(y)
    point.__doc__ = fn.__doc__
    return point


wgs84_to_gcj02 = _scalar(wgs84_to_gcj02_array)
gcj02_to_wgs84 = _scalar(gcj02_to_wgs84_array)
gcj02_to_bd09 = _scalar(gcj02_to_bd09_array)
bd09_to_gcj02 = _scalar(bd09_to_gcj02_array)
wgs84_to_bd09 = _scalar(wgs84_to_bd09_array)
bd09_to_wgs84 = _scalar(bd09_to_wgs84_array)
_gcj02_to_wgs84_one_step = _scalar(_gcj02_to_wgs84_one_step_array)
_bd09_to_gcj02_one_step = _scalar(_bd09_to_gcj02_one_step_array)


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
