"""Rows -> RFC 7946 Features and FeatureCollections, and their display coordinates.

Amap/Gaode (and Tencent) tiles are drawn in GCJ-02: overlays must be shifted into it to line up
with their roads. Display only: stored data and every input stay WGS 84. `in_display_crs`
(documents) and `lonlat_in_display_crs` (records with lon/lat) are the one place that shift is
made for output; HTTP concerns (the `crs` query parameter, gzip) stay in api/geojson.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import numpy as np

from georeg.coords import wgs84_to_gcj02_array

__all__ = ["collection", "feature", "in_display_crs", "lonlat_in_display_crs"]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def feature(row: Any, *, id_field: str = "id", exclude: Iterable[str] = ()) -> dict[str, Any]:
    data = row._asdict() if hasattr(row, "_asdict") else dict(row)
    geometry = data.pop("geometry", None)
    for name in exclude:
        data.pop(name, None)
    return {"type": "Feature", "id": data.get(id_field), "geometry": geometry,
            "properties": {k: _plain(v) for k, v in data.items()}}


def collection(features: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **members}


# --- display coordinates ------------------------------------------------------------------------

_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2,
          "MultiPolygon": 3}


def _positions(geometry: dict[str, Any] | None, out: list[list[float]]) -> None:
    if not geometry:
        return
    if geometry.get("type") == "GeometryCollection":
        for g in geometry.get("geometries", []):
            _positions(g, out)
        return
    stack = [(geometry["coordinates"], _DEPTH[geometry["type"]])]
    while stack:
        coords, depth = stack.pop()
        if depth == 0:
            out.append(coords)
        else:
            stack.extend((c, depth - 1) for c in coords)


def in_display_crs(doc: dict[str, Any], crs: str) -> dict[str, Any]:
    """A Feature or FeatureCollection with its coordinates moved into `crs`, in place.

    One vectorised call of georeg.coords for all positions (tens of thousands on a county map);
    6 decimals (~0.1 m), like ST_AsGeoJSON(geom, 6) elsewhere."""
    if crs == "wgs84":
        return doc
    features = doc["features"] if doc.get("type") == "FeatureCollection" else [doc]
    positions: list[list[float]] = []
    for f in features:
        _positions(f.get("geometry"), positions)
    if not positions:
        return doc
    lon = np.fromiter((p[0] for p in positions), float, len(positions))
    lat = np.fromiter((p[1] for p in positions), float, len(positions))
    x, y = wgs84_to_gcj02_array(lon, lat)
    for p, a, b in zip(positions, np.round(x, 6).tolist(), np.round(y, 6).tolist(), strict=True):
        p[0], p[1] = a, b
    for f in features:
        (f.get("geometry") or {}).pop("bbox", None)
    doc["display_crs"] = crs  # a foreign member (RFC 7946 §6.1): not for storage
    return doc


def lonlat_in_display_crs(records: list[dict[str, Any]], crs: str) -> list[dict[str, Any]]:
    """Records with `lon` and `lat` (a table's rows), copied with them moved into `crs`.

    Full precision, unlike `in_display_crs`: tables round for their own columns."""
    if crs == "wgs84" or not records:
        return records
    lon, lat = wgs84_to_gcj02_array(np.array([r["lon"] for r in records], dtype=float),
                                    np.array([r["lat"] for r in records], dtype=float))
    return [r | {"lon": float(x), "lat": float(y)}
            for r, x, y in zip(records, lon, lat, strict=True)]
