"""Tests for importers.point_files: field files of GPS site points into plain records.

Pure Python, no database. Every sample file is built here (openpyxl writes the XLSX files,
str.encode makes the GB18030 and UTF-16 ones) so each test shows the exact bytes it reads.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime, time

import openpyxl
import pytest

from importers.point_files import (
    PointFileError,
    PointRecord,
    RecordError,
    detect_format,
    read_point_file,
)
from tests.helpers import resident_id


def codes(record: PointRecord) -> dict[str, str]:
    return {e.field: e.code for e in record.errors}


def one_csv(header: str, row: str) -> PointRecord:
    (rec,) = read_point_file(f"{header}\n{row}\n".encode(), "points.csv")
    return rec


def xlsx_bytes(*sheets: list[list[object]], formats: dict[str, str] | None = None) -> bytes:
    """A workbook with one sheet per list of rows; `formats` sets number formats by cell."""
    wb = openpyxl.Workbook()
    for i, rows in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet()
        ws.title = f"表{i + 1}"
        for row in rows:
            ws.append(row)
        for ref, fmt in (formats or {}).items() if i == len(sheets) - 1 else ():
            ws[ref].number_format = fmt
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- CSV ----------------------------------------------------------------------------------------

CSV_EN = (
    "client_uuid,entity_id,lon,lat,commodity,collected_at,accuracy,note,color\n"
    "a-1,17,118.1234,25.0567,cowpea,2023-03-05 09:30,4.5,north field,red\n"
    "a-2,18,118.2,25.1,tea,2023-03-06T10:00:00+08:00,12,,blue\n"
)


def test_csv_utf8_english_headers_values_and_excel_row_numbers() -> None:
    first, second = read_point_file(CSV_EN.encode(), "points.csv")
    assert first == PointRecord(2, 118.1234, 25.0567, {
        "client_uuid": "a-1", "entity_id": 17, "commodity": "cowpea",
        "collected_at": "2023-03-05T09:30:00", "accuracy_m": 4.5, "note": "north field"})
    assert second.record == 3
    assert second.fields["collected_at"] == "2023-03-06T10:00:00+08:00"
    assert second.fields["accuracy_m"] == 12.0 and second.fields["note"] is None
    assert "color" not in second.fields  # unknown columns stay out


CSV_ZH = (
    "采集编号,主体名称,经度,纬度,品种,采集时间,定位精度(米),备注,身份证号\n"
    "z-1,安溪县龙涓乡茶叶合作社,117.9876,24.9012,豇豆,2023/3/5 9:30:00,3,东坡茶园,\n"
    "z-2,张三,117.5,24.8,铁观音,2023年3月6日 14时05分,8.0,,{rid}\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_csv_chinese_headers_in_each_encoding(encoding: str) -> None:
    rid = resident_id(7)
    data = CSV_ZH.format(rid=rid).replace("\n", "\r\n").encode(encoding)  # as Excel saves
    first, second = read_point_file(data, "采集点.csv")
    assert (first.record, first.lon, first.lat) == (2, 117.9876, 24.9012)
    assert first.fields["entity_name"] == "安溪县龙涓乡茶叶合作社"
    assert first.fields["commodity"] == "豇豆"
    assert first.fields["collected_at"] == "2023-03-05T09:30:00"
    assert first.fields["accuracy_m"] == 3.0
    assert first.fields["note"] == "东坡茶园"
    assert first.fields["entity_resident_id"] is None
    assert second.fields["collected_at"] == "2023-03-06T14:05:00"
    assert second.fields["entity_resident_id"] == rid
    assert first.errors == () and second.errors == ()


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_csv_tab_and_semicolon_delimited(delimiter: str) -> None:
    text = (f"经度{delimiter}纬度{delimiter}备注\n"
            f"118.5{delimiter}25.5{delimiter}a, b\n"
            f"118.6{delimiter}25.6{delimiter}c\n")
    records = read_point_file(text.encode("gb18030"), "points.txt")
    assert [(r.record, r.lon, r.lat, r.fields["note"]) for r in records] == [
        (2, 118.5, 25.5, "a, b"), (3, 118.6, 25.6, "c")]


def test_semicolon_csv_with_decimal_commas() -> None:
    records = read_point_file(b"lat;lon\n25,0567;118,1234\n", "points.csv")
    assert (records[0].lon, records[0].lat) == (118.1234, 25.0567)


def test_excel_unicode_text_utf16_with_bom() -> None:
    data = "纬度\t经度\t姓名\r\n25.1\t118.2\t李四\r\n".encode("utf-16")
    (rec,) = read_point_file(data, "points.txt")
    assert (rec.lon, rec.lat, rec.fields["entity_name"]) == (118.2, 25.1, "李四")


def test_latitude_column_before_longitude() -> None:
    rec = one_csv("纬度,名称,经度", "25.0567,王五,118.1234")
    assert (rec.lon, rec.lat) == (118.1234, 25.0567)
    rec = one_csv(" Y , X ", "25.5,118.5")  # spaces and case around headers are ignored
    assert (rec.lon, rec.lat) == (118.5, 25.5)


def test_header_aliases_case_width_and_units() -> None:
    rec = one_csv(
        "*经度（°）,纬度（°）,Entity-ID,统一社会信用代码,地块编号,农产品,精度（m）,说明,UUID",
        "118.1,25.1,１２,91350524ma2yxxxx5x,７,茶叶,5 米,x,u-9")
    assert rec.fields == {"entity_id": 12, "entity_uscc": "91350524MA2YXXXX5X", "plot_id": 7,
                          "commodity": "茶叶", "accuracy_m": 5.0, "note": "x",
                          "client_uuid": "u-9"}
    assert (rec.lon, rec.lat) == (118.1, 25.1)


def test_title_rows_above_the_csv_header_keep_row_numbers() -> None:
    data = "安溪县产地点位采集表,,\n,,\nlon,lat,name\n118.1,25.1,p1\n\n118.2,25.2,p2\n"
    records = read_point_file(data.encode(), "points.csv")
    # Excel shows: row 1 title, row 2 blank, row 3 header, rows 4 and 6 data (5 is blank).
    assert [(r.record, r.fields["name"]) for r in records] == [(4, "p1"), (6, "p2")]


@pytest.mark.parametrize(("written", "expected"), [
    ("118.1234°", 118.1234),
    ("１１８．１２３４", 118.1234),
    ("118°11'22.5\"E", 118 + 11 / 60 + 22.5 / 3600),
    ("118°11′22.5″", 118 + 11 / 60 + 22.5 / 3600),
    ("东经118度11分22.5秒", 118 + 11 / 60 + 22.5 / 3600),
    ("118°30'", 118.5),
    ("118°30.5'", 118 + 30.5 / 60),
    ("W 77.5", -77.5),
    ("-0.25", -0.25),
    ("=\"118.1\"", 118.1),
])
def test_coordinate_forms(written: str, expected: float) -> None:
    rec = one_csv("lon\tlat", f"{written}\t25")
    assert rec.errors == ()
    assert rec.lon == pytest.approx(expected, abs=1e-12)
    assert rec.lat == 25.0


def test_non_numeric_and_missing_coordinates_are_record_errors() -> None:
    data = ("lon,lat,name\n118.1,25.1,ok\nabc,25.2,bad lon\n118.3,,no lat\n"
            "118°75'0\",25.4,bad minutes\n500,95,out of range is not our concern\n")
    ok, bad_lon, no_lat, bad_dms, far = read_point_file(data.encode(), "p.csv")
    assert ok.errors == () and (ok.lon, ok.lat) == (118.1, 25.1)
    assert codes(bad_lon) == {"longitude": "not_a_number"} and bad_lon.lon is None
    assert bad_lon.lat == 25.2 and "abc" in bad_lon.errors[0].message
    assert codes(no_lat) == {"latitude": "missing"} and no_lat.lon == 118.3
    assert codes(bad_dms) == {"longitude": "not_a_number"}
    assert (far.lon, far.lat, far.errors) == (500.0, 95.0, ())


def test_single_coordinate_column() -> None:
    data = ("坐标,名称\n\"118.1234,25.0567\",a\n\"25°3'N, 118°6'E\",b\n118.5 25.5,c\n"
            "118.1,d\n")
    a, b, c, d = read_point_file(data.encode(), "p.csv")
    assert (a.lon, a.lat) == (118.1234, 25.0567)
    assert (b.lon, b.lat) == (pytest.approx(118.1), pytest.approx(25.05))  # N/E decide order
    assert (c.lon, c.lat) == (118.5, 25.5)
    assert codes(d) == {"coordinates": "bad_coordinates"} and d.lon is None


@pytest.mark.parametrize(("written", "expected"), [
    ("2023-03-05 09:30", "2023-03-05T09:30:00"),
    ("2023/3/5 9:30:00", "2023-03-05T09:30:00"),
    ("2023.03.05 09:30:15", "2023-03-05T09:30:15"),
    ("2023年3月5日 9时30分", "2023-03-05T09:30:00"),
    ("2023/3/5 下午2:05", "2023-03-05T14:05:00"),
    ("2023/3/5 12:10 AM", "2023-03-05T00:10:00"),
    ("2023-03-05T01:30:00Z", "2023-03-05T01:30:00+00:00"),
    ("2023-03-05 09:30:00+0800", "2023-03-05T09:30:00+08:00"),
    ("2023-03-05T09:30:00.250+08:00", "2023-03-05T09:30:00.250000+08:00"),
    ("2023-03-05", "2023-03-05"),
    ("2023/3/5", "2023-03-05"),
    ("20230305", "2023-03-05"),
    ("1677979800", "2023-03-05T01:30:00+00:00"),  # Unix seconds
    ("1677979800000", "2023-03-05T01:30:00+00:00"),  # Unix milliseconds
    ("44990.5", "2023-03-05T12:00:00"),  # an Excel serial from a "General" column
])
def test_time_forms(written: str, expected: str) -> None:
    rec = one_csv("lon\tlat\t时间", f"118\t25\t{written}")
    assert rec.errors == ()
    assert rec.fields["collected_at"] == expected


@pytest.mark.parametrize("written", ["2023-13-05 09:30", "2023-02-30", "yesterday", "9:30",
                                     "05/03/2023 09:30", "2023/3/5 25:00", "2023-03-05 13:00 PM"])
def test_bad_times_are_record_errors(written: str) -> None:
    rec = one_csv("lon\tlat\tcollected_at", f"118\t25\t{written}")
    assert codes(rec) == {"collected_at": "bad_time"}
    assert rec.fields["collected_at"] is None
    assert (rec.lon, rec.lat) == (118.0, 25.0)  # the point itself is still read


def test_date_and_time_in_separate_columns() -> None:
    rec = one_csv("经度,纬度,日期,时间", "118,25,2023/3/5,9:30")
    assert rec.fields["collected_at"] == "2023-03-05T09:30:00"


def test_bad_integers_and_numbers() -> None:
    rec = one_csv("lon,lat,entity_id,plot_id,accuracy,ele", "118,25,12a,3.5,±4m,1e9999")
    assert codes(rec) == {"entity_id": "not_an_integer", "plot_id": "not_an_integer",
                          "elevation_m": "not_a_number"}
    assert rec.fields == {"entity_id": None, "plot_id": None, "accuracy_m": 4.0,
                          "elevation_m": None}


def test_hdop_column_is_not_accuracy() -> None:
    rec = one_csv("lon,lat,hdop,pdop", "118,25,0.9,1.5")
    assert rec.fields == {} and rec.errors == ()


def test_a_resident_id_in_the_wrong_column_is_not_echoed() -> None:
    rid = resident_id(5)[:-1] + "X"
    rec = one_csv("lon,lat,主体编号", f"{rid},25,{rid}")
    assert codes(rec) == {"longitude": "not_a_number", "entity_id": "not_an_integer"}
    assert all(rid[:14] not in e.message and "已隐去" in e.message for e in rec.errors)


def test_resident_id_saved_as_a_number_is_an_error_without_the_number() -> None:
    rec = one_csv("lon,lat,身份证号码", "118,25,3.50524E+17")
    assert codes(rec) == {"entity_resident_id": "resident_id_as_number"}
    assert "3.5" not in rec.errors[0].message and "350524" not in rec.errors[0].message


def test_truncated_last_row_gets_an_error_and_others_are_kept() -> None:
    data = "经度,纬度,姓名,备注\n118.1,25.1,张三,好\n118.2,25.2,李四,测试\n".encode()
    cut = data[:-9]  # inside 李四: mid-character, as an interrupted transfer leaves it
    first, last = read_point_file(cut, "p.csv")
    assert first.errors == () and first.fields["entity_name"] == "张三"  # no mojibake
    assert codes(last) == {"row": "too_few_columns"}
    assert (last.lon, last.lat) == (118.2, 25.2)


def test_truncated_inside_quotes_flags_the_last_row() -> None:
    data = b'lon,lat,note,name\n118.1,25.1,"a",x\n118.2,25.2,"unfinished'
    first, last = read_point_file(data, "p.csv")
    assert first.errors == ()
    assert codes(last) == {"row": "too_few_columns"}


def test_undecodable_encoding_is_refused_with_a_line() -> None:
    data = b"lon,lat,name\n118.1,25.1,ok\n118.2,25.2,\xff\xfe\x80\x80\n"
    with pytest.raises(PointFileError) as err:
        read_point_file(data, "p.csv")
    assert err.value.code == "unknown_encoding"
    assert err.value.line == 3 and "第3行" in err.value.message


def test_damaged_utf8_is_refused_not_read_as_gbk() -> None:
    data = "经度,纬度,姓名\n118.1,25.1,张三丰\n".encode() + b"118.2,25.2,\xc3(\n"
    with pytest.raises(PointFileError) as err:
        read_point_file(data, "p.csv")
    assert err.value.code == "unknown_encoding"


def test_utf16_without_bom_is_refused() -> None:
    with pytest.raises(PointFileError) as err:
        read_point_file("lon,lat\n118,25\n".encode("utf-16-le"), "p.csv")
    assert err.value.code == "unknown_encoding"


def test_csv_without_coordinate_columns() -> None:
    with pytest.raises(PointFileError) as err:
        read_point_file("名称,地址\n张三,龙涓乡\n".encode("gb18030"), "p.csv")
    assert err.value.code == "no_coordinate_columns"
    assert "名称、地址" in err.value.message  # shows what it did find, decoded correctly


@pytest.mark.parametrize("data", [b"", b"   \n", b"lon,lat\n", "经度,纬度\n\n".encode()])
def test_empty_files(data: bytes) -> None:
    with pytest.raises(PointFileError) as err:
        read_point_file(data, "p.csv")
    assert err.value.code == "empty"


# --- XLSX ---------------------------------------------------------------------------------------

def test_xlsx_with_title_row_datetime_cells_and_blank_rows() -> None:
    rid = resident_id(3)
    data = xlsx_bytes([
        ["安溪县2023年豇豆产地点位采集表"],
        [],
        ["采集编号", "主体编号", "纬度", "经度", "采集时间", "精度", "身份证号", "地块编号"],
        ["x-1", 5, 25.0567, 118.1234, datetime(2023, 3, 5, 9, 30), 4, rid, 9.0],
        [None, None, None, None, None],
        [12345.0, "6", "25.1", "118.2°", datetime(2023, 3, 6), None, None, None],
        ["x-3", 7, 25.2, "abc", "2023/3/7 8:00", None, 3.50524198001010e17, None],
    ], formats={"E6": "yyyy-mm-dd"})
    first, second, third = read_point_file(data, "采集表.xlsx")
    assert first == PointRecord(4, 118.1234, 25.0567, {
        "client_uuid": "x-1", "entity_id": 5, "collected_at": "2023-03-05T09:30:00",
        "accuracy_m": 4.0, "entity_resident_id": rid, "plot_id": 9})
    assert second.record == 6  # row 5 is empty and skipped, numbering is Excel's
    assert (second.lon, second.lat) == (118.2, 25.1)
    assert second.fields["client_uuid"] == "12345"
    assert second.fields["collected_at"] == "2023-03-06"  # a date-only cell: no invented 00:00
    assert third.record == 7
    assert codes(third) == {"longitude": "not_a_number",
                            "entity_resident_id": "resident_id_as_number"}
    assert third.fields["collected_at"] == "2023-03-07T08:00:00"
    assert all("350524" not in e.message for e in third.errors)


def test_xlsx_time_cell_and_excel_serial_in_general_column() -> None:
    data = xlsx_bytes([["lon", "lat", "日期", "时间"],
                       [118, 25, date(2023, 3, 5), time(14, 5)],
                       [118, 25, 44990.25, None]],
                      formats={"C2": "yyyy/m/d", "D2": "h:mm"})
    first, second = read_point_file(data, "p.xlsx")
    assert first.fields["collected_at"] == "2023-03-05T14:05:00"
    assert second.fields["collected_at"] == "2023-03-05T06:00:00"


def test_xlsx_uses_the_first_sheet_with_a_header() -> None:
    data = xlsx_bytes([["说明：本表由乡镇填写"], ["无坐标"]],
                      [["x", "y", "name"], [118.3, 25.3, "p"]])
    (rec,) = read_point_file(data, "p.xlsx")
    assert (rec.record, rec.lon, rec.lat, rec.fields) == (2, 118.3, 25.3, {"name": "p"})


def test_xlsx_without_coordinates_and_damaged_xlsx() -> None:
    with pytest.raises(PointFileError) as err:
        read_point_file(xlsx_bytes([["名称", "地址"], ["a", "b"]]), "p.xlsx")
    assert err.value.code == "no_coordinate_columns"
    good = xlsx_bytes([["lon", "lat"], [118, 25]])
    with pytest.raises(PointFileError) as err:
        read_point_file(good[: len(good) // 2], "p.xlsx")
    assert err.value.code == "bad_xlsx"


def test_old_binary_xls_is_refused_clearly() -> None:
    with pytest.raises(PointFileError) as err:
        read_point_file(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "p.xls")
    assert err.value.code == "unsupported_format" and ".xlsx" in err.value.message


# --- GeoJSON ------------------------------------------------------------------------------------

def feature(geometry: object, **props: object) -> dict[str, object]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def test_geojson_points_non_points_and_missing_geometry() -> None:
    doc = {"type": "FeatureCollection", "features": [
        feature({"type": "Point", "coordinates": [118.1, 25.1, 320.5]}, client_uuid="g-1",
                entity_id=3, commodity="cowpea", collected_at="2023-03-05T09:30:00+08:00",
                accuracy_m=6, 备注="路边", extra={"nested": 1}),
        feature({"type": "LineString", "coordinates": [[118, 25], [118.1, 25.1]]},
                client_uuid="g-2"),
        feature(None, client_uuid="g-3"),
        feature({"type": "MultiPoint", "coordinates": [[118.3, 25.3]]}, 主体名称="茶场"),
        feature({"type": "MultiPoint", "coordinates": [[118, 25], [118.1, 25.1]]}),
        feature({"type": "Point", "coordinates": ["118.6", "x"]}),
        {"type": "Point", "coordinates": [1, 2]},
    ]}
    records = read_point_file(json.dumps(doc, ensure_ascii=False).encode(), "batch.geojson")
    assert [r.record for r in records] == [1, 2, 3, 4, 5, 6, 7]
    point, line, missing, single, multi, bad, not_feature = records
    assert point == PointRecord(1, 118.1, 25.1, {
        "client_uuid": "g-1", "entity_id": 3, "commodity": "cowpea",
        "collected_at": "2023-03-05T09:30:00+08:00", "accuracy_m": 6.0, "note": "路边",
        "elevation_m": 320.5})
    assert codes(line) == {"geometry": "not_a_point"} and line.lon is None
    assert line.fields == {"client_uuid": "g-2"}
    assert codes(missing) == {"geometry": "missing_geometry"}
    assert missing.fields == {"client_uuid": "g-3"}
    assert (single.lon, single.lat, single.errors) == (118.3, 25.3, ())
    assert single.fields == {"entity_name": "茶场"}
    assert codes(multi) == {"geometry": "not_a_point"}
    assert codes(bad) == {"latitude": "not_a_number"} and bad.lon == 118.6
    assert codes(not_feature) == {"geometry": "not_a_feature"}


def test_single_geojson_feature_with_json_extension() -> None:
    data = json.dumps(feature({"type": "Point", "coordinates": [118.5, 25.5]}, name="A"))
    assert read_point_file(data.encode(), "one.json") == [
        PointRecord(1, 118.5, 25.5, {"name": "A"})]


def test_truncated_json_names_the_line() -> None:
    doc = {"type": "FeatureCollection", "features": [
        feature({"type": "Point", "coordinates": [118.1, 25.1]}, client_uuid=f"u{i}")
        for i in range(3)]}
    text = json.dumps(doc, indent=2)
    cut = text[: len(text) - 40]
    with pytest.raises(PointFileError) as err:
        read_point_file(cut.encode(), "batch.geojson")
    expected_line = cut.count("\n") + 1  # where the text stops
    assert err.value.code == "bad_json"
    assert err.value.line == expected_line
    assert f"第{expected_line}行" in err.value.message and "不完整" in err.value.message


def test_json_syntax_error_in_the_middle() -> None:
    data = b'{"type": "FeatureCollection",\n "features": [\n  {"type": "Feature" "x": 1}\n]}'
    with pytest.raises(PointFileError) as err:
        read_point_file(data, "b.geojson")
    assert (err.value.code, err.value.line) == ("bad_json", 3)
    assert "缺少逗号" in err.value.message


def test_json_that_is_not_geojson() -> None:
    with pytest.raises(PointFileError) as err:
        read_point_file(b'{"type": "Topology"}', "b.json")
    assert err.value.code == "not_geojson"
    with pytest.raises(PointFileError) as err:
        read_point_file(b'{"type": "FeatureCollection", "features": []}', "b.json")
    assert err.value.code == "empty"


# --- GPX ----------------------------------------------------------------------------------------

GPX_11 = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="OsmAnd" xmlns="http://www.topografix.com/GPX/1/1"
     xmlns:app="https://example.org/field-app">
  <wpt lat="25.0567" lon="118.1234">
    <ele>312.4</ele>
    <time>2023-03-05T01:30:00Z</time>
    <name>豇豆基地1</name>
    <cmt>东侧大棚</cmt>
    <desc>东侧大棚</desc>
    <hdop>0.9</hdop>
    <extensions><app:accuracy>4.2</app:accuracy><app:client_uuid>w-1</app:client_uuid>
      <app:entity_id>21</app:entity_id></extensions>
  </wpt>
  <trk><name>巡查</name><trkseg>
    <trkpt lat="25.1" lon="118.2"><ele>300</ele><time>2023-03-05T01:31:00Z</time>
      <hdop>1.2</hdop><pdop>2.0</pdop></trkpt>
    <trkpt lat="25.2" lon="east"/>
  </trkseg></trk>
  <rte><rtept lat="25.3" lon="118.3"><name>R1</name></rtept></rte>
</gpx>
"""


def test_gpx_11_waypoints_track_and_route_points() -> None:
    wpt, trk1, trk2, rte = read_point_file(GPX_11.encode(), "track.gpx")
    assert wpt == PointRecord(1, 118.1234, 25.0567, {
        "accuracy_m": 4.2, "client_uuid": "w-1", "entity_id": 21, "name": "豇豆基地1",
        "collected_at": "2023-03-05T01:30:00+00:00", "elevation_m": 312.4, "note": "东侧大棚"})
    # hdop/pdop are not metres: no accuracy invented from them
    assert trk1 == PointRecord(2, 118.2, 25.1, {
        "collected_at": "2023-03-05T01:31:00+00:00", "elevation_m": 300.0})
    assert codes(trk2) == {"longitude": "not_a_number"} and trk2.lat == 25.2
    assert (rte.record, rte.lon, rte.lat, rte.fields) == (4, 118.3, 25.3, {"name": "R1"})


def test_gpx_10_namespace() -> None:
    data = b"""<?xml version="1.0"?>
<gpx version="1.0" creator="GPSBabel" xmlns="http://www.topografix.com/GPX/1/0">
  <wpt lat="24.9" lon="117.9"><name>P1</name><desc>tea</desc><cmt>garden</cmt></wpt>
  <trk><trkseg><trkpt lat="24.95" lon="117.95"><time>2023-03-05T02:00:00Z</time></trkpt>
  </trkseg></trk>
</gpx>"""
    wpt, trkpt = read_point_file(data, "old.gpx")
    assert (wpt.lon, wpt.lat, wpt.fields) == (117.9, 24.9, {"name": "P1", "note": "tea；garden"})
    assert trkpt.fields == {"collected_at": "2023-03-05T02:00:00+00:00"}


def test_truncated_gpx_names_the_line() -> None:
    cut = GPX_11.encode()[:400]
    with pytest.raises(PointFileError) as err:
        read_point_file(cut, "track.gpx")
    assert err.value.code == "bad_xml"
    assert err.value.line == cut.count(b"\n") + 1
    assert f"第{err.value.line}行" in err.value.message


def test_xml_entity_bomb_is_refused() -> None:
    data = b"""<?xml version="1.0"?>
<!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<gpx version="1.1"><wpt lat="25" lon="118"><name>&b;</name></wpt></gpx>"""
    with pytest.raises(PointFileError) as err:
        read_point_file(data, "evil.gpx")
    assert err.value.code == "unsafe_xml"


def test_external_entity_is_refused() -> None:
    data = b"""<?xml version="1.0"?>
<!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<kml><Placemark><name>&x;</name><Point><coordinates>118,25</coordinates></Point></Placemark></kml>"""
    with pytest.raises(PointFileError) as err:
        read_point_file(data, "evil.kml")
    assert err.value.code == "unsafe_xml"


# --- KML / KMZ ----------------------------------------------------------------------------------

KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">
<Document><name>安溪点位</name>
  <Schema id="s"><SimpleField name="plot_id" type="int"/></Schema>
  <Folder><name>龙涓乡</name>
    <Placemark>
      <name>茶园A</name>
      <description>北坡</description>
      <TimeStamp><when>2023-03-05T09:30:00+08:00</when></TimeStamp>
      <ExtendedData>
        <Data name="client_uuid"><value>k-1</value></Data>
        <Data name="主体编号"><value>42</value></Data>
        <Data name="color"><value>red</value></Data>
        <SchemaData schemaUrl="#s"><SimpleData name="plot_id">8</SimpleData></SchemaData>
      </ExtendedData>
      <Point><coordinates>118.1234,25.0567,0</coordinates></Point>
    </Placemark>
    <Folder><name>内层</name>
      <Placemark><name>两个点</name>
        <MultiGeometry>
          <Point><coordinates> 118.2, 25.2 </coordinates></Point>
          <Point><altitudeMode>absolute</altitudeMode>
            <coordinates>118.3,25.3,410</coordinates></Point>
        </MultiGeometry>
      </Placemark>
    </Folder>
  </Folder>
  <Placemark><name>道路</name>
    <LineString><coordinates>118,25 118.1,25.1</coordinates></LineString></Placemark>
  <Placemark><name>无几何</name></Placemark>
  <Placemark><ExtendedData><Data name="uuid"><value>k-9</value></Data></ExtendedData>
    <MultiGeometry><Point><coordinates>1,2</coordinates></Point>
      <Point><coordinates>3,4</coordinates></Point></MultiGeometry></Placemark>
</Document></kml>
"""


def test_kml_folders_extended_data_and_multigeometry() -> None:
    records = read_point_file(KML.encode(), "安溪.kml")
    assert [r.record for r in records] == [1, 2, 3, 4, 5, 6, 7]
    a, m1, m2, road, empty, s1, s2 = records
    assert a == PointRecord(1, 118.1234, 25.0567, {
        "client_uuid": "k-1", "entity_id": 42, "plot_id": 8, "name": "茶园A", "note": "北坡",
        "collected_at": "2023-03-05T09:30:00+08:00"})  # the clamped altitude 0 is dropped
    assert (m1.lon, m1.lat, m1.fields) == (118.2, 25.2, {"name": "两个点"})
    assert (m2.lon, m2.lat) == (118.3, 25.3)
    assert m2.fields == {"name": "两个点", "elevation_m": 410.0}
    assert codes(road) == {"geometry": "not_a_point"} and road.fields == {"name": "道路"}
    assert codes(empty) == {"geometry": "missing_geometry"}
    # one client_uuid for two points would make the second look like a conflict
    assert codes(s1) == codes(s2) == {"client_uuid": "shared_client_uuid"}


def test_kml_declared_gbk() -> None:
    data = ('<?xml version="1.0" encoding="GBK"?>\n<kml><Placemark><name>铁观音茶园</name>'
            "<Point><coordinates>118.1,25.1</coordinates></Point></Placemark></kml>")
    (rec,) = read_point_file(data.encode("gbk"), "p.kml")
    assert rec.fields == {"name": "铁观音茶园"}


def test_kml_in_gbk_without_a_declaration() -> None:
    data = ("<kml><Placemark><name>豇豆基地</name><description>西坪镇</description>"
            "<Point><coordinates>118.1,25.1</coordinates></Point></Placemark></kml>")
    (rec,) = read_point_file(data.encode("gb18030"), "p.kml")
    assert rec.fields == {"name": "豇豆基地", "note": "西坪镇"}


def test_kmz() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("files/icon.png", b"\x89PNG")
        zf.writestr("doc.kml", KML)
    records = read_point_file(out.getvalue(), "安溪.kmz")
    assert len(records) == 7 and records[0].fields["client_uuid"] == "k-1"
    assert (records[0].lon, records[0].lat) == (118.1234, 25.0567)


def test_truncated_kml_names_the_line() -> None:
    cut = KML.encode()[:700]
    with pytest.raises(PointFileError) as err:
        read_point_file(cut, "p.kml")
    assert (err.value.code, err.value.line) == ("bad_xml", cut.count(b"\n") + 1)


# --- format detection ---------------------------------------------------------------------------

def test_content_sniffing_without_a_useful_extension() -> None:
    geojson = json.dumps(feature({"type": "Point", "coordinates": [118, 25]})).encode()
    gpx = b'<?xml version="1.0"?>\n<gpx version="1.1"><wpt lat="25" lon="118"/></gpx>'
    kml = KML.encode()
    xlsx = xlsx_bytes([["lon", "lat"], [118, 25]])
    assert detect_format(geojson, "upload") == "geojson"
    assert detect_format(gpx, "export.txt") == "gpx"
    assert detect_format(kml, "upload.bin") == "kml"
    assert detect_format(xlsx, "upload") == "xlsx"
    assert detect_format(b"lon,lat\n118,25\n", "upload") == "csv"
    assert detect_format(geojson, "x.CSV") == "csv"  # a known extension decides
    for data in (geojson, gpx, xlsx):
        (rec,) = read_point_file(data, "upload")
        assert (rec.lon, rec.lat) == (118.0, 25.0)


def test_gpx_with_a_kml_extension_is_read_by_its_root() -> None:
    data = b'<gpx version="1.1"><wpt lat="25" lon="118"><name>n</name></wpt></gpx>'
    (rec,) = read_point_file(data, "wrong.kml")
    assert rec.fields == {"name": "n"}


def test_record_error_is_plain_data() -> None:
    e = RecordError("longitude", "missing", "缺少经度")
    assert e == RecordError("longitude", "missing", "缺少经度")
    with pytest.raises(AttributeError):
        e.code = "x"  # type: ignore[misc]
