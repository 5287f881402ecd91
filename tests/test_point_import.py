"""Field files through the API and the CLI: entity references, stable ids, encodings."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import Engine, text

from cli import main
from georeg.config import Settings
from tests.helpers import point_in, resident_id, uscc

CANNEI = "350524113000"


@pytest.fixture
def farms(client: TestClient, admin: dict, engine: Engine) -> dict[str, Any]:
    site = point_in(engine, CANNEI, seed=21)
    coop = client.post("/api/v1/producers", headers=admin, json={
        "name": "参内豇豆合作社", "kind": "cooperative", "uscc": uscc(31, "93350524"),
        "location": site}).json()["id"]
    person = client.post("/api/v1/smallholders", headers=admin, json={
        "name": "陈大山", "resident_id": resident_id(31), "location": site}).json()["id"]
    for serial in (1, 2):  # two smallholders share a name
        client.post("/api/v1/smallholders", headers=admin, json={
            "name": "林小梅", "resident_id": resident_id(40 + serial), "location": site})
    return {"coop": coop, "person": person, "xy": site["coordinates"]}


def csv_rows(farms: dict[str, Any]) -> str:
    lon, lat = farms["xy"]
    return "\n".join([
        "纬度,经度,统一社会信用代码,身份证号,主体名称,品种,采集时间,精度(米),备注",
        f"{lat},{lon},{uscc(31, '93350524')},,,豇豆,2023-03-05 09:30,5,合作社基地",
        f"{lat + 1e-4},{lon},,{resident_id(31)},,豇豆,2023/3/5 10:00,6,",
        f"{lat + 2e-4},{lon},,,林小梅,豇豆,2023-03-05 11:00,4,同名两户",
        f"{lat + 3e-4},{lon},,,王无名,豇豆,2023-03-05 11:30,4,查无此人",
        f"{lat + 4e-4},{lon},,350524198001011230,,豇豆,2023-03-05 12:00,4,身份证号校验错",
    ]) + "\n"


def test_gbk_csv_names_entities_every_way_and_reimport_adds_nothing(
        client: TestClient, admin: dict, farms: dict, engine: Engine) -> None:
    data = csv_rows(farms).encode("gb18030")
    r = client.post("/api/v1/collections/files", headers=admin,
                    files={"file": ("点位.csv", data, "text/csv")})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["record"] for x in res] == [2, 3, 4, 5, 6]  # rows as Excel numbers them
    assert [x["status"] for x in res] == ["accepted", "accepted", "rejected", "rejected",
                                          "rejected"]
    assert {e["code"] for e in res[2]["errors"]} == {"ambiguous_entity"}
    assert {e["code"] for e in res[3]["errors"]} == {"unknown_entity"}
    assert {e["code"] for e in res[4]["errors"]} == {"resident_id_check"}
    assert "350524198001011230" not in r.text
    with engine.connect() as conn:
        owners = conn.execute(text("SELECT entity_id, commodity FROM site_point ORDER BY id")).all()
    assert [tuple(o) for o in owners] == [(farms["coop"], "cowpea"), (farms["person"], "cowpea")]

    again = client.post("/api/v1/collections/files", headers=admin,
                        files={"file": ("点位.csv", data, "text/csv")}).json()["results"]
    assert [x["status"] for x in again[:2]] == ["duplicate", "duplicate"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM site_point")).scalar() == 2


def test_xlsx_upload_in_gcj02(client: TestClient, admin: dict, farms: dict) -> None:
    from georeg.coords import wgs84_to_gcj02

    lon, lat = farms["xy"]
    wb = Workbook()
    ws = wb.active
    ws.append(["2023年豇豆产地点位"])
    ws.append(["主体编号", "经度", "纬度", "品种", "精度"])
    ws.append([farms["coop"], *wgs84_to_gcj02(lon, lat), "cowpea", 3])
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post("/api/v1/collections/files", headers=admin, data={"crs": "gcj02"},
                    files={"file": ("points.xlsx", buf.getvalue())})
    assert r.status_code == 200, r.text
    [res] = r.json()["results"]
    assert res["status"] == "accepted" and res["record"] == 3
    got = client.get(f"/api/v1/collections/points/{res['client_uuid']}", headers=admin).json()
    assert got["geometry"]["coordinates"] == pytest.approx([lon, lat], abs=1e-8)


def test_unusable_files_are_refused_whole(client: TestClient, admin: dict) -> None:
    r = client.post("/api/v1/collections/files", headers=admin,
                    files={"file": ("bad.csv", b"\xff\xfe\x00\x81\x82\x83garbage\x80\x81", "")})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = client.post("/api/v1/collections/files", headers=admin,
                    files={"file": ("cut.gpx", b"<?xml version='1.0'?><gpx><wpt lat='25'", "")})
    assert r.status_code == 422


def test_cli_import_reports_rows_and_exits_2_on_rejections(
        settings: Settings, farms: dict, tmp_path, engine: Engine) -> None:
    path = tmp_path / "points.csv"
    path.write_bytes(csv_rows(farms).encode("utf-8-sig"))
    env = {"GEOREG_DATABASE_URL": settings.url(), "GEOREG_PII_KEY": settings.pii_key or "",
           "GEOREG_STATE_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["import", "points", str(path), "--json"], env=env)
    assert result.exit_code == 2, result.output
    body = json.loads(result.output.strip().splitlines()[-1])
    assert body["summary"]["accepted"] == 2 and body["summary"]["rejected"] == 3
    again = CliRunner().invoke(main, ["import", "points", str(path)], env=env)
    assert "重复 2" in again.output and "第 4 条被拒" in again.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM site_point")).scalar() == 2

    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [')
    result = CliRunner().invoke(main, ["import", "points", str(broken)], env=env)
    assert result.exit_code == 1 and "broken.geojson" in result.output
