"""Coordinate systems given by users or declared by files: the one place they are parsed.

`normalize_crs` names the input CRS of field data, converted to WGS 84 in batches (numpy
arrays): GCJ-02 and BD-09 have no EPSG code; everything else goes through pyproj. CGCS2000
differs from WGS 84 by cm, taken as is (docs/domain.md, "Geography"). `parse_crs` gives the pyproj
CRS of data that pyproj reprojects itself (boundary files).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pyproj

from georeg.coords import bd09_to_wgs84_array, gcj02_to_wgs84_array
from georeg.errors import FieldError, InvalidInput

NAMED = ("wgs84", "cgcs2000", "gcj02", "bd09")


_ALIASES = {"wgs84": "wgs84", "epsg4326": "wgs84", "4326": "wgs84", "cgcs2000": "cgcs2000",
            "epsg4490": "cgcs2000", "4490": "cgcs2000", "gcj02": "gcj02", "bd09": "bd09",
            "bd09ll": "bd09"}
_EPSG_OF = {"wgs84": 4326, "cgcs2000": 4490}  # GCJ-02 and BD-09 have none


def _squash(value: str) -> str:
    return value.strip().lower().replace("-", "").replace("_", "")


def normalize_crs(value: str | None) -> str:
    """`wgs84` (default), `cgcs2000`, `gcj02`, `bd09`, or `EPSG:n` for any code pyproj knows."""
    text = _squash(value or "wgs84")
    if text in _ALIASES:
        return _ALIASES[text]
    m = re.fullmatch(r"(?:epsg:?)?(\d{4,6})", text)
    if m:
        try:
            _transformer(int(m.group(1)))
        except pyproj.exceptions.CRSError:
            pass
        else:
            return f"EPSG:{m.group(1)}"
    msg = "坐标系应为 wgs84、cgcs2000、gcj02、bd09 或 EPSG 代码（如 EPSG:4549）"
    raise InvalidInput(msg, [FieldError("crs", "unknown_crs", msg)])


def parse_crs(value: str) -> pyproj.CRS:
    """A CRS pyproj can transform: "EPSG:4549" or a plain EPSG number, WKT, a PROJ string, or a
    name `normalize_crs` knows that has an EPSG code (wgs84, cgcs2000). InvalidInput if not."""
    s = str(value).strip()
    epsg = _EPSG_OF.get(_ALIASES.get(_squash(s), ""))
    try:
        return pyproj.CRS.from_user_input(f"EPSG:{epsg or s}" if epsg or s.isdigit() else s)
    except pyproj.exceptions.CRSError:
        msg = f"无法识别坐标系“{value}”，请写成 EPSG:4549 这样的代码"
        raise InvalidInput(msg, [FieldError("crs", "unknown_crs", msg)]) from None


@lru_cache(maxsize=32)
def _transformer(code: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(pyproj.CRS.from_epsg(code), "EPSG:4326", always_xy=True)


def to_wgs84(crs: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if crs in ("wgs84", "cgcs2000"):
        return x, y
    if crs == "gcj02":
        return gcj02_to_wgs84_array(x, y)
    if crs == "bd09":
        return bd09_to_wgs84_array(x, y)
    lon, lat = _transformer(int(crs.split(":")[1])).transform(x, y)
    return np.asarray(lon), np.asarray(lat)
