"""The completeness report: per township and key product, from the stored points."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine

from api.app import create_app
from georeg.clock import fixed_clock
from georeg.config import Settings
from tests.helpers import login, point_in, resident_id, uscc

CANNEI = "350524113000"


def point(entity_id: int, xy: list[float], collected_at: str, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": xy},
            "properties": {"client_uuid": str(uuid.uuid4()), "entity_id": entity_id,
                           "collected_at": collected_at, "accuracy_m": 4, **props}}


def report(settings: Settings, day: datetime, fmt: str = "json") -> Any:
    with TestClient(create_app(settings, clock=fixed_clock(day))) as c:
        r = c.get(f"/api/v1/reports/provenance?year=2023&format={fmt}", headers=login(c))
        assert r.status_code == 200, r.text
        return r if fmt != "json" else r.json()


def row(body: dict, commodity: str) -> dict[str, Any]:
    return next(r for r in body["rows"] if r["township_code"] == CANNEI
                and r["commodity"] == commodity)


def test_completeness_by_township_and_product(settings: Settings, engine: Engine) -> None:
    with TestClient(create_app(settings, clock=fixed_clock(datetime(2023, 3, 20)))) as c:
        admin = login(c)
        ids = []
        for serial in (1, 2):
            site = point_in(engine, CANNEI, seed=serial)
            eid = c.post("/api/v1/smallholders", headers=admin, json={
                "name": f"豇豆户{serial}", "resident_id": resident_id(serial),
                "location": site}).json()["id"]
            c.post(f"/api/v1/smallholders/{eid}/plots", headers=admin,
                   json={"commodity": "cowpea", "geometry": site})
            ids.append((eid, site["coordinates"]))
        egg_site = point_in(engine, CANNEI, seed=9)
        egg = c.post("/api/v1/producers", headers=admin, json={
            "name": "参内蛋鸡场", "kind": "enterprise", "uscc": uscc(9),
            "location": egg_site}).json()["id"]
        c.post(f"/api/v1/producers/{egg}/plots", headers=admin,
               json={"commodity": "chicken_egg", "geometry": egg_site})
        (a, a_xy), (b, b_xy) = ids
        r = c.post("/api/v1/collections/points", headers=admin, json={
            "type": "FeatureCollection", "features": [
                point(a, a_xy, "2023-03-10T10:00:00", commodity="cowpea"),
                point(a, a_xy, "2023-03-10T10:05:00", commodity="cowpea", accuracy_m=80),
                point(b, b_xy, "2023-04-02T10:00:00", commodity="cowpea"),  # after 31 March
                point(b, [200, 95], "2023-03-02T10:00:00", commodity="cowpea"),  # rejected
            ]})
        assert [x["status"] for x in r.json()["results"]] == \
            ["accepted", "accepted_with_flags", "accepted", "rejected"]

    march = report(settings, datetime(2023, 3, 25))
    cowpea = row(march, "cowpea")
    assert (cowpea["entities"], cowpea["collected"]) == (2, 1)  # b's point is in April
    assert cowpea["percent_complete"] == 50.0 and cowpea["status"] == "open"
    assert cowpea["flagged_points"] == 1 and cowpea["rejected_points"] == 1
    assert cowpea["due"] == "2023-03-31"

    may = report(settings, datetime(2023, 5, 1))
    assert row(may, "cowpea")["collected"] == 2
    assert row(may, "cowpea")["status"] == "missed"  # complete, but not by 31 March
    eggs = row(may, "chicken_egg")
    assert (eggs["entities"], eggs["collected"], eggs["status"]) == (1, 0, "open")
    assert row(may, "celery")["status"] == "no_entities"
    assert len(may["rows"]) == 24 * 8

    next_year = report(settings, datetime(2024, 1, 5))
    assert row(next_year, "chicken_egg")["status"] == "missed"

    text_csv = report(settings, datetime(2023, 5, 1), "csv").content
    assert text_csv.startswith(b"\xef\xbb\xbf")  # BOM: Excel in China reads UTF-8
    rows = list(csv.reader(io.StringIO(text_csv.decode("utf-8-sig"))))
    assert rows[0][:4] == ["乡镇代码", "乡镇", "品种代码", "品种"]
    cowpea_row = next(r for r in rows if r[0] == CANNEI and r[2] == "cowpea")
    assert cowpea_row[4:7] == ["2", "2", "100.0"] and cowpea_row[-1] == "逾期未完成"

    xlsx = report(settings, datetime(2023, 5, 1), "xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][1] == "乡镇" and len(values) == 1 + 24 * 8
