"""Importing township and grid boundaries: match by code then by name, keep history.

A changed grid closes its old version (valid_to) and opens a new one under the same code, so
past reports stay true; a changed township keeps its old boundary in
township_boundary_history. One transaction; `dry_run` reports without writing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import shapely
from sqlalchemy import Connection, text

from georeg.errors import FieldError, InvalidInput
from grids.reassign import reassign


# What a boundary file reader (importers.boundary_files) hands over: one feature of a layer.
@dataclass(frozen=True)
class FeatureError:
    field: str  # "geometry", "code"
    code: str  # "missing_geometry", "not_a_polygon", "invalid_geometry", ...
    message: str  # zh-CN


@dataclass(frozen=True)
class BoundaryFeature:
    record: int  # 1-based position in the layer (KML: in the file, across folders)
    code: str | None
    name: str | None
    geometry: shapely.MultiPolygon | None  # EPSG:4326, lon/lat; None when unusable
    repaired: str | None  # zh-CN note when an invalid geometry was repaired
    errors: tuple[FeatureError, ...]
    attributes: dict[str, object]  # the other attributes, JSON-safe
    geometry_type: str | None = None  # as in the file ("Polygon", "Point", ...); None if absent


ACTION_LABELS = {"new": "新增", "changed": "变更", "unchanged": "未变", "unmatched": "未匹配",
                 "invalid": "无效"}
# Boundaries differing by less than this (m2) are the same boundary re-exported.
SAME_M2 = 1.0


@dataclass
class FeatureReport:
    record: int
    code: str | None
    name: str | None
    action: str
    matched: str | None = None
    note: str | None = None
    errors: list[FieldError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {"record": self.record, "code": self.code, "name": self.name,
               "action": self.action, "action_label": ACTION_LABELS[self.action],
               "matched": self.matched, "note": self.note}
        if self.errors:
            out["errors"] = [{"field": e.field, "code": e.code, "message": e.message}
                             for e in self.errors]
        return out


def _refuse(message: str, errors: list[FieldError]) -> InvalidInput:
    return InvalidInput(message, errors)


def _differs(conn: Connection, old: Any, new: shapely.Geometry) -> bool:
    return conn.execute(text(
        "SELECT ST_Area(ST_SymDifference(CAST(:old AS geometry), "
        "ST_GeomFromWKB(:new, 4326))::geography) > :same"),
        {"old": old, "new": shapely.to_wkb(new), "same": SAME_M2}).scalar_one()


class Matcher:
    """Existing boundaries by code, then by name when the name is unique."""

    def __init__(self, rows: list[Any]) -> None:
        self.by_code = {r.code: r for r in rows}
        self.by_name: dict[str, list[Any]] = {}
        for r in rows:
            self.by_name.setdefault(r.name, []).append(r)

    def match(self, f: BoundaryFeature) -> Any:
        same_name = self.by_name.get(f.name or "", [])
        return self.by_code.get(f.code or "") or (same_name[0] if len(same_name) == 1 else None)


def _import_townships(conn: Connection, features: list[BoundaryFeature], valid_from: date,
                      reports: list[FeatureReport]) -> None:
    townships = Matcher(conn.execute(text("SELECT code, name, boundary FROM township")).all())
    for f in features:
        rep = reports[f.record - 1]
        match = townships.match(f)
        wkb = shapely.to_wkb(f.geometry)
        if match is None:
            if f.code and len(f.code) == 12 and f.code.isdigit() and f.name:
                conn.execute(text(
                    "INSERT INTO township (code, name, boundary, boundary_source, centre) "
                    "VALUES (:c, :n, ST_GeomFromWKB(:g, 4326), 'imported', "
                    "ST_PointOnSurface(ST_GeomFromWKB(:g, 4326)))"),
                    {"c": f.code, "n": f.name, "g": wkb})
                rep.action, rep.matched = "new", f.code
            else:
                rep.action = "unmatched"
                rep.note = "未找到同代码或同名的乡镇（新乡镇须有 12 位代码和名称）"
            continue
        rep.matched = match.code
        if match.boundary is not None and not _differs(conn, match.boundary, f.geometry):
            rep.action = "unchanged"
            continue
        rep.action = "changed"
        conn.execute(text(
            "INSERT INTO township_boundary_history (township_code, boundary, source, valid_to) "
            "SELECT code, boundary, boundary_source, :d FROM township "
            "WHERE code = :c AND boundary IS NOT NULL"), {"c": match.code, "d": valid_from})
        conn.execute(text("UPDATE township SET boundary = ST_GeomFromWKB(:g, 4326), "
                          "boundary_source = 'imported' WHERE code = :c"),
                     {"g": wkb, "c": match.code})


def _grid_township(conn: Connection, f: BoundaryFeature) -> str | None:
    if f.code and len(f.code) == 15 and conn.execute(
            text("SELECT 1 FROM township WHERE code = :c"), {"c": f.code[:12]}).first():
        return f.code[:12]
    return conn.execute(text(
        "SELECT code FROM township WHERE ST_Intersects(boundary, "
        "ST_PointOnSurface(ST_GeomFromWKB(:g, 4326))) ORDER BY code LIMIT 1"),
        {"g": shapely.to_wkb(f.geometry)}).scalar()


def _next_code(conn: Connection, township: str) -> str:
    n = conn.execute(text("SELECT coalesce(max(right(code, 3)::int), 0) + 1 FROM grid "
                          "WHERE township_code = :t"), {"t": township}).scalar_one()
    return f"{township}{n:03d}"


def _import_grids(conn: Connection, features: list[BoundaryFeature], valid_from: date,
                  reports: list[FeatureReport]) -> None:
    grids = Matcher(conn.execute(text("SELECT id, code, name, township_code, boundary, "
                                      "valid_from FROM current_grid")).all())
    outside: list[FieldError] = []
    for f in features:
        rep = reports[f.record - 1]
        match = grids.match(f)
        wkb = shapely.to_wkb(f.geometry)
        if match is None:
            township = _grid_township(conn, f)
            if township is None:
                outside.append(FieldError(f"[{f.record}].geometry", "outside_all_townships",
                                          f"第 {f.record} 个要素：网格不在任何乡镇内"))
                continue
            code = f.code if f.code and len(f.code) == 15 and f.code.startswith(township) \
                else _next_code(conn, township)
            conn.execute(text(
                "INSERT INTO grid (code, township_code, name, boundary, valid_from) "
                "VALUES (:c, :t, :n, ST_GeomFromWKB(:g, 4326), :d)"),
                {"c": code, "t": township, "n": f.name or f"{code} 网格", "g": wkb,
                 "d": valid_from})
            rep.action, rep.matched = "new", code
            continue
        rep.matched = match.code
        if not _differs(conn, match.boundary, f.geometry):
            rep.action = "unchanged"
            continue
        rep.action = "changed"
        if match.valid_from >= valid_from:  # a version opened the same day: correct it
            conn.execute(text("UPDATE grid SET boundary = ST_GeomFromWKB(:g, 4326) "
                              "WHERE id = :id"), {"g": wkb, "id": match.id})
            continue
        conn.execute(text("UPDATE grid SET valid_to = :d WHERE id = :id"),
                     {"d": valid_from, "id": match.id})
        new_id = conn.execute(text(
            "INSERT INTO grid (code, township_code, name, boundary, valid_from) "
            "VALUES (:c, :t, :n, ST_GeomFromWKB(:g, 4326), :d) RETURNING id"),
            {"c": match.code, "t": match.township_code, "n": f.name or match.name, "g": wkb,
             "d": valid_from}).scalar_one()
        conn.execute(text("INSERT INTO grid_staff (grid_id, role, person, account_id) "
                          "SELECT :new, role, person, account_id FROM grid_staff "
                          "WHERE grid_id = :old"), {"new": new_id, "old": match.id})
    if outside:
        raise _refuse("有网格不在任何乡镇内，本次导入未保存", outside)


def import_boundaries(conn: Connection, features: list[BoundaryFeature], *, level: str,
                      valid_from: date, dry_run: bool = False) -> dict[str, Any]:
    """Import (or, with dry_run, only report); then re-assign everything to its grid."""
    not_polygons = [f for f in features if any(e.code == "not_a_polygon" for e in f.errors)]
    if not_polygons:
        raise _refuse("文件混合了多种几何类型（边界须为面），本次导入未保存", [
            FieldError(f"[{f.record}].geometry", "not_a_polygon",
                       f"第 {f.record} 个要素不是面（{f.geometry_type}）") for f in not_polygons])
    reports = [FeatureReport(f.record, f.code, f.name, "invalid" if f.errors else "unchanged",
                             note=f.repaired,
                             errors=[FieldError(e.field, e.code, e.message) for e in f.errors])
               for f in features]
    usable = [f for f in features if not f.errors and f.geometry is not None]
    result: dict[str, Any] = {}
    savepoint = conn.begin_nested()
    if level == "township":
        _import_townships(conn, usable, valid_from, reports)
    else:
        _import_grids(conn, usable, valid_from, reports)
    if dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
        result["reassignment"] = reassign(conn)
    counts = {k: sum(r.action == k for r in reports) for k in ACTION_LABELS}
    return {"level": level, "dry_run": dry_run, "valid_from": valid_from.isoformat(),
            "counts": counts, "features": [r.as_dict() for r in reports], **result}
