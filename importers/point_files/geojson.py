"""GeoJSON point files: a FeatureCollection, a single Feature or a bare Point, one record per
feature; JSON syntax errors are named by line and column in zh-CN."""

from __future__ import annotations

import json

from importers.point_files.records import (
    PointFileError,
    PointRecord,
    RecordError,
    build,
    decode,
    map_attrs,
)
from importers.point_files.values import show

_JSON_MESSAGES = {
    "Expecting value": "此处缺少一个值",
    "Expecting ',' delimiter": "缺少逗号",
    "Expecting ':' delimiter": "缺少冒号",
    "Expecting property name enclosed in double quotes": "属性名应当用双引号括起来",
    "Unterminated string starting at": "字符串没有结束",
    "Invalid control character at": "字符串中有非法控制字符",
    "Extra data": "JSON 结束后还有多余内容",
}


def read_geojson(data: bytes) -> list[PointRecord]:
    text = decode(data, "GeoJSON 文件")
    if not text.strip():
        raise PointFileError("empty", "文件是空的")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        reason = _JSON_MESSAGES.get(e.msg, e.msg)
        if e.pos >= len(text.rstrip()):
            reason += "（文件在此处意外结束，可能不完整）"
        raise PointFileError("bad_json", f"GeoJSON 第{e.lineno}行第{e.colno}列语法错误：{reason}",
                             e.lineno) from None
    if not isinstance(doc, dict):
        raise PointFileError("not_geojson",
                             "文件不是 GeoJSON：顶层应为 FeatureCollection 或 Feature")
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise PointFileError("not_geojson", "FeatureCollection 缺少 features 数组")
    elif kind == "Feature":
        features = [doc]
    elif kind in ("Point", "MultiPoint"):
        features = [{"type": "Feature", "geometry": doc, "properties": None}]
    else:
        raise PointFileError("not_geojson", f"文件不是 GeoJSON：顶层 type 为“{show(kind)}”，"
                             "应为 FeatureCollection")
    if not features:
        raise PointFileError("empty", "FeatureCollection 中没有任何要素")
    return [_geojson_record(i, f) for i, f in enumerate(features, 1)]


def _geojson_record(no: int, feature: object) -> PointRecord:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return build(no, None, None, {}, [RecordError("geometry", "not_a_feature",
                                                       "该要素不是 GeoJSON Feature")],
                     has_point=False)
    props = feature.get("properties")
    attrs = map_attrs(props.items() if isinstance(props, dict) else ())
    geometry = feature.get("geometry")
    if not geometry:
        return build(no, None, None, attrs, [RecordError("geometry", "missing_geometry",
                                                          "该要素没有几何（geometry 为空）")],
                     has_point=False)
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if kind == "MultiPoint" and isinstance(coords, list) and len(coords) == 1:
        kind, coords = "Point", coords[0]
    if kind != "Point":
        return build(no, None, None, attrs, [RecordError(
            "geometry", "not_a_point", f"几何类型为“{show(kind)}”，只接受点（Point）")],
            has_point=False)
    if not isinstance(coords, list) or len(coords) < 2:
        return build(no, None, None, attrs, [RecordError(
            "geometry", "bad_coordinates", "点的坐标应为 [经度, 纬度]")], has_point=False)
    if len(coords) > 2 and "elevation_m" not in attrs:
        attrs["elevation_m"] = [coords[2]]
    return build(no, coords[0], coords[1], attrs)
