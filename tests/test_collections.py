"""Provenance collection: statuses, flags, coordinate systems, idempotent and concurrent retries."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pyproj
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from georeg import collection
from georeg.accounts import Role, ensure_account, get_account
from georeg.config import Settings
from georeg.coords import wgs84_to_bd09, wgs84_to_gcj02
from georeg.database import make_engine
from tests.conftest import TEST_PASSWORD
from tests.helpers import login, point_in, uscc

CANNEI = "350524113000"
FENGCHENG = "350524100000"


@pytest.fixture
def collector(client: TestClient, engine: Engine) -> dict[str, str]:
    with engine.begin() as conn:
        ensure_account(conn, username="collector1", display_name="参内镇采集员",
                       role=Role.collector, password=TEST_PASSWORD, township_code=CANNEI)
    return login(client, "collector1")


@pytest.fixture
def farm(client: TestClient, engine: Engine) -> dict[str, Any]:
    """A producer in 参内镇 with one cowpea plot at its site."""
    admin = login(client, "admin")
    site = point_in(engine, CANNEI, seed=11)
    pid = client.post("/api/v1/producers", headers=admin, json={
        "name": "参内豇豆合作社", "kind": "cooperative", "uscc": uscc(5, "93350524"),
        "location": site}).json()["id"]
    plot = client.post(f"/api/v1/producers/{pid}/plots", headers=admin,
                       json={"commodity": "cowpea", "geometry": site}).json()["id"]
    other = client.post("/api/v1/producers", headers=admin, json={
        "name": "凤城蔬菜公司", "kind": "enterprise", "uscc": uscc(6),
        "location": point_in(engine, FENGCHENG, seed=12)}).json()["id"]
    return {"id": pid, "plot": plot, "site": site["coordinates"], "other": other}


def feature(entity_id: Any, lon: float, lat: float, **props: Any) -> dict[str, Any]:
    props = {"client_uuid": str(uuid.uuid4()), "entity_id": entity_id, "commodity": "cowpea",
             "collected_at": "2023-03-05T09:30:00", "accuracy_m": 5.0} | props
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": props}


def post(client: TestClient, headers: dict, features: list, crs: str | None = None) -> Any:
    url = "/api/v1/collections/points" + (f"?crs={crs}" if crs else "")
    return client.post(url, headers=headers,
                       json={"type": "FeatureCollection", "features": features})


def results(r: Any) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    return r.json()["results"]


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM site_point")).scalar_one()


def flags_of(result: dict[str, Any]) -> set[str]:
    return {f["code"] for f in result.get("flags", [])}


def test_accepted_point_is_stored_with_township_and_grid(
        client: TestClient, collector: dict, farm: dict, engine: Engine) -> None:
    lon, lat = farm["site"]
    f = feature(farm["id"], lon + 0.0002, lat, plot_id=farm["plot"])
    [res] = results(post(client, collector, [f]))
    assert res["status"] == "accepted"
    got = client.get(f"/api/v1/collections/points/{f['properties']['client_uuid']}",
                     headers=collector).json()
    assert got["type"] == "Feature" and got["properties"]["township_code"] == CANNEI
    assert got["properties"]["grid_code"].startswith(CANNEI)
    assert got["properties"]["status"] == "accepted"
    assert got["geometry"]["coordinates"] == pytest.approx([lon + 0.0002, lat], abs=1e-8)
    assert got["properties"]["collected_at"].startswith("2023-03-05T01:30:00")  # CST -> UTC


def test_retry_is_a_duplicate_and_an_edit_is_a_conflict(
        client: TestClient, collector: dict, farm: dict, engine: Engine) -> None:
    lon, lat = farm["site"]
    batch = [feature(farm["id"], lon, lat, accuracy_m=0), feature(farm["id"], lon + 1e-4, lat)]
    first = results(post(client, collector, batch))
    assert [r["status"] for r in first] == ["accepted_with_flags", "accepted"]
    again = results(post(client, collector, batch))
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert [r["point_id"] for r in again] == [r["point_id"] for r in first]
    assert again[0]["original_status"] == "accepted_with_flags"
    assert flags_of(again[0]) == {"accuracy_missing"}
    assert stored(engine) == 2

    edited = dict(batch[1], geometry={"type": "Point", "coordinates": [lon + 2e-4, lat]})
    [res] = results(post(client, collector, [edited]))
    assert res["status"] == "conflict" and stored(engine) == 2
    assert results(post(client, collector, [edited]))[0]["status"] == "conflict"
    got = client.get(f"/api/v1/collections/points/{batch[1]['properties']['client_uuid']}",
                     headers=collector).json()
    assert got["geometry"]["coordinates"][0] == pytest.approx(lon + 1e-4)  # not overwritten
    assert len(got["properties"]["conflicts"]) == 1
    assert got["properties"]["conflicts"][0]["submitted"]["coordinates"][0] == \
        pytest.approx(lon + 2e-4)


def test_rejections_name_the_record_and_keep_the_good_ones(
        client: TestClient, collector: dict, farm: dict, engine: Engine) -> None:
    lon, lat = farm["site"]
    line = feature(farm["id"], lon, lat)
    line["geometry"] = {"type": "LineString", "coordinates": [[lon, lat], [lon + 1, lat]]}
    no_geometry = feature(farm["id"], lon, lat)
    no_geometry["geometry"] = None
    batch = [
        feature(farm["id"], lon, lat),                        # good
        no_geometry,
        line,
        feature(999_999, lon, lat),                           # unknown entity
        feature(farm["id"], 200.0, 95.0),                     # out of range
        feature(farm["id"], lon, lat, client_uuid="not-a-uuid"),
        feature(farm["other"], lon, lat),                     # entity in another township
        feature(farm["id"], lon, lat, plot_id=farm["plot"] + 1000),
        feature(farm["id"], lon, lat, accuracy_m=-3),
        feature(farm["id"], lon, lat, collected_at="yesterday"),
        feature(farm["id"], lon + 2e-4, lat),                 # good
    ]
    res = results(post(client, collector, batch))
    assert [r["record"] for r in res] == list(range(1, 12))
    assert [r["status"] for r in res] == ["accepted"] + ["rejected"] * 9 + ["accepted"]
    codes = [{e["code"] for e in r.get("errors", [])} for r in res]
    assert codes[1:10] == [{"missing_geometry"}, {"not_a_point"}, {"unknown_entity"},
                           {"coordinates_out_of_range"}, {"invalid_client_uuid"},
                           {"out_of_scope"}, {"unknown_plot"}, {"invalid_accuracy"},
                           {"invalid_time"}]
    assert all(e["message"] for r in res for e in r.get("errors", []))
    assert stored(engine) == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM site_point_rejection")).scalar() == 9
    results(post(client, collector, batch))  # a retry records no rejection twice
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM site_point_rejection")).scalar() == 9


def test_each_flag(client: TestClient, collector: dict, farm: dict, engine: Engine) -> None:
    lon, lat = farm["site"]
    elsewhere = point_in(engine, FENGCHENG, seed=3)["coordinates"]
    cases = {
        "low": feature(farm["id"], lon, lat, accuracy_m=45),
        "zero": feature(farm["id"], lon + 1e-3, lat, accuracy_m=0),
        "missing": feature(farm["id"], lon + 2e-3, lat, accuracy_m=None),
        "swapped": feature(farm["id"], lat, lon + 4e-3),
        "elsewhere": feature(farm["id"], *elsewhere),
        "null_island": feature(farm["id"], 0.0, 0.0),
        "clean": feature(farm["id"], lon + 3e-3, lat),
    }
    res = dict(zip(cases, results(post(client, collector, list(cases.values()))), strict=True))
    assert flags_of(res["low"]) == {"low_accuracy"}
    assert flags_of(res["zero"]) == {"accuracy_missing"}
    assert flags_of(res["missing"]) == {"accuracy_missing"}
    assert flags_of(res["swapped"]) == {"swapped_coordinates"}
    assert {"outside_collector_township", "outside_entity_township"} <= flags_of(res["elsewhere"])
    assert {"outside_china", "far_from_plots"} <= flags_of(res["null_island"])
    assert res["clean"]["status"] == "accepted"
    assert all(res[k]["status"] == "accepted_with_flags" for k in cases if k != "clean")
    swapped_uuid = cases["swapped"]["properties"]["client_uuid"]
    swapped = client.get(f"/api/v1/collections/points/{swapped_uuid}", headers=collector).json()
    # kept, swapped back
    assert swapped["geometry"]["coordinates"] == pytest.approx([lon + 4e-3, lat])
    assert swapped["properties"]["input_x"] == pytest.approx(lat)  # what was sent is kept


def test_far_from_plots_threshold_is_configurable(
        settings: Settings, collector: dict, farm: dict, engine: Engine) -> None:
    lon, lat = farm["site"]
    strict = settings.model_copy(update={"collection_far_from_plots_m": 50.0})
    with TestClient(create_app(strict)) as c:
        res = results(post(c, login(c, "collector1"), [
            feature(farm["id"], lon + 0.001, lat),    # ~100 m from the plot
            feature(farm["id"], lon + 0.0001, lat)]))  # ~10 m
    assert "far_from_plots" in flags_of(res[0])
    assert "far_from_plots" not in flags_of(res[1])


def test_near_duplicates_same_day_only(
        client: TestClient, collector: dict, farm: dict) -> None:
    lon, lat = farm["site"]
    res = results(post(client, collector, [
        feature(farm["id"], lon, lat, collected_at="2023-03-05T09:00:00"),
        feature(farm["id"], lon + 0.00002, lat, collected_at="2023-03-05T17:00:00"),  # ~2 m
        feature(farm["id"], lon + 0.00002, lat, collected_at="2023-03-06T09:00:00"),
        feature(farm["id"], lon + 0.0002, lat, collected_at="2023-03-05T10:00:00"),   # ~20 m
    ]))
    assert [("near_duplicate" in flags_of(r)) for r in res] == [False, True, False, False]


def test_near_duplicates_of_stored_points_by_china_day(
        client: TestClient, collector: dict, farm: dict) -> None:
    """Against points stored by an earlier batch; the day is China Standard Time's."""
    lon, lat = farm["site"]
    results(post(client, collector, [
        feature(farm["id"], lon, lat, collected_at="2023-03-05T23:50:00+08:00")]))
    res = results(post(client, collector, [
        feature(farm["id"], lon + 0.00002, lat, collected_at="2023-03-05T15:55:00Z"),  # 23:55
        feature(farm["id"], lon, lat + 0.00002, collected_at="2023-03-05T16:05:00Z"),  # 00:05
    ]))
    assert [("near_duplicate" in flags_of(r)) for r in res] == [True, False]


@pytest.mark.parametrize("crs", ["gcj02", "bd09", "cgcs2000", "EPSG:4549"])
def test_coordinate_systems_are_converted_to_wgs84(
        client: TestClient, collector: dict, farm: dict, crs: str) -> None:
    lon, lat = farm["site"]
    if crs == "gcj02":
        x, y = wgs84_to_gcj02(lon, lat)
        assert abs(x - lon) > 1e-3  # the offset is hundreds of metres
    elif crs == "bd09":
        x, y = wgs84_to_bd09(lon, lat)
    elif crs == "cgcs2000":
        x, y = lon, lat
    else:  # CGCS2000 / 3-degree Gauss-Kruger CM 120E
        x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    f = feature(farm["id"], x, y)
    [res] = results(post(client, collector, [f], crs=crs))
    assert res["status"] == "accepted", res
    got = client.get(f"/api/v1/collections/points/{f['properties']['client_uuid']}",
                     headers=collector).json()
    assert got["geometry"]["coordinates"] == pytest.approx([lon, lat], abs=1e-8)  # ~1 mm
    assert got["properties"]["input_crs"] == crs


def test_bad_requests_store_nothing(
        client: TestClient, collector: dict, farm: dict, engine: Engine) -> None:
    url = "/api/v1/collections/points"
    r = client.post(url, headers=collector | {"Content-Type": "application/json"},
                    content=b'{"type": "FeatureCollection", "features": [')
    assert r.status_code == 400 and r.json()["code"] == "malformed_request"
    r = client.post(url, headers=collector | {"Content-Type": "text/csv"}, content=b"a,b")
    assert r.status_code == 415
    lon, lat = farm["site"]
    too_many = [feature(farm["id"], lon, lat) for _ in range(5001)]
    assert post(client, collector, too_many).status_code == 413
    r = client.post(url, headers=collector, json={"type": "Feature"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "not_a_feature_collection"
    r = post(client, collector, [feature(farm["id"], lon, lat)], crs="mars")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "crs"
    assert stored(engine) == 0
    assert client.post(url, json={"type": "FeatureCollection", "features": []}).status_code == 401


def test_concurrent_retries_store_one_copy(db_url: str, farm: dict, engine: Engine) -> None:
    lon, lat = farm["site"]
    batch = [feature(farm["id"], lon + i * 1e-4, lat) for i in range(200)]
    with engine.connect() as conn:
        account = get_account(conn, conn.execute(
            text("SELECT id FROM account WHERE username = 'admin'")).scalar_one())
    assert account is not None
    outcomes: list[list[str]] = []
    barrier = threading.Barrier(2)
    engines = [make_engine(db_url, pool_size=1) for _ in range(2)]

    def send(e: Engine) -> None:
        subs = [collection.Submission(
            record=i + 1, client_uuid=f["properties"]["client_uuid"], entity_id=farm["id"],
            commodity="cowpea", x=f["geometry"]["coordinates"][0],
            y=f["geometry"]["coordinates"][1], accuracy_m=5.0) for i, f in enumerate(batch)]
        with e.begin() as conn:
            barrier.wait()
            outcomes.append([o.status for o in collection.ingest(
                conn, subs, crs="wgs84", collector=account)])

    threads = [threading.Thread(target=send, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert stored(engine) == 200
    first, second = sorted(outcomes, key=lambda o: o.count("duplicate"))
    assert "duplicate" not in first and set(second) == {"duplicate"}


def test_feature_values_are_checked_one_by_one(
        client: TestClient, collector: dict, farm: dict) -> None:
    """PostgreSQL reads the body: each odd value is a reason on its own feature, never a 500."""
    lon, lat = farm["site"]
    eid = farm["id"]
    plain = str(uuid.uuid4())
    cases: dict[str, Any] = {
        "id_as_text": feature(f" {eid} ", lon, lat),
        "uuid_upper_no_hyphens": feature(eid, lon + 1e-3, lat,
                                         client_uuid="{" + plain.upper().replace("-", "") + "}"),
        "accuracy_as_text": feature(eid, lon + 2e-3, lat, accuracy_m=" 6.5 "),
        "time_with_space": feature(eid, lon + 3e-3, lat, collected_at="2023-03-05 09:30"),
        "date_only": feature(eid, lon + 4e-3, lat, collected_at="2023-03-06"),
        "offset_z": feature(eid, lon + 5e-3, lat, collected_at="2023-03-05T01:30:00.25Z"),
        "empty_time": feature(eid, lon + 6e-3, lat, collected_at="", note={"rows": 2}),
        "id_fraction": feature(12.5, lon, lat),
        "accuracy_word": feature(eid, lon, lat, accuracy_m="abc"),
        "accuracy_bool": feature(eid, lon, lat, accuracy_m=True),
        "no_such_day": feature(eid, lon, lat, collected_at="2023-02-29T09:00:00"),
        "hour_25": feature(eid, lon, lat, collected_at="2023-03-05T25:00:00"),
        "time_number": feature(eid, lon, lat, collected_at=20230305),
        "words_time": feature(eid, lon, lat, collected_at="yesterday 9am"),
        "one_coordinate": feature(eid, lon, lat),
        "text_coordinates": feature(eid, lon, lat),
        "no_entity": feature(None, lon, lat),
    }
    cases["one_coordinate"]["geometry"]["coordinates"] = [lon]
    cases["text_coordinates"]["geometry"]["coordinates"] = [str(lon), str(lat)]
    features = [*cases.values(), 5, {"type": "Feature", "properties": "x",
                                     "geometry": {"type": "Point", "coordinates": [lon, lat]}}]
    body = post(client, collector, features)
    assert body.status_code == 200, body.text
    res = dict(zip([*cases, "not_an_object", "text_properties"], body.json()["results"],
                   strict=True))
    accepted = ["id_as_text", "uuid_upper_no_hyphens", "accuracy_as_text", "time_with_space",
                "date_only", "offset_z", "empty_time"]
    assert [res[k]["status"] for k in accepted] == ["accepted"] * len(accepted)
    assert res["uuid_upper_no_hyphens"]["client_uuid"] == plain  # canonical, lower case
    codes = {k: [e["code"] for e in r.get("errors", [])] for k, r in res.items()
             if k not in accepted}
    assert codes == {
        "id_fraction": ["unknown_entity"], "accuracy_word": ["invalid_accuracy"],
        "accuracy_bool": ["invalid_accuracy"], "no_such_day": ["invalid_time"],
        "hour_25": ["invalid_time"], "time_number": ["invalid_time"],
        "words_time": ["invalid_time"], "one_coordinate": ["invalid_coordinates"],
        "text_coordinates": ["invalid_coordinates"], "no_entity": ["missing_entity"],
        "not_an_object": ["missing_geometry", "invalid_client_uuid"],
        "text_properties": ["invalid_client_uuid"]}
    assert res["not_an_object"]["client_uuid"] is None
    assert [r["record"] for r in body.json()["results"]] == list(range(1, len(features) + 1))
    assert body.json()["summary"] == {"accepted": 7, "accepted_with_flags": 0, "duplicate": 0,
                                      "conflict": 0, "rejected": 12, "total": 19}

    def stored(key: str) -> dict[str, Any]:
        u = res[key]["client_uuid"]
        return client.get(f"/api/v1/collections/points/{u}", headers=collector).json()[
            "properties"]

    assert stored("time_with_space")["collected_at"].startswith("2023-03-05T01:30:00")
    assert stored("date_only")["collected_at"].startswith("2023-03-05T16:00:00")  # CST midnight
    assert stored("offset_z")["collected_at"].startswith("2023-03-05T01:30:00.25")
    assert stored("empty_time")["collected_at"] is None
    assert stored("empty_time")["note"] == '{"rows": 2}'
    assert stored("accuracy_as_text")["accuracy_m"] == pytest.approx(6.5)
    assert stored("id_as_text")["entity_id"] == eid


def test_same_client_uuid_twice_in_one_batch(
        client: TestClient, collector: dict, farm: dict, engine: Engine) -> None:
    lon, lat = farm["site"]
    once = feature(farm["id"], lon, lat)
    edited = dict(once, geometry={"type": "Point", "coordinates": [lon + 1e-3, lat]})
    res = results(post(client, collector, [once, once, edited]))
    assert [r["status"] for r in res] == ["accepted", "duplicate", "conflict"]
    assert res[0]["point_id"] == res[1]["point_id"] == res[2]["point_id"]
    assert res[1]["original_status"] == "accepted" and res[1]["flags"] == []
    assert stored(engine) == 1
    got = client.get(f"/api/v1/collections/points/{once['properties']['client_uuid']}",
                     headers=collector).json()
    assert len(got["properties"]["conflicts"]) == 1


def test_bodies_that_are_not_json_say_so(
        client: TestClient, collector: dict, farm: dict, engine: Engine) -> None:
    url = "/api/v1/collections/points"
    lon, lat = farm["site"]
    headers = collector | {"Content-Type": "application/geo+json"}
    good = {"type": "FeatureCollection", "features": [feature(farm["id"], lon, lat)]}
    text_body = json.dumps(good)
    r = client.post(url, headers=headers, content=b'{"type": "FeatureCollection",\n "features": [}')
    assert r.status_code == 400 and "第 2 行" in r.json()["detail"]
    for bad in (text_body.replace(str(lon), "NaN"),            # not JSON, though Python reads it
                text_body.replace('"Point"', '"Po\\u0000int"'),  # no NUL in PostgreSQL text
                "[" * 100_000 + "]" * 100_000):                 # too deep
        r = client.post(url, headers=headers, content=bad.encode())
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["code"] == "invalid_json"
    assert stored(engine) == 0
    r = client.post(url, headers=headers, content=b"\xef\xbb\xbf" + text_body.encode())  # BOM
    assert r.status_code == 200 and r.json()["summary"]["accepted"] == 1
    r = client.post(url, headers=headers, content=b'{"type": "FeatureCollection", "features": []}')
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "empty"
    r = client.post(url, headers=headers,
                    content=b'{"type": "FeatureCollection", "features": {"a": 1}}')
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "not_a_feature_collection"
