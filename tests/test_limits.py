"""Bounded work per request: each limit is hit at once with its zh-CN answer, and files
within the limits still go through (issue 13, part 6)."""

from __future__ import annotations

import io
import json
import re
import struct
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import Engine

from georeg.config import Settings
from georeg.database import make_engine, transaction
from georeg.errors import StatementTimeout
from tests.helpers import login, point_in

CANNEI = "350524113000"


@pytest.fixture
def small(settings: Settings) -> Iterator[TestClient]:
    """The app with every limit set small, so that a test builds a file over it quickly."""
    from api.app import create_app

    tight = settings.model_copy(update={
        "sheet_max_rows": 20, "zip_max_unzipped_mb": 1, "zip_max_members": 50,
        "xml_max_elements": 100, "json_body_mb": 1, "sheet_file_mb": 1, "point_file_mb": 1})
    with TestClient(create_app(tight)) as c:
        yield c


def xlsx_points(engine: Engine, rows: int) -> bytes:
    lon, lat = point_in(engine, CANNEI, seed=5)["coordinates"]
    wb = Workbook()
    ws = wb.active
    ws.append(["经度", "纬度", "品种", "备注"])
    for i in range(rows):
        ws.append([lon, lat + i * 1e-5, "豇豆", f"第{i + 1}个"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def post_file(client: TestClient, path: str, headers: dict[str, str], name: str, data: bytes,
              **form: str) -> Any:
    started = time.perf_counter()
    r = client.post(path, headers=headers, files={"file": (name, data)}, data=form)
    assert time.perf_counter() - started < 10, "a limit must answer at once"
    return r


def field_error(r: Any) -> dict[str, str]:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    errors = r.json()["errors"]
    assert errors, r.text
    return errors[0]


# --- rows per sheet -----------------------------------------------------------------------------

def test_xlsx_over_the_row_limit_is_refused_and_one_within_it_is_read(
        small: TestClient, engine: Engine) -> None:
    headers = login(small)
    r = post_file(small, "/api/v1/collections/files", headers, "points.xlsx",
                  xlsx_points(engine, 30))
    assert r.status_code == 422, r.text
    error = field_error(r)
    assert error["code"] == "too_many_rows"
    assert "20 行" in error["message"]

    r = post_file(small, "/api/v1/collections/files", headers, "points.xlsx",
                  xlsx_points(engine, 10))
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]) == 10


def test_csv_over_the_row_limit_is_refused(small: TestClient) -> None:
    rows = "主体编号,巡查人,巡查时间\n" + "".join(f"1,张三,2023-05-0{1 + i % 9}\n"
                                              for i in range(25))
    r = post_file(small, "/api/v1/patrols/import", login(small), "patrols.csv",
                  rows.encode("utf-8"))
    assert r.status_code == 422, r.text
    assert field_error(r)["code"] == "too_many_rows"


def test_sparse_xlsx_padding_rows_count_too(small: TestClient) -> None:
    """One cell on row 100,000: read-only mode pads every row before it; counted as read."""
    wb = Workbook()
    ws = wb.active
    ws.append(["主体编号", "巡查人", "巡查时间"])
    ws.cell(row=100_000, column=1, value=1)
    out = io.BytesIO()
    wb.save(out)
    assert len(out.getvalue()) < 10_000
    r = post_file(small, "/api/v1/patrols/import", login(small), "p.xlsx", out.getvalue())
    assert r.status_code == 422, r.text
    assert field_error(r)["code"] == "too_many_rows"


# --- zip: decompressed size and members ------------------------------------------------------

def kmz(kml: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doc.kml", kml)
    return out.getvalue()


def kml_doc(points: int, padding: int = 0) -> bytes:
    marks = "".join(f"<Placemark><name>p{i}</name><Point><coordinates>118.2,25.0{i}"
                    "</coordinates></Point></Placemark>" for i in range(points))
    return (f'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
            f"{marks}{' ' * padding}</Document></kml>").encode()


def test_zip_bomb_kmz_is_refused_from_its_directory(small: TestClient) -> None:
    bomb = kmz(kml_doc(1, padding=3 * 1024 * 1024))  # 3 MB of blanks: a few KB zipped
    assert len(bomb) < 20_000
    r = post_file(small, "/api/v1/collections/files", login(small), "bomb.kmz", bomb)
    assert r.status_code == 422, r.text
    error = field_error(r)
    assert error["code"] == "unzipped_too_large"
    assert "1 MB" in error["message"]


def test_kmz_whose_directory_lies_about_its_size_is_cut_off_while_inflating(
        small: TestClient) -> None:
    data = bytearray(kmz(kml_doc(1, padding=3 * 1024 * 1024)))
    # Patch the central directory's uncompressed size (offset 24 of its entry) down to 1 KB.
    at = data.rfind(b"PK\x01\x02")
    data[at + 24:at + 28] = struct.pack("<I", 1024)
    r = post_file(small, "/api/v1/collections/files", login(small), "liar.kmz", bytes(data))
    assert r.status_code == 422, r.text  # a truncated or damaged KML, never 3 MB read


def test_xlsx_with_too_many_members_is_refused(small: TestClient) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for i in range(60):
            zf.writestr(f"xl/media/{i}.xml", b"<x/>")
    r = post_file(small, "/api/v1/credit/events/import", login(small), "events.xlsx",
                  out.getvalue())
    assert r.status_code == 422, r.text
    assert field_error(r)["code"] == "too_many_members"


def test_xlsx_zip_bomb_sheet_is_refused(small: TestClient) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", b"<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b" " * (2 * 1024 * 1024))
    r = post_file(small, "/api/v1/testing/rapid-tests/import", login(small), "t.xlsx",
                  out.getvalue())
    assert r.status_code == 422, r.text
    assert field_error(r)["code"] == "unzipped_too_large"


# --- elements per XML file -------------------------------------------------------------------

def test_kml_and_gpx_with_too_many_elements_are_refused(small: TestClient) -> None:
    headers = login(small)
    r = post_file(small, "/api/v1/collections/files", headers, "many.kml", kml_doc(40))
    assert r.status_code == 422, r.text
    error = field_error(r)
    assert error["code"] == "too_many_elements"
    assert "100 个元素" in error["message"]

    gpx = ('<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
           + "".join(f'<wpt lat="25.0" lon="118.2"><name>w{i}</name></wpt>' for i in range(80))
           + "</gpx>").encode()
    r = post_file(small, "/api/v1/collections/files", headers, "many.gpx", gpx)
    assert r.status_code == 422, r.text
    assert field_error(r)["code"] == "too_many_elements"


def test_kml_within_the_element_limit_is_read(small: TestClient, engine: Engine) -> None:
    lon, lat = point_in(engine, CANNEI, seed=6)["coordinates"]
    doc = kml_doc(0).replace(b"</Document>", (
        f"<Placemark><name>a</name><Point><coordinates>{lon},{lat}</coordinates></Point>"
        "</Placemark></Document>").encode())
    r = post_file(small, "/api/v1/collections/files", login(small), "one.kml", doc)
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]) == 1


def test_boundary_kml_with_too_many_elements_is_refused(small: TestClient) -> None:
    r = post_file(small, "/api/v1/grids/boundaries", login(small), "b.kml", kml_doc(40),
                  level="grid")
    assert r.status_code == 422, r.text
    assert field_error(r)["code"] == "too_many_elements"


# --- bodies ----------------------------------------------------------------------------------

def patrol(i: int) -> dict[str, Any]:
    return {"entity_id": 1, "inspector": "张三" * 50, "kind": "online",
            "patrolled_at": "2023-05-01T09:00:00", "external_id": f"x{i}"}


def test_json_body_over_the_limit_is_refused_by_its_length(small: TestClient) -> None:
    body = json.dumps([patrol(i) for i in range(5000)]).encode()
    assert len(body) > 1024 * 1024
    r = small.post("/api/v1/patrols", headers={**login(small), "Content-Type": "application/json"},
                   content=body)
    assert r.status_code == 413, r.text
    error = field_error(r)
    assert error["field"] == "body"
    assert "1 MB" in error["message"]


def test_chunked_json_body_over_the_limit_is_cut_off(small: TestClient) -> None:
    chunk = json.dumps(patrol(0)).encode() + b","
    sent = 0

    def body() -> Iterator[bytes]:  # no Content-Length: only counting can stop it
        nonlocal sent
        yield b"["
        for _ in range(20_000):
            sent += len(chunk)
            yield chunk
        yield b"{}]"

    r = small.post("/api/v1/patrols", headers={**login(small), "Content-Type": "application/json"},
                   content=body())
    assert r.status_code == 413, r.text
    assert "1 MB" in field_error(r)["message"]


def test_upload_over_its_file_limit_is_refused_on_every_upload_route(small: TestClient) -> None:
    headers = login(small)
    big = b"a,b\n" + b"1,2\n" * (400 * 1024)  # 1.6 MB
    for path in ("/api/v1/patrols/import", "/api/v1/certificates/import",
                 "/api/v1/credit/events/import", "/api/v1/testing/rapid-tests/import",
                 "/api/v1/testing/mrl/import", "/api/v1/collections/files"):
        r = post_file(small, path, headers, "big.csv", big)
        assert r.status_code == 413, (path, r.text)
        assert field_error(r)["field"] == "file"
        assert "1 MB" in field_error(r)["message"], path
    r = small.post("/api/v1/collections/points", content=big,
                   headers={**headers, "Content-Type": "application/geo+json"})
    assert r.status_code == 413, r.text


def test_boundary_upload_has_its_own_limit(settings: Settings) -> None:
    from api.app import create_app

    with TestClient(create_app(settings.model_copy(update={"boundary_file_mb": 1}))) as c:
        r = post_file(c, "/api/v1/grids/boundaries", login(c), "b.geojson",
                      b" " * (2 * 1024 * 1024), level="grid")
    assert r.status_code == 413, r.text
    assert "1 MB" in field_error(r)["message"]


# --- uploads parsed before the transaction ---------------------------------------------------

def test_sheet_is_parsed_while_no_pool_connection_is_held(
        client: TestClient, admin: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import importers.tables as tables

    held: list[int] = []
    check = tables.check_row_count

    def watched(rows: int) -> None:
        held.append(client.app.state.engine.pool.checkedout())
        check(rows)

    monkeypatch.setattr(tables, "check_row_count", watched)
    rows = "主体编号,巡查人,巡查时间\n999999,张三,2023-05-01\n"
    r = client.post("/api/v1/patrols/import", headers=admin,
                    files={"file": ("p.csv", rows.encode())})
    assert r.status_code == 422, r.text  # the entity does not exist: read, then resolved
    assert held and set(held) == {0}


# --- statement timeout -----------------------------------------------------------------------

def test_interactive_statement_is_cancelled_after_the_timeout(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=1, statement_timeout_s=0.2)
    bulk = make_engine(db_url, pool_size=1, interactive=False, statement_timeout_s=0.2)
    try:
        started = time.perf_counter()
        with pytest.raises(StatementTimeout), transaction(engine) as conn:
            conn.exec_driver_sql("SELECT pg_sleep(5)")
        assert time.perf_counter() - started < 3
        with transaction(bulk) as conn:  # bulk work keeps no timeout
            conn.exec_driver_sql("SELECT pg_sleep(0.5)")
    finally:
        engine.dispose()
        bulk.dispose()


def test_timed_out_request_answers_503_with_retry_after(settings: Settings, client: TestClient,
                                                        admin: dict) -> None:
    from api.app import create_app

    with TestClient(create_app(settings.model_copy(update={"statement_timeout_s": 0.001}))) as c:
        r = c.get("/api/v1/grids/topology", headers=admin)
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "30"
    assert r.json()["title"] == "查询超时"
    assert r.headers["content-type"].startswith("application/problem+json")


def test_every_upload_route_declares_its_file_limit(client: TestClient) -> None:
    """A new multipart or GeoJSON-body route without `upload_limit` would get the JSON limit,
    silently: this names it."""
    marked = {(m, r.path.pattern) for r in client.app.state.upload_routes for m in r.methods}
    uploads = set()
    for path, ops in client.app.openapi()["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in content or "application/geo+json" in content:
                uploads.add((method.upper(), path))
    assert len(uploads) >= 8
    for method, path in uploads:
        assert any(m == method and re.match(p, path) for m, p in marked), (method, path)
