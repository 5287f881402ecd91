"""The area of a sampling plan: drawn polygons, grids, townships and circles, as one union.

Drawn parts arrive in the request's coordinate system and are converted to WGS 84 here
(GCJ-02 and BD-09 with georeg.coords' accurate inverses); each is checked with GEOS and a
broken one is refused with its index and a zh-CN reason (georeg.geometry's wording). Grids
and townships are looked up by id and code; circles are buffers on the geography (true
metres). PostGIS then unions every part in one statement (area_union.sql). A township
account's area is clipped to its township.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from sqlalchemy import Connection, text

from georeg.crs import to_wgs84
from georeg.database import sql_statement
from georeg.errors import FieldError, Forbidden, InvalidInput
from georeg.geometry import invalid_reason
from georeg.validation import invalid

MAX_RADIUS_M = 100_000.0
MAX_VERTICES = 100_000


@dataclass(frozen=True)
class Circle:
    lon: float
    lat: float
    radius_m: float


@dataclass(frozen=True)
class PlanArea:
    ewkb: bytes  # MultiPolygon, SRID 4326: the union of every part
    area_km2: float
    centre_lon: float
    township_code: str | None  # the scope it was clipped to, for township accounts
    clipped: bool  # the drawn union reached beyond that township


def _polygon(raw: Any, field: str, crs: str) -> shapely.Geometry:
    """One drawn part, checked in the coordinates as sent, returned in WGS 84."""
    if not isinstance(raw, dict) or raw.get("type") not in ("Polygon", "MultiPolygon"):
        raise invalid(field, "geometry_type", "范围只能是 GeoJSON Polygon 或 MultiPolygon")
    coords = raw.get("coordinates")
    if not isinstance(coords, list) or not coords:
        raise invalid(field, "empty", "范围为空（没有坐标）")
    try:
        geom = shape(raw)
    except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.GEOSException):
        raise invalid(field, "invalid_geometry",
                      "范围的坐标不完整：每个环至少需要 4 个点且首尾相同") from None
    if shapely.get_num_coordinates(geom) > MAX_VERTICES:
        raise invalid(field, "too_many_vertices", f"范围的顶点过多（上限 {MAX_VERTICES:,}）")
    xy = shapely.get_coordinates(geom)
    if not np.isfinite(xy).all():
        raise invalid(field, "invalid_geometry", "坐标无效")
    # zero area even when repaired: a degenerate ring (points on one line), not a crossing one
    if geom.is_empty or shapely.make_valid(geom).area == 0:
        raise invalid(field, "empty", "范围为空（面积为零）")
    if not geom.is_valid:
        raise invalid(field, "invalid_geometry", f"范围无效：{invalid_reason(geom)}")
    lonlat = crs in ("wgs84", "cgcs2000", "gcj02", "bd09")
    if lonlat and not ((np.abs(xy[:, 0]) <= 180).all() and (np.abs(xy[:, 1]) <= 90).all()):
        raise invalid(field, "out_of_range", "经纬度超出范围（经度 ±180，纬度 ±90）")

    def convert(points: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84(crs, points[:, 0], points[:, 1])
        return np.column_stack([lon, lat])

    out = geom if crs in ("wgs84", "cgcs2000") else shapely.transform(geom, convert)
    if not out.is_valid:  # a conversion may nudge a near-touching vertex across: repair
        out = shapely.make_valid(out)
    return out


def _circles(raw: Sequence[Circle], crs: str) -> tuple[list[float], list[float], list[float]]:
    for i, c in enumerate(raw):
        field = f"area.circles[{i}]"
        if not (0 < c.radius_m <= MAX_RADIUS_M) or not math.isfinite(c.radius_m):
            raise invalid(f"{field}.radius_m", "out_of_range",
                          f"半径应大于 0 且不超过 {MAX_RADIUS_M / 1000:g} 千米")
        if crs in ("wgs84", "cgcs2000", "gcj02", "bd09") and not (
                abs(c.lon) <= 180 and abs(c.lat) <= 90):
            raise invalid(field, "out_of_range", "圆心经纬度超出范围")
    if not raw:
        return [], [], []
    lon, lat = to_wgs84(crs, np.array([c.lon for c in raw]), np.array([c.lat for c in raw]))
    return [float(v) for v in lon], [float(v) for v in lat], [c.radius_m for c in raw]


def _check_known(conn: Connection, grids: Sequence[int], townships: Sequence[str]) -> None:
    errors: list[FieldError] = []
    if grids:
        found = set(conn.execute(text(
            "SELECT id FROM current_grid WHERE id = ANY(:ids)"), {"ids": list(grids)}).scalars())
        missing = [g for g in grids if g not in found]
        if missing:
            errors.append(FieldError("area.grids", "unknown_grid",
                                     "网格不存在或已停用：" + "、".join(map(str, missing))))
    if townships:
        found = set(conn.execute(text(
            "SELECT code FROM township WHERE code = ANY(:codes) AND boundary IS NOT NULL"),
            {"codes": list(townships)}).scalars())
        missing_t = [t for t in townships if t not in found]
        if missing_t:
            errors.append(FieldError("area.townships", "unknown_township",
                                     "乡镇不存在或没有边界：" + "、".join(missing_t)))
    if errors:
        raise InvalidInput("范围中有未知的网格或乡镇", errors)


def _check_scope(conn: Connection, scope: str, grids: Sequence[int],
                 townships: Sequence[str]) -> None:
    """A township account names only its own township and grids."""
    errors = []
    other = [t for t in townships if t != scope]
    if other:
        errors.append(FieldError("area.townships", "out_of_scope",
                                 "只能在本乡镇范围内制定抽样计划：" + "、".join(other)))
    if grids:
        foreign = conn.execute(text(
            "SELECT id FROM grid WHERE id = ANY(:ids) AND township_code <> :t ORDER BY id"),
            {"ids": list(grids), "t": scope}).scalars().all()
        if foreign:
            errors.append(FieldError("area.grids", "out_of_scope",
                                     "网格不属于本乡镇：" + "、".join(map(str, foreign))))
    if errors:
        raise Forbidden("只能在本乡镇范围内制定抽样计划", errors)


_PACKAGE = "georeg.sampling"  # area_union.sql beside this module


def build_area(conn: Connection, *, polygons: Sequence[Any], grids: Sequence[int],
               townships: Sequence[str], circles: Sequence[Circle], crs: str,
               scope: str | None = None) -> PlanArea:
    """Check every part and union them; `scope`: a township account's township code."""
    if not (polygons or grids or townships or circles):
        raise invalid("area", "required", "请至少给出一个范围：多边形、网格、乡镇或圆")
    wkbs = [shapely.to_wkb(_polygon(p, f"area.polygons[{i}]", crs))
            for i, p in enumerate(polygons)]
    lons, lats, radii = _circles(circles, crs)
    _check_known(conn, grids, townships)
    if scope is not None:
        _check_scope(conn, scope, grids, townships)
    row = conn.execute(sql_statement(_PACKAGE, "area_union.sql"), {
        "polygons": wkbs, "grids": list(grids), "townships": list(townships),
        "lons": lons, "lats": lats, "radii": radii, "scope": scope}).one()
    if scope is not None and not row.has_area:
        raise Forbidden("范围不在本乡镇内", [FieldError("area", "out_of_scope",
                                                   "所选范围不在本账号所属乡镇内")])
    if not row.has_area:
        raise invalid("area", "empty", "范围为空（面积为零）")
    if not row.in_county:
        raise invalid("area", "outside_county", "所选范围不在任何已登记乡镇内")
    return PlanArea(bytes(row.ewkb), float(row.km2), float(row.centre_lon), scope,
                    bool(row.clipped))


def gauss_kruger_srid(lon: float) -> int:
    """CGCS2000 3-degree Gauss-Kruger zone (central meridian nearest `lon`) as an EPSG code.

    EPSG:4534 (CM 75E) to EPSG:4554 (CM 135E) in steps of 3 degrees. Anxi (117.6-118.4E) gets
    EPSG:4548, CM 117E, whose zone spans 115.5-118.5E (EPSG:4547 is CM 114E, outside it).
    Within a zone the scale error stays under 0.1 %: distances for spatial balance are true.
    """
    cm = min(135, max(75, 3 * round(lon / 3)))
    return 4534 + (cm - 75) // 3
