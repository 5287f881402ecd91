"""GeoJSON over HTTP: the `crs` query parameter and gzipped responses.

Building Features and the GCJ-02 display shift are the kernel's (georeg/geojson.py).
"""

from __future__ import annotations

import gzip
import json
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import Response

# Display only (see georeg/geojson.py): stored data and every input stay WGS 84.
DisplayCrs = Annotated[Literal["wgs84", "gcj02"], Query(
    description="输出坐标系：wgs84（默认）；gcj02 仅供叠加在高德等 GCJ-02 底图上显示")]

GEOJSON = "application/geo+json"


def geojson_response(request: Request, doc: dict[str, Any]) -> Response:
    """A GeoJSON body, gzipped when the client accepts it: boundaries are the bulk of a map."""
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Vary": "Accept-Encoding"}
    if len(body) > 1400 and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=GEOJSON, headers=headers)
