"""Rows -> RFC 7946 Features and FeatureCollections."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Query, Request
from fastapi.responses import Response

from georeg.coords import wgs84_to_gcj02_array


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

# Amap/Gaode (and Tencent) tiles are drawn in GCJ-02: overlays must be shifted into it to line
# up with their roads. Display only: stored data and every input stay WGS 84.
DisplayCrs = Annotated[Literal["wgs84", "gcj02"], Query(
    description="输出坐标系：wgs84（默认）；gcj02 仅供叠加在高德等 GCJ-02 底图上显示")]

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


GEOJSON = "application/geo+json"


def geojson_response(request: Request, doc: dict[str, Any]) -> Response:
    """A GeoJSON body, gzipped when the client accepts it: boundaries are the bulk of a map."""
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Vary": "Accept-Encoding"}
    if len(body) > 1400 and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=GEOJSON, headers=headers)
