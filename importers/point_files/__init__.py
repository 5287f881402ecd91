"""Read field files of GPS site points into plain records (issue 3: provenance collection).

Formats: GeoJSON, CSV/TXT, XLSX, GPX (1.0 and 1.1) and KML/KMZ, as exported by Excel, field
apps and common GPS/outdoor apps. This package only reads: no database access, no coordinate
conversion, no range checks and no entity resolution; the caller does those in set-based SQL.

Two kinds of failure: `PointFileError` when the whole file is unusable (unknown encoding,
malformed XML/JSON, no coordinate columns, nothing in it), and `RecordError`s attached to a
single `PointRecord` when only that row or feature is bad, so the good ones can still be kept.

Modules: `aliases` (field names), `values` (value parsing, times), `records` (records,
errors), one reader per kind of file (`tables` for CSV/XLSX, `geojson`, `xml` for GPX/KML/KMZ)
and here the entry point `read_point_file` with `detect_format`.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from pathlib import PurePath

from importers.point_files.aliases import canonical_key
from importers.point_files.geojson import read_geojson
from importers.point_files.records import PointFileError, PointRecord, RecordError
from importers.point_files.tables import read_csv, read_xlsx
from importers.point_files.values import FieldValue
from importers.point_files.xml import read_kmz, read_xml
from importers.tables import HEADER_SEARCH_ROWS

FORMATS = ("geojson", "csv", "xlsx", "gpx", "kml", "kmz")
EXTENSIONS: dict[str, str] = {
    ".geojson": "geojson", ".json": "geojson",
    ".csv": "csv", ".txt": "csv", ".tsv": "csv",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".gpx": "gpx", ".kml": "kml", ".kmz": "kmz",
}


def detect_format(data: bytes, filename: str) -> str:
    """One of FORMATS ("xls" or "zip" for files refused): by extension, by content when the
    extension says nothing (or is .txt, which GPS apps also use for GPX/KML)."""
    ext = PurePath(filename).suffix.casefold()
    by_ext = EXTENSIONS.get(ext)
    if by_ext is not None and ext != ".txt":
        return by_ext
    return _sniff(data) or "csv"  # a .txt export may be GPX/KML; anything else reads as text


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = [n.casefold() for n in zf.namelist()]
        except zipfile.BadZipFile:
            return "xlsx"  # truncated zip: let the XLSX reader say it is damaged
        if "xl/workbook.xml" in names:
            return "xlsx"
        return "kmz" if any(n.endswith(".kml") for n in names) else "zip"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    head = data[:4096]
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            head = head[len(bom):].decode(encoding, "ignore").encode("utf-8")
    head = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if head.startswith((b"{", b"[")):
        return "geojson"
    if m := re.search(rb"<(?:[\w.-]+:)?(gpx|kml)\b", head):
        return m.group(1).decode()
    return None


def read_point_file(data: bytes, filename: str) -> list[PointRecord]:
    """Read one field file into records; raises PointFileError if the file is unusable."""
    if not data or not data.strip():
        raise PointFileError("empty", "文件是空的")
    fmt = detect_format(data, filename)
    if fmt == "xls":
        raise PointFileError("unsupported_format", "不支持旧版 Excel（.xls）文件，"
                             "请在 Excel 中另存为 .xlsx 或 CSV 后上传")
    if fmt == "zip":
        raise PointFileError("unsupported_format", "压缩包里既没有 Excel 工作簿也没有 KML 文件")
    if fmt == "csv":
        records = read_csv(data)
    elif fmt == "xlsx":
        records = read_xlsx(data)
    elif fmt == "geojson":
        records = read_geojson(data)
    elif fmt == "kmz":
        records = read_kmz(data)
    else:
        records = read_xml(data, f"{fmt.upper()} 文件")
    if not records:
        raise PointFileError("empty", "文件中没有任何点位记录")
    return records


__all__ = ["EXTENSIONS", "FORMATS", "HEADER_SEARCH_ROWS", "FieldValue",
           "PointFileError", "PointRecord", "RecordError", "canonical_key", "detect_format",
           "read_point_file"]
