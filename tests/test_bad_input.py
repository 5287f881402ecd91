"""Inputs the fuzzer (make fuzz) answered with a server error, now each a 4xx by rule; kept in
`make test` so they stay fixed (issue 13, part 6)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import point_in, resident_id, square_around, uscc

CANNEI = "350524113000"
HUGE = 2**63  # one past bigint


def problem(r: Any, status: int = 422) -> list[dict[str, str]]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()["errors"]


def producer(engine: Engine, **extra: Any) -> dict[str, Any]:
    return {"name": "参内茶业有限公司", "kind": "enterprise", "uscc": uscc(7),
            "location": point_in(engine, CANNEI, seed=7), **extra}


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/producers/{n}"), ("DELETE", "/api/v1/producers/{n}"),
    ("PATCH", "/api/v1/producers/{n}"), ("GET", "/api/v1/producers/{n}/plots"),
    ("GET", "/api/v1/smallholders/{n}/plots"), ("DELETE", "/api/v1/smallholders/{n}"),
    ("GET", "/api/v1/plots/{n}"), ("DELETE", "/api/v1/plots/{n}"), ("PATCH", "/api/v1/plots/{n}"),
    ("GET", "/api/v1/credit/{n}"), ("GET", "/api/v1/credit/{n}/report.html"),
    ("DELETE", "/api/v1/credit/{n}/key-supervision"), ("GET", "/api/v1/grids/{n}"),
    ("GET", "/api/v1/sampling/plans/{n}"),
])
@pytest.mark.parametrize("n", [HUGE, -HUGE * 4, 0])
def test_ids_outside_bigint_are_refused(client: TestClient, admin: dict, method: str, path: str,
                                        n: int) -> None:
    body = {"reason": "x"} if "key-supervision" in path else {} if method == "PATCH" else None
    errors = problem(client.request(method, path.format(n=n), headers=admin, json=body))
    assert any(e["code"] in ("less_than_equal", "greater_than_equal") for e in errors), errors


def test_offsets_and_query_ids_are_bounded(client: TestClient, admin: dict) -> None:
    for url in ("/api/v1/producers?offset=342640961306674782418239488",
                "/api/v1/sampling/plans?offset=99999999999",
                "/api/v1/testing/rapid-tests?offset=99999999999",
                f"/api/v1/testing/rapid-tests?entity_id={HUGE}"):
        assert problem(client.get(url, headers=admin))[0]["code"] == "less_than_equal", url


def test_credit_as_of_before_2000_is_refused(client: TestClient, admin: dict) -> None:
    for url in ("/api/v1/credit/1?as_of=0001-01-05",
                "/api/v1/credit/1/report.html?as_of=1999-12-31"):
        errors = problem(client.get(url, headers=admin))
        assert errors[0]["field"] == "as_of" and errors[0]["code"] == "too_early", url


def test_nul_in_the_query_string_is_a_field_error(client: TestClient, admin: dict) -> None:
    errors = problem(client.get("/api/v1/credit/search?q=%00", headers=admin))
    assert errors == [{"field": "q", "code": "nul_character", "message": "不能包含空字符（NUL）"}]
    assert problem(client.get("/api/v1/producers?q=a%00b", headers=admin))[0]["field"] == "q"
    ok = client.get("/api/v1/credit/search?q=%E8%8C%B6%E4%B8%9A", headers=admin)
    assert ok.status_code == 200, ok.text


def test_nul_in_body_text_is_a_field_error(client: TestClient, admin: dict,
                                           engine: Engine) -> None:
    for field in ("name", "village", "address"):
        errors = problem(client.post("/api/v1/producers", headers=admin,
                                     json=producer(engine, **{field: "参内\u0000茶"})))
        assert errors[0] == {"field": field, "code": "nul_character",
                             "message": "不能包含空字符（NUL）"}
    staff = client.put("/api/v1/grids/1/staff", headers=admin,
                       json={"supervisor": "张", "assistants": ["李\u0000"]})
    assert problem(staff)[0]["code"] == "nul_character"


def test_blank_names_are_refused(client: TestClient, admin: dict, engine: Engine) -> None:
    for blank in (" ", "\u3000\t", "\n"):
        errors = problem(client.post("/api/v1/producers", headers=admin,
                                     json=producer(engine, name=blank)))
        assert errors[0] == {"field": "name", "code": "blank", "message": "不能为空白"}
    patrol = {"entity_id": 1, "inspector": "  ", "kind": "online",
              "patrolled_at": "2023-05-01T09:00:00"}
    assert problem(client.post("/api/v1/patrols", headers=admin, json=[patrol])
                   )[0]["code"] == "blank"
    listing = client.post("/api/v1/credit/1/key-supervision", headers=admin,
                          json={"reason": "   "})
    assert problem(listing)[0]["code"] == "blank"


def test_z_coordinates_are_dropped(client: TestClient, admin: dict, engine: Engine) -> None:
    site = point_in(engine, CANNEI, seed=8)
    lon, lat = site["coordinates"]
    r = client.post("/api/v1/smallholders", headers=admin, json={
        "name": "陈三维", "resident_id": resident_id(88),
        "location": {"type": "Point", "coordinates": [lon, lat, 812.5]}})
    assert r.status_code == 201, r.text
    entity = r.json()["id"]
    area = square_around(site)
    ring = [[x, y, 800.0] for x, y in area["coordinates"][0]]
    r = client.post(f"/api/v1/smallholders/{entity}/plots", headers=admin, json={
        "commodity": "tea", "geometry": {"type": "Polygon", "coordinates": [ring]}})
    assert r.status_code == 201, r.text
    with engine.connect() as conn:
        dims = conn.execute(text(
            "SELECT ST_NDims(e.location), ST_NDims(p.geom) FROM entity e "
            "JOIN plot p ON p.entity_id = e.id WHERE e.id = :id"), {"id": entity}).one()
    assert tuple(dims) == (2, 2)


def test_non_finite_and_unstorable_numbers_are_refused(client: TestClient, admin: dict,
                                                       engine: Engine) -> None:
    created = client.post("/api/v1/producers", headers=admin, json=producer(engine))
    assert created.status_code == 201, created.text
    entity = created.json()["id"]
    certificate = {"entity_id": entity, "batch_no": "B1", "issued_on": "2023-05-01",
                   "quantity": 5e-324}
    assert problem(client.post("/api/v1/certificates", headers=admin, json=[certificate])
                   )[0]["field"].endswith("quantity")
    plot = client.post(f"/api/v1/producers/{entity}/plots", headers=admin, json={
        "commodity": "tea", "geometry": square_around(point_in(engine, CANNEI, seed=7))})
    assert plot.status_code == 201, plot.text
    r = client.patch(f"/api/v1/plots/{plot.json()['id']}", headers={
        **admin, "Content-Type": "application/json"}, content=b'{"area_mu": NaN}')
    assert problem(r)[0]["code"] == "finite_number"


def test_null_for_a_required_field_in_a_patch_is_refused(client: TestClient, admin: dict,
                                                         engine: Engine) -> None:
    entity = client.post("/api/v1/producers", headers=admin, json=producer(engine)).json()["id"]
    plot = client.post(f"/api/v1/producers/{entity}/plots", headers=admin, json={
        "commodity": "tea", "geometry": square_around(point_in(engine, CANNEI, seed=7))})
    r = client.patch(f"/api/v1/plots/{plot.json()['id']}", headers=admin,
                     json={"commodity": None})
    assert problem(r)[0] == {"field": "commodity", "code": "null_not_allowed",
                             "message": "不能为 null（不修改请不传此字段）"}
    r = client.patch(f"/api/v1/producers/{entity}", headers=admin, json={"name": None})
    assert problem(r)[0]["code"] == "null_not_allowed"
