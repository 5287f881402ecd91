"""GPX (1.0 and 1.1) and KML/KMZ point files: waypoints, track and route points, placemarks.

XML is parsed with defusedxml: the files come from outside, and defusedxml refuses entity
declarations and external references whatever the version of the system's expat.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from pathlib import PurePath
from typing import Any

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from importers.limits import check_zip, current, parse_xml, unzipped_too_large
from importers.point_files.aliases import canonical_key
from importers.point_files.records import (
    PointFileError,
    PointRecord,
    RecordError,
    build,
    decode,
    map_attrs,
)
from importers.point_files.values import show
from importers.tables import is_blank

_XML_MESSAGES = {
    "no element found": "文件意外结束（可能不完整）",
    "unclosed token": "标记没有结束（文件可能不完整）",
    "mismatched tag": "开始和结束标签不匹配",
    "not well-formed (invalid token)": "格式错误（非法字符）",
    "junk after document element": "根元素之后还有多余内容",
    "undefined entity": "使用了未定义的实体",
    "unclosed CDATA section": "CDATA 段没有结束（文件可能不完整）",
}
_GB_ENCODINGS = {"gbk", "gb2312", "gb18030", "cp936", "x-gbk"}
_XML_DECL = re.compile(
    rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']+)[\"'][^>]*\?>")


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _xml_utf8(data: bytes, what: str) -> bytes:
    """expat reads UTF-8/UTF-16/Latin-1 only; Chinese apps sometimes write GBK."""
    decl = _XML_DECL.match(data)
    declared = decl.group(2).decode("ascii", "replace").casefold() if decl else None
    if decl is not None and declared in _GB_ENCODINGS:
        # same line count, so parse errors still point at the right line
        return ('<?xml version="1.0"?>' + _strict_gb(data[decl.end():], what)).encode("utf-8")
    if declared is None and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) \
            and not _is_utf8(data):
        return decode(data, what).encode("utf-8")
    return data


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _strict_gb(data: bytes, what: str) -> str:
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise PointFileError("unknown_encoding",
                             f"{what}声明为 GBK 编码，但第{line}行有无法解码的字节", line) from None


def _parse_xml(data: bytes, what: str) -> Any:
    try:
        return parse_xml(_xml_utf8(data, what))
    except safe_et.ParseError as e:
        line, column = e.position
        reason = str(e).split(":", 1)[0]
        reason = _XML_MESSAGES.get(reason, reason)
        raise PointFileError("bad_xml", f"{what}第{line}行第{column + 1}列 XML 格式错误：{reason}",
                             line) from None
    except DefusedXmlException:
        raise PointFileError("unsafe_xml",
                             f"{what}含有 XML 实体声明或外部引用，出于安全原因拒绝读取") from None


def _child(el: Any, name: str) -> Any:
    return next((c for c in el if _local(c.tag) == name), None)


def _text(el: Any) -> str | None:
    if el is None:
        return None
    s = "".join(el.itertext()).strip()
    return s or None


def read_xml(data: bytes, what: str) -> list[PointRecord]:
    if not data.strip():
        raise PointFileError("empty", "文件是空的")
    root = _parse_xml(data, what)
    kind = _local(root.tag)
    if kind == "gpx":
        records = _gpx_records(root)
    elif kind == "kml":
        records = _kml_records(root)
    else:
        raise PointFileError("unsupported_format",
                             f"{what}的根元素是 <{show(kind)}>，不是 GPX 或 KML")
    if not records:
        raise PointFileError("empty", f"{what}中没有任何航点、轨迹点或地标")
    return records


def _gpx_records(root: Any) -> list[PointRecord]:
    # GPX 1.0 and 1.1 differ in namespace, not in these element names: match local names.
    records = []
    for el in root.iter():
        if _local(el.tag) not in ("wpt", "trkpt", "rtept"):
            continue
        pairs: list[tuple[object, object]] = []
        ext = _child(el, "extensions")
        if ext is not None:  # leaf elements with known names, e.g. <accuracy>, <client_uuid>
            pairs += [(_local(e.tag), _text(e)) for e in ext.iter() if e is not ext and len(e) == 0]
        attrs = map_attrs(pairs)
        for tag, key in (("name", "name"), ("time", "collected_at"), ("ele", "elevation_m")):
            if (value := _text(_child(el, tag))) is not None:
                attrs[key] = [value]
        notes = [n for n in (_text(_child(el, "desc")), _text(_child(el, "cmt"))) if n]
        if notes:
            attrs["note"] = ["；".join(dict.fromkeys(notes))]
        records.append(build(len(records) + 1, el.get("lon"), el.get("lat"), attrs))
    return records


_NON_POINT = frozenset({"LineString", "LinearRing", "Polygon", "Model", "Track", "MultiTrack"})


def _kml_records(root: Any) -> list[PointRecord]:
    records: list[PointRecord] = []
    for pm in root.iter():
        if _local(pm.tag) != "Placemark":
            continue
        attrs = _kml_attrs(pm)
        points, other = [], None
        for g in pm:
            kind = _local(g.tag)
            if kind == "Point":
                points.append(g)
            elif kind == "MultiGeometry":
                # its points are read; a line or polygon beside them (a plot outline) is not
                parts = [p for p in g.iter() if p is not g and _local(p.tag) != "MultiGeometry"]
                points += [p for p in parts if _local(p.tag) == "Point"]
                other = other or next((_local(p.tag) for p in parts
                                       if _local(p.tag) in _NON_POINT), None)
            elif kind in _NON_POINT:
                other = kind
        if not points:
            error = (RecordError("geometry", "not_a_point",
                                 f"地标的几何类型为“{other}”，只接受点（Point）") if other else
                     RecordError("geometry", "missing_geometry", "地标没有点坐标"))
            records.append(build(len(records) + 1, None, None, attrs, [error], has_point=False))
            continue
        for point in points:
            records.append(_kml_point(len(records) + 1, point, attrs, shared=len(points) > 1))
    return records


def _kml_attrs(pm: Any) -> dict[str, list[object]]:
    pairs: list[tuple[object, object]] = []
    ext = _child(pm, "ExtendedData")
    if ext is not None:
        for e in ext.iter():
            tag = _local(e.tag)
            if tag == "Data":
                name = e.get("name") or _text(_child(e, "displayName")) or ""
                if canonical_key(name) is None:
                    name = _text(_child(e, "displayName")) or name
                pairs.append((name, _text(_child(e, "value"))))
            elif tag == "SimpleData":
                pairs.append((e.get("name") or "", _text(e)))
    attrs = map_attrs(pairs)  # ExtendedData is explicit data: it wins over name/description
    stamp = _child(pm, "TimeStamp")
    span = _child(pm, "TimeSpan")
    when = (_text(_child(stamp, "when")) if stamp is not None else
            _text(_child(span, "begin")) if span is not None else None)
    for key, value in (("name", _text(_child(pm, "name"))),
                       ("note", _text(_child(pm, "description"))), ("collected_at", when)):
        if value is not None and key not in attrs:
            attrs[key] = [value]
    return attrs


def _kml_point(no: int, point: Any, attrs: dict[str, list[object]], shared: bool
               ) -> PointRecord:
    attrs = dict(attrs)
    errors = []
    text = _text(_child(point, "coordinates"))
    text = re.sub(r"\s*,\s*", ",", text) if text else None  # lenient about "lon, lat"
    if text is None:
        return build(no, None, None, attrs, [RecordError("geometry", "missing_geometry",
                                                          "点没有坐标（coordinates 为空）")],
                     has_point=False)
    parts = [p.strip() for p in text.split()[0].split(",")]
    if len(parts) < 2:
        return build(no, None, None, attrs, [RecordError(
            "geometry", "bad_coordinates", "KML 坐标应写成“经度,纬度[,高度]”")], has_point=False)
    mode = (_text(_child(point, "altitudeMode")) or "").casefold()
    if len(parts) > 2 and "elevation_m" not in attrs and (mode == "absolute"
                                                           or parts[2] not in ("0", "0.0", "")):
        attrs["elevation_m"] = [parts[2]]  # the default clampToGround writes a meaningless 0
    if shared and any(not is_blank(v) for v in attrs.get("client_uuid", ())):
        # One id for several points would make all but the first look like conflicts.
        errors.append(RecordError("client_uuid", "shared_client_uuid",
                                  "同一个地标含多个点，却只有一个采集编号；请把每个点分成单独的地标"))
    return build(no, parts[0], parts[1], attrs, errors)


def read_kmz(data: bytes) -> list[PointRecord]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_zip(zf)  # a zip bomb disguised as a KMZ
            names = [i for i in zf.infolist() if i.filename.casefold().endswith(".kml")]
            if not names:
                raise PointFileError("bad_kmz", "KMZ 压缩包里没有 KML 文件")
            info = next((i for i in names if i.filename.casefold() == "doc.kml"), names[0])
            budget = current().unzipped_bytes
            with zf.open(info) as f:
                kml = f.read(budget + 1)  # counted as inflated too: the directory can lie
            if len(kml) > budget:
                raise unzipped_too_large()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise PointFileError("bad_kmz", f"KMZ 文件已损坏或不完整（{type(e).__name__}）") from None
    return read_xml(kml, f"KMZ 中的 {PurePath(info.filename).name} ")
