"""Read township and grid boundary files into plain features (issue 4, part 1: boundaries).

Formats: GeoJSON, Shapefile (a .shp with its sidecars, or a .zip holding one), GeoPackage and
KML/KMZ, read through pyogrio (GDAL). Geometry comes back as WGS 84 lon/lat MultiPolygons.
This module only reads: matching to townships and grids, versioning and the mixed-geometry
refusal are the caller's, in SQL.

Two kinds of failure, as in `point_files`: `BoundaryFileError` when the whole file is unusable
(no CRS, coordinates that are not lon/lat, nothing in it), and `FeatureError`s on a single
`BoundaryFeature` when only that feature is bad, so the report can name every bad one.
"""

from __future__ import annotations

import codecs
import math
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import defusedxml.ElementTree as safe_et
import numpy as np
import pyogrio
import pyogrio.raw
import pyproj
import shapely
from defusedxml import DefusedXmlException
from pyogrio.errors import DataLayerError, DataSourceError
from shapely.geometry.base import BaseGeometry

from georeg.crs import parse_crs as kernel_parse_crs
from georeg.errors import FieldError, InvalidInput
from georeg.geometry import invalid_reason
from grids.boundaries import BoundaryFeature, FeatureError
from importers.limits import check_zip, current, parse_xml, unzipped_too_large

EXTENSIONS: dict[str, str] = {
    ".geojson": "geojson", ".json": "geojson", ".shp": "shapefile", ".zip": "zip",
    ".gpkg": "gpkg", ".kml": "kml", ".kmz": "kmz",
}
WGS84 = pyproj.CRS.from_epsg(4326)
MAX_AREA_CHANGE = 0.01  # a repair that moves more area than this is a guess, not a fix

# Canonical key -> accepted attribute names, most specific first: a grid file often also
# carries its township's code and name, and the grid's own must win.
_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("grid_code", "网格编码", "网格代码", "code", "代码", "编码", "区划代码", "xzqdm",
             "adcode", "gb", "dm"),
    "name": ("grid_name", "网格名称", "name", "名称", "乡镇名称", "乡镇", "xzqmc"),
}
# LIBKML turns KML styling into columns; they say nothing about the boundary.
_KML_NOISE = frozenset({"timestamp", "begin", "end", "altitudemode", "tessellate",
                        "extrude", "visibility", "draworder", "icon", "snippet"})
_POLYGONAL = frozenset({"Polygon", "MultiPolygon"})
_TYPE_ZH = {
    "Point": "点", "MultiPoint": "多点", "LineString": "线", "MultiLineString": "多线",
    "LinearRing": "线环", "GeometryCollection": "几何集合",
}
@dataclass(frozen=True)
class _Shape:
    """A feature's geometry as read, before reprojection and repair."""

    multipolygon: shapely.MultiPolygon | None  # in the file's CRS
    source_type: str | None
    errors: tuple[FeatureError, ...] = ()
    note: str | None = None  # zh-CN, when reading it already needed a fix


class BoundaryFileError(InvalidInput):
    """The whole file is unusable; `message` (zh-CN) says what and where, `code` why.

    An input error of the kernel: the API answers it as 422 with the code as the error of
    field "file" (the problem's own code stays "invalid_input")."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, [FieldError("file", code, message)])
        self.code = code
        self.message = message


def geometry_types(features: Sequence[BoundaryFeature]) -> set[str]:
    """The geometry types as found in the file, for the report. Whether the file has mixed
    types is better asked of the errors: a GeometryCollection of polygons is accepted, any
    point or line gets `not_a_polygon`."""
    return {f.geometry_type for f in features if f.geometry_type}


def read_boundary_file(path: Path, *, crs: str | None = None,
                       layer: str | None = None) -> list[BoundaryFeature]:
    """Read every feature of a boundary file. `crs` overrides the file's own coordinate
    system (e.g. "EPSG:4549" or "4549"); `layer` picks a GeoPackage layer, a KML folder or
    one Shapefile of several in a zip."""
    path = Path(path)
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise BoundaryFileError(
            "unsupported_format", f"不支持的文件类型“{path.suffix or path.name}”：请提供 "
            "GeoJSON、Shapefile（.shp 或 .zip）、GeoPackage 或 KML/KMZ 文件")
    if not path.is_file():
        raise BoundaryFileError("not_found", f"找不到文件 {path.name}")
    if path.stat().st_size == 0:
        raise BoundaryFileError("empty", f"{path.name} 是空文件")
    override = parse_crs(crs) if crs is not None else None
    if fmt != "zip":
        return _read(path, fmt, override, layer, path.name)
    with tempfile.TemporaryDirectory(prefix="georeg-boundary-") as tmp:
        inner, member = _extract_zip(path, Path(tmp), layer)
        inner_fmt = EXTENSIONS[inner.suffix]
        return _read(inner, inner_fmt, override, None if inner_fmt == "shapefile" else layer,
                     f"{path.name} 中的 {member}")


def parse_crs(text: str) -> pyproj.CRS:
    """A user-given CRS, as georeg.crs.parse_crs reads it ("EPSG:4549", a plain EPSG number,
    WKT or a PROJ string); refused as a file error, since it says how to read the file."""
    try:
        return kernel_parse_crs(text)
    except InvalidInput as e:
        raise BoundaryFileError("bad_crs", e.detail) from None


# --- containers ---------------------------------------------------------------------------------

def _extract_zip(path: Path, dest: Path, layer: str | None) -> tuple[Path, str]:
    """Extract the one boundary file in a zip (a Shapefile with its sidecars, else a
    GeoPackage, GeoJSON or KML) under fixed names, so odd member-name encodings never reach
    GDAL. Returns the extracted file and the member's name for messages."""
    try:
        with zipfile.ZipFile(path) as zf:
            check_zip(zf)  # a zip bomb: members and declared sizes, before anything inflates
            members = [i for i in zf.infolist() if not i.is_dir() and not _is_zip_junk(i.filename)]
            shps = [i for i in members if _suffix(i.filename) == ".shp"]
            if shps:
                chosen = _pick_member(shps, layer, path.name, what="Shapefile")
                stem = chosen.filename[:-4]
                parts = [i for i in members if i.filename[:-4] == stem
                         and _suffix(i.filename) in (".shp", ".shx", ".dbf", ".prj", ".cpg")]
            else:
                others = [i for i in members if _suffix(i.filename) in EXTENSIONS
                          and EXTENSIONS[_suffix(i.filename)] in ("gpkg", "geojson", "kml")]
                if not others:
                    raise BoundaryFileError(
                        "unsupported_format", f"压缩包 {path.name} 里没有 Shapefile（.shp）、"
                        "GeoPackage、GeoJSON 或 KML 文件")
                chosen = _pick_member(others, None, path.name, what="数据文件")
                parts = [chosen]
            budget = current().unzipped_bytes
            for info in parts:
                budget -= _copy_member(zf, info, dest / f"boundary{_suffix(info.filename)}",
                                       budget, path.name)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
        raise BoundaryFileError("unreadable", f"{path.name} 不是有效的 ZIP 压缩包，或已损坏"
                                ) from e
    return dest / f"boundary{_suffix(chosen.filename)}", chosen.filename


def _is_zip_junk(name: str) -> bool:
    # macOS Finder adds __MACOSX/._name copies that look like real .shp files
    return name.startswith("__MACOSX/") or PurePosixPath(name).name.startswith("._")


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def _pick_member(infos: list[zipfile.ZipInfo], layer: str | None, zip_name: str,
                 what: str) -> zipfile.ZipInfo:
    stems = [PurePosixPath(i.filename).stem for i in infos]
    if layer is not None:
        if layer in stems:
            return infos[stems.index(layer)]
        raise BoundaryFileError("layer_not_found", f"压缩包 {zip_name} 里没有名为“{layer}”的"
                                f"{what}；现有：{'、'.join(stems)}")
    if len(infos) > 1:
        raise BoundaryFileError("ambiguous_layer", f"压缩包 {zip_name} 里有多个{what}："
                                f"{'、'.join(i.filename for i in infos)}，请用 --layer 指定其一")
    return infos[0]


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int,
                 zip_name: str) -> int:
    written = 0
    with zf.open(info) as src, target.open("wb") as out:
        while chunk := src.read(1 << 20):
            written += len(chunk)
            if written > budget:  # counted as read: the header's sizes can lie
                raise unzipped_too_large()
            out.write(chunk)
    return written


def _check_kml_safe(path: Path, fmt: str, where: str) -> None:
    """KML comes from outside; GDAL's XML readers are not hardened the way defusedxml is, so
    refuse entity declarations and external references before GDAL sees the file."""
    try:
        if fmt == "kml":
            docs = [path.read_bytes()]
        else:
            with zipfile.ZipFile(path) as zf:
                check_zip(zf)
                docs = [_read_capped(zf, i, where) for i in zf.infolist()
                        if _suffix(i.filename) == ".kml"]
    except (zipfile.BadZipFile, OSError) as e:
        raise BoundaryFileError("unreadable", f"{where} 已损坏或不是 KMZ 文件") from e
    for doc in docs:
        try:
            parse_xml(doc)  # elements counted: GDAL would hold them all
        except DefusedXmlException:
            raise BoundaryFileError("unsafe_xml", f"{where} 含有实体声明或外部引用，出于安全考虑"
                                    "拒绝读取") from None
        except safe_et.ParseError as e:
            raise BoundaryFileError("unreadable", f"{where} 不是格式正确的 KML（第 "
                                    f"{e.position[0]} 行附近）") from None


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    with zf.open(info) as f:
        data = f.read(current().unzipped_bytes + 1)  # not file_size: the header can lie
    if len(data) > current().unzipped_bytes:
        raise unzipped_too_large()
    return data


# --- layers, encodings --------------------------------------------------------------------------

def _read(path: Path, fmt: str, override: pyproj.CRS | None, layer: str | None,
          where: str) -> list[BoundaryFeature]:
    if fmt == "shapefile":
        _check_sidecars(path, where)
    if fmt in ("kml", "kmz"):
        _check_kml_safe(path, fmt, where)
    try:
        infos = [(str(n), t) for n, t in pyogrio.list_layers(path)]
    except (DataSourceError, DataLayerError) as e:
        raise BoundaryFileError("unreadable",
                                f"无法读取 {where}：文件已损坏或不是声明的格式") from e
    layers = _choose_layers(infos, fmt, layer, where)
    encodings = _dbf_encodings(path) if fmt == "shapefile" else [None]
    raw: list[tuple[str, dict, np.ndarray, list[np.ndarray]]] = []
    for name in layers:
        meta, _, geoms, data = _read_layer(path, name, encodings, where)
        raw.append((name, meta, geoms, data))
    if sum(len(g) for _, _, g, _ in raw) == 0:
        raise BoundaryFileError("empty", f"{where} 中没有任何要素")
    src = override or _file_crs(raw[0][1].get("crs"), fmt, where)
    return _features(raw, fmt, src, where)


def _check_sidecars(shp: Path, where: str) -> None:
    for ext, what in ((".shx", "索引"), (".dbf", "属性表")):
        if _sidecar(shp, ext) is None:
            raise BoundaryFileError("missing_sidecar", f"{where} 缺少同名的 {ext} 文件（{what}），"
                                    "请把 .shp、.shx、.dbf、.prj（和 .cpg）一起提供，或打包成 zip")


def _sidecar(shp: Path, ext: str) -> Path | None:
    return next((p for p in shp.parent.iterdir()
                 if p.stem == shp.stem and p.suffix.lower() == ext), None)


def _choose_layers(infos: list[tuple[str, str | None]], fmt: str, layer: str | None,
                   where: str) -> list[str]:
    names = [n for n, _ in infos]
    if layer is not None:
        if layer in names:
            return [layer]
        raise BoundaryFileError("layer_not_found", f"{where} 中没有名为“{layer}”的图层；"
                                f"现有图层：{'、'.join(names) or '无'}")
    if len(names) <= 1 or fmt in ("kml", "kmz"):
        return names  # KML folders only group placemarks: read them all
    polygonal = [n for n, t in infos if t and _maybe_polygonal(t)]
    if len(polygonal) == 1:
        return polygonal
    listing = "、".join(f"{n}（{t or '无几何'}）" for n, t in infos)
    if not polygonal:
        raise BoundaryFileError("no_polygon_layer", f"{where} 中没有面图层：{listing}")
    # Township and grid layers often share one GeoPackage: guessing could import the wrong one.
    raise BoundaryFileError("ambiguous_layer", f"{where} 有多个面图层：{listing}，"
                            "请用 --layer 指定其一")


def _maybe_polygonal(gtype: str) -> bool:
    base = gtype.split()[0]
    return base in ("Unknown", "Geometry", "GeometryCollection", "CurvePolygon", "MultiSurface",
                    "Surface", *_POLYGONAL)


def _dbf_encodings(shp: Path) -> list[str | None]:
    """Encodings to try for the DBF strings, in order; None lets GDAL decide (from the .cpg or
    the DBF's language byte, else ISO-8859-1, which never fails)."""
    cpg = _sidecar(shp, ".cpg")
    if cpg is None:
        # No .cpg is common with older Chinese desktop GIS: UTF-8 rarely decodes GBK by accident.
        return ["UTF-8", "GB18030", None]
    codec = _codec(cpg.read_bytes().decode("ascii", "ignore"))
    if codec == "utf-8":
        # Some tools write "UTF-8" whatever the data is; GBK bytes would come out as "?"s.
        return ["UTF-8", "GB18030"]
    return [codec, None] if codec else [None]


def _codec(cpg_text: str) -> str | None:
    s = cpg_text.strip().upper().replace("ANSI", "").replace("_", "-").strip()
    if s in ("GBK", "GB2312", "CP936", "936", "GB18030", "54936", "EUC-CN"):
        return "gb18030"  # a superset: GB2312-labelled files often hold GBK-only characters
    if s in ("65001", "UTF8"):
        return "utf-8"
    if s.isdigit():
        s = f"CP{s}"
    try:
        return codecs.lookup(s).name
    except LookupError:
        return None


def _read_layer(path: Path, layer: str, encodings: list[str | None],
                where: str) -> tuple[dict, np.ndarray, np.ndarray, list[np.ndarray]]:
    for enc in encodings:
        try:
            return pyogrio.raw.read(path, layer=layer, encoding=enc, force_2d=True,
                                    datetime_as_string=True)
        except UnicodeDecodeError:
            continue  # try the next candidate encoding
        except (DataSourceError, DataLayerError) as e:
            raise BoundaryFileError("unreadable", f"无法读取 {where} 的图层“{layer}”") from e
    raise BoundaryFileError("bad_encoding", f"{where} 的属性表编码无法识别（已尝试 "
                            f"{'、'.join(e or '默认' for e in encodings)}），请检查 .cpg 文件")


def _file_crs(declared: str | None, fmt: str, where: str) -> pyproj.CRS:
    if declared:
        try:
            return kernel_parse_crs(declared)
        except InvalidInput:
            raise BoundaryFileError("bad_crs", f"{where} 声明的坐标系无法识别，请用 --crs 指定"
                                    ) from None
    if fmt in ("geojson", "kml", "kmz"):
        return WGS84  # RFC 7946 and KML are WGS 84 by definition
    what = "缺少 .prj 文件" if fmt == "shapefile" else "没有声明坐标系"
    raise BoundaryFileError("missing_crs", f"{where} {what}，无法确定坐标系；请用 --crs 指定，"
                            "如 --crs EPSG:4490（CGCS2000 经纬度）或 --crs EPSG:4549"
                            "（CGCS2000 3度带 中央经线120°E）")


# --- features -----------------------------------------------------------------------------------

def _features(raw: list[tuple[str, dict, np.ndarray, list[np.ndarray]]], fmt: str,
              src: pyproj.CRS, where: str) -> list[BoundaryFeature]:
    kml = fmt in ("kml", "kmz")
    rows: list[tuple[dict[str, object], bytes | None]] = []
    for layer_name, meta, geoms, data in raw:
        names = [str(n) for n in meta["fields"]]
        int_fields = {n for n, t in zip(names, meta["ogr_types"], strict=True)
                      if t in ("OFTInteger", "OFTInteger64")}
        for i, wkb in enumerate(geoms):
            attrs = {n: _json_value(col[i], n in int_fields) for n, col in zip(names, data,
                                                                               strict=True)}
            if kml:  # schemaless: a None is only an absent ExtendedData entry
                attrs = {k: v for k, v in attrs.items()
                         if v is not None and k.casefold() not in _KML_NOISE}
                if len(raw) > 1:
                    attrs["kml_folder"] = layer_name
            rows.append((attrs, wkb))
    keys = _identifier_fields({k for attrs, _ in rows for k in attrs}, where)

    shapes = [_parse_geometry(wkb) for _, wkb in rows]
    polys = np.array([s.multipolygon for s in shapes], dtype=object)
    lonlat = _to_lonlat(polys, src, where)

    out = []
    for no, ((attrs, _), shape, geom) in enumerate(zip(rows, shapes, lonlat, strict=True), 1):
        errors = list(shape.errors)
        repaired = shape.note
        if geom is not None and not shapely.is_valid(geom):
            geom, fixed, error = _repair(geom)
            errors += [error] if error else []
            repaired = "；".join(n for n in (repaired, fixed) if n) if fixed else None
        code = _text(attrs.pop(keys["code"], None)) if keys["code"] else None
        name = _text(attrs.pop(keys["name"], None)) if keys["name"] else None
        if code is None and name is None:
            errors.append(FeatureError("code", "missing_identifier", "编码和名称都为空，无法匹配"))
        out.append(BoundaryFeature(record=no, code=code, name=name, geometry=geom,
                                   repaired=repaired, errors=tuple(errors), attributes=attrs,
                                   geometry_type=shape.source_type))
    return out


def _norm_key(name: str) -> str:
    s = unicodedata.normalize("NFKC", name).casefold().strip()
    return re.sub(r"[\s_\-]+", "", s)


def _identifier_fields(present: set[str], where: str) -> dict[str, str | None]:
    by_norm = {_norm_key(k): k for k in sorted(present)}
    found = {key: next((by_norm[_norm_key(a)] for a in aliases if _norm_key(a) in by_norm), None)
             for key, aliases in _ALIASES.items()}
    if not any(found.values()):
        raise BoundaryFileError("no_identifier_field", f"{where} 没有编码或名称字段（现有字段："
                                f"{'、'.join(sorted(present)) or '无'}）；编码字段可叫 "
                                f"{'、'.join(_ALIASES['code'])}，名称字段可叫 "
                                f"{'、'.join(_ALIASES['name'])}")
    return found


def _json_value(v: object, integer: bool) -> object:
    if isinstance(v, np.ndarray):  # list-typed fields (GeoJSON arrays)
        return [_json_value(x, False) for x in v.tolist()]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        if not math.isfinite(v):
            return None  # pyogrio reads a null number as NaN
        return int(v) if integer else v  # ints with nulls arrive as floats
    if isinstance(v, bytes):
        return v.hex()
    return v


def _text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # a numeric DBF code column: 350524100.0 -> "350524100"
    s = str(v).strip()
    return s or None


def _parse_geometry(wkb: bytes | None) -> _Shape:
    missing = FeatureError("geometry", "missing_geometry", "缺少几何（边界为空）")
    if wkb is None:
        return _Shape(None, None, (missing,))
    note = None
    try:
        try:
            geom = shapely.from_wkb(wkb)
        except shapely.errors.GEOSException:
            # GDAL passes unclosed rings through; closing them is what the author meant.
            geom = shapely.from_wkb(wkb, on_invalid="fix")
            note = "环未闭合，已自动闭合"
    except shapely.errors.GEOSException:
        return _Shape(None, None, (FeatureError("geometry", "invalid_geometry", "几何无法解析"),))
    except NotImplementedError:  # curves (CurvePolygon, MultiSurface) from a GeoPackage
        return _Shape(None, None, (FeatureError(
            "geometry", "unsupported_geometry", "含圆弧等曲线的几何暂不支持，请先在 GIS 软件中"
            "转为折线面"),))
    if geom is None:
        return _Shape(None, None, (FeatureError("geometry", "invalid_geometry", "几何无法解析"),))
    gtype = geom.geom_type
    if geom.is_empty:
        return _Shape(None, gtype, (missing,))
    parts = list(_flatten(geom))
    if not all(p.geom_type == "Polygon" for p in parts):
        bad = next(p.geom_type for p in parts if p.geom_type != "Polygon")
        return _Shape(None, gtype, (FeatureError(
            "geometry", "not_a_polygon",
            f"几何类型是{_TYPE_ZH.get(bad, bad)}，边界只接受面（Polygon/MultiPolygon）"),))
    return _Shape(shapely.MultiPolygon([p for p in parts if not p.is_empty]), gtype, note=note)


def _flatten(geom: BaseGeometry) -> Iterator[BaseGeometry]:
    if hasattr(geom, "geoms"):
        for g in geom.geoms:
            yield from _flatten(g)
    else:
        yield geom


def _to_lonlat(polys: np.ndarray, src: pyproj.CRS, where: str) -> np.ndarray:
    present = np.array([g is not None for g in polys], dtype=bool)
    if not present.any():
        return polys
    src_bounds = shapely.bounds(polys[present])
    if src.is_projected and _in_lonlat_range(src_bounds).all():
        raise BoundaryFileError(
            "coordinates_not_projected", f"{where} 声明的坐标系是投影坐标（{src.name}），"
            "但坐标看起来是经纬度；请用 --crs 指定正确的坐标系，如 --crs EPSG:4490")
    out = polys.copy()
    if not src.equals(WGS84):
        t = pyproj.Transformer.from_crs(src, WGS84, always_xy=True)
        out[present] = shapely.transform(
            polys[present], lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    ok = _in_lonlat_range(shapely.bounds(out[present]))
    if not ok.all():
        bad = int(np.flatnonzero(present)[np.argmin(ok)])
        x0, y0, x1, y1 = src_bounds[np.argmin(ok)]
        raise BoundaryFileError(
            "coordinates_not_lonlat",
            f"{where} 第 {bad + 1} 个要素的坐标（{x0:.6g}, {y0:.6g} 至 {x1:.6g}, {y1:.6g}）"
            f"换算后不在经纬度范围内：坐标系按 {src.name} 读取，可能不对（例如投影坐标"
            "被当成了经纬度）；请用 --crs 指定正确的坐标系，如 --crs EPSG:4549")
    return out


def _in_lonlat_range(bounds: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # inf/NaN from pyproj compare False, as they should
        return ((bounds[:, 0] >= -180) & (bounds[:, 2] <= 180)
                & (bounds[:, 1] >= -90) & (bounds[:, 3] <= 90))


def _repair(geom: shapely.MultiPolygon) -> tuple[shapely.MultiPolygon | None, str | None,
                                                  FeatureError | None]:
    """make_valid, keeping only polygonal parts; accepted only if the area barely moves, since
    a larger change means the repair guessed at what the boundary should be."""
    reason = invalid_reason(geom)
    fixed = shapely.MultiPolygon([p for p in _flatten(shapely.make_valid(geom))
                                  if p.geom_type == "Polygon" and not p.is_empty])
    before, after = geom.area, fixed.area
    if fixed.is_empty or before <= 0:
        return None, None, FeatureError("geometry", "invalid_geometry",
                                        f"几何无效（{reason}），无法安全修复")
    change = abs(after - before) / before
    if change >= MAX_AREA_CHANGE:
        return None, None, FeatureError(
            "geometry", "invalid_geometry",
            f"几何无效（{reason}），自动修复会使面积变化 {change:.1%}（超过 1%），未导入")
    return fixed, f"几何无效（{reason}），已自动修复，面积变化 {change:.3%}", None


__all__ = ["EXTENSIONS", "BoundaryFeature", "BoundaryFileError", "FeatureError",
           "geometry_types", "parse_crs", "read_boundary_file"]
