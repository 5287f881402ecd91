"""Small builders shared by the API tests: valid identifiers and points inside a township."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from georeg.ids import resident_id_check_char, uscc_check_char


def uscc(serial: int, prefix: str = "91350524") -> str:
    first17 = f"{prefix}{serial:09d}"
    return first17 + uscc_check_char(first17)


def resident_id(serial: int, birth: str = "19800101") -> str:
    first17 = f"350524{birth}{serial % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def point_in(engine: Engine, township_code: str, seed: int = 1) -> dict[str, Any]:
    """A GeoJSON point inside the township (ST_GeneratePoints is reproducible with a seed)."""
    with engine.connect() as conn:
        lon, lat = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(boundary, 1, :s)))"
            ".geom AS p FROM township WHERE code = :c) x"), {"c": township_code, "s": seed}).one()
    return {"type": "Point", "coordinates": [lon, lat]}


def square_around(point: dict[str, Any], half: float = 0.0005) -> dict[str, Any]:
    x, y = point["coordinates"]
    ring = [[x - half, y - half], [x + half, y - half], [x + half, y + half],
            [x - half, y + half], [x - half, y - half]]
    return {"type": "Polygon", "coordinates": [ring]}


def login(client: TestClient, username: str = "admin") -> dict[str, str]:
    """Bearer header for a demo account (all test accounts share TEST_PASSWORD)."""
    from tests.conftest import TEST_PASSWORD

    r = client.post("/api/v1/auth/token", data={"username": username, "password": TEST_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
