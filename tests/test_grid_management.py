"""Grid management: topology, boundary import with versions, re-assignment, generation, staff."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from georeg.clock import fixed_clock
from georeg.config import Settings
from georeg.errors import InvalidInput
from grids import boundaries, generate, reassign, topology
from importers.boundary_files import read_boundary_file
from tests.helpers import login, point_in, uscc

CANNEI = "350524113000"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=fixed_clock(datetime(2023, 6, 1, 9)))) as c:
        yield c


def grids_of(engine: Engine, township: str = CANNEI) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT id, code, name, boundary, valid_from, valid_to FROM grid "
            "WHERE township_code = :t ORDER BY code, valid_from"), {"t": township}).all()


def geojson_file(tmp_path: Path, features: list[dict[str, Any]], name: str = "b.geojson"
                 ) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def as_feature(code: str | None, name: str | None, geom: shapely.Geometry) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"code": code, "name": name},
            "geometry": shapely.geometry.mapping(geom)}


def test_clean_grids_have_no_topology_problems(engine: Engine) -> None:
    with engine.connect() as conn:
        assert topology.check(conn) == []


def test_topology_finds_each_kind_of_problem(engine: Engine) -> None:
    [first, second, *_] = grids_of(engine)
    with engine.begin() as conn:
        # grow the first grid 300 m beyond everything: overlaps its neighbours and the township
        conn.execute(text("UPDATE grid SET boundary = ST_Multi(ST_Buffer(boundary, 0.003)) "
                          "WHERE id = :id"), {"id": first.id})
        # shrink the second (a gap inside the township), leaving a tiny disc where one of its
        # corners was: a sliver
        conn.execute(text(
            "UPDATE grid SET boundary = ST_Multi(ST_Union(ST_Buffer(boundary, -0.002), "
            "ST_Buffer(ST_StartPoint(ST_ExteriorRing(ST_GeometryN(boundary, 1))), 0.0001))) "
            "WHERE id = :id"), {"id": second.id})
        problems = topology.check(conn, township=CANNEI, sliver_m2=500)
    kinds = {p["kind"] for p in problems}
    assert kinds == {"overlap", "gap", "crosses_township", "sliver"}
    crossing = [p for p in problems if p["kind"] == "crosses_township"]
    assert crossing[0]["grid_code"] == first.code and crossing[0]["area_m2"] > 1e5
    sliver = next(p for p in problems if p["kind"] == "sliver")
    assert sliver["grid_code"] == second.code and 0 < sliver["area_m2"] < 500
    assert all(117 < p["lon"] < 119 and 24 < p["lat"] < 26 for p in problems)


def test_changed_grid_closes_the_old_version_and_points_move(
        engine: Engine, client: TestClient, tmp_path: Path) -> None:
    admin = login(client)
    [a, b, *_] = grids_of(engine)
    with engine.connect() as conn:
        inside_a_near_b = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_ClosestPoint(a.boundary, "
            "ST_PointOnSurface(b.boundary)) AS p FROM grid a, grid b "
            "WHERE a.id = :a AND b.id = :b) x"), {"a": a.id, "b": b.id}).one()
    # a producer just inside grid a, at its border with b
    lon, lat = inside_a_near_b
    with engine.connect() as conn:
        site = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_ClosestPoint(ST_Buffer(g.boundary, -0.0005),"
            " ST_SetSRID(ST_MakePoint(:x, :y), 4326)) AS p FROM grid g WHERE id = :a) q"),
            {"x": lon, "y": lat, "a": a.id}).one()
    pid = client.post("/api/v1/producers", headers=admin, json={
        "name": "边界茶厂", "kind": "enterprise", "uscc": uscc(71),
        "location": {"type": "Point", "coordinates": list(site)}}).json()
    assert pid["properties"]["grid_code"] == a.code
    # new boundaries: b takes a 200 m strip of a
    with engine.connect() as conn:
        new_a, new_b = conn.execute(text(
            "SELECT ST_Difference(a.boundary, ST_Buffer(b.boundary, 0.002)), "
            "ST_Intersection(ST_Union(b.boundary, ST_Buffer(b.boundary, 0.002)), t.boundary) "
            "FROM grid a, grid b, township t WHERE a.id = :a AND b.id = :b AND t.code = :t"),
            {"a": a.id, "b": b.id, "t": CANNEI}).one()
    path = geojson_file(tmp_path, [
        as_feature(a.code, a.name, shapely.from_wkb(new_a)),
        as_feature(b.code, b.name, shapely.from_wkb(new_b))])
    features = read_boundary_file(path)
    with engine.begin() as conn:
        dry = boundaries.import_boundaries(conn, features, level="grid",
                                           valid_from=date(2023, 6, 1), dry_run=True)
    assert dry["counts"]["changed"] == 2 and len(grids_of(engine)) == len(grids_of(engine))
    assert len([g for g in grids_of(engine) if g.valid_to]) == 0  # dry run wrote nothing

    r = client.post("/api/v1/grids/boundaries", headers=admin,
                    data={"level": "grid", "valid_from": "2023-06-01"},
                    files={"file": ("grids.geojson", path.read_bytes())})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["counts"]["changed"] == 2
    moved = report["reassignment"]["entity"]
    assert {"from": a.code, "to": b.code} in [{"from": m["from"], "to": m["to"]} for m in moved]
    history = [g for g in grids_of(engine) if g.code == a.code]
    assert [(g.valid_from, g.valid_to) for g in history] == [
        (date(2023, 1, 1), date(2023, 6, 1)), (date(2023, 6, 1), None)]
    got = client.get(f"/api/v1/producers/{pid['id']}", headers=admin).json()
    assert got["properties"]["grid_code"] == b.code


def test_import_refuses_grids_outside_every_township_and_mixed_types(
        engine: Engine, tmp_path: Path) -> None:
    far = shapely.box(100.0, 30.0, 100.01, 30.01)
    path = geojson_file(tmp_path, [as_feature(None, "远方网格", far)])
    with pytest.raises(InvalidInput) as e, engine.begin() as conn:
        boundaries.import_boundaries(conn, read_boundary_file(path), level="grid",
                                     valid_from=date(2023, 6, 1))
    assert e.value.errors[0].code == "outside_all_townships"
    mixed = geojson_file(tmp_path, [as_feature("x", "面", shapely.box(118, 25, 118.01, 25.01)),
                                    as_feature("y", "点", shapely.Point(118, 25))], "m.geojson")
    with pytest.raises(InvalidInput) as e, engine.begin() as conn:
        boundaries.import_boundaries(conn, read_boundary_file(mixed), level="grid",
                                     valid_from=date(2023, 6, 1))
    assert e.value.errors[0].field == "[2].geometry"


def test_township_import_matches_by_name_and_keeps_history(
        engine: Engine, tmp_path: Path) -> None:
    with engine.connect() as conn:
        old = conn.execute(text("SELECT boundary FROM township WHERE code = :t"),
                           {"t": CANNEI}).scalar()
    smaller = shapely.from_wkb(old).buffer(-0.001)
    path = geojson_file(tmp_path, [as_feature(None, "参内镇", smaller),
                                   as_feature(None, "不存在镇", smaller)])
    with engine.begin() as conn:
        report = boundaries.import_boundaries(conn, read_boundary_file(path), level="township",
                                              valid_from=date(2023, 6, 1))
        source, kept = conn.execute(text(
            "SELECT t.boundary_source, (SELECT count(*) FROM township_boundary_history h "
            "WHERE h.township_code = t.code) FROM township t WHERE code = :t"),
            {"t": CANNEI}).one()
    assert [f["action"] for f in report["features"]] == ["changed", "unmatched"]
    assert report["features"][0]["matched"] == CANNEI
    assert (source, kept) == ("imported", 1)


def test_generated_grids_are_balanced_by_entities(
        engine: Engine, client: TestClient) -> None:
    admin = login(client)
    for serial in range(60):
        client.post("/api/v1/producers", headers=admin, json={
            "name": f"生成测试{serial}", "kind": "family_farm",
            "location": point_in(engine, CANNEI, seed=100 + serial)})
    r = client.post("/api/v1/grids/generate", headers=admin,
                    json={"township": CANNEI, "cells": 4})
    assert r.status_code == 200, r.text
    assert r.json()["balanced_by"] == "entities"
    with engine.connect() as conn:
        counts = conn.execute(text(
            "SELECT g.code, count(e.id) FROM current_grid g LEFT JOIN entity e ON e.grid_id = g.id"
            " WHERE g.township_code = :t GROUP BY g.code ORDER BY g.code"), {"t": CANNEI}).all()
        assert topology.check(conn, township=CANNEI) == []
    assert len(counts) == 4 and all(n == 15 for _, n in counts)


def test_staff_and_workload(engine: Engine, client: TestClient) -> None:
    admin = login(client)
    [grid, *_] = grids_of(engine)
    r = client.put(f"/api/v1/grids/{grid.id}/staff", headers=login(client, "cnx05"),
                   json={"supervisor": "陈监管", "assistants": ["林协管", "王协管"]})
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["supervisor"] == "陈监管"
    assert r.json()["properties"]["assistants"] == ["林协管", "王协管"]
    assert client.put(f"/api/v1/grids/{grid.id}/staff", headers=login(client, "fcz01"),
                      json={"supervisor": "越权"}).status_code == 403
    with engine.connect() as conn:
        site = conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface("
                                 "boundary) p FROM grid WHERE id = :g) q"),
                            {"g": grid.id}).one()
    client.post("/api/v1/producers", headers=admin, json={
        "name": "网格内农场", "kind": "family_farm",
        "location": {"type": "Point", "coordinates": list(site)}})
    load = client.get(f"/api/v1/grids/workload?township={CANNEI}", headers=admin).json()
    chen = next(w for w in load if w["person"] == "陈监管")
    assert chen["role"] == "supervisor" and chen["entities"] == 1 and chen["grids"] == 1
    detail = client.get(f"/api/v1/grids/{grid.id}", headers=admin).json()["properties"]
    assert detail["producer_count"] == 1


def test_reassign_is_idempotent(engine: Engine) -> None:
    with engine.begin() as conn:
        first = reassign.reassign(conn)
        second = reassign.reassign(conn)
    assert second["entity_moved"] == second["plot_moved"] == second["site_point_moved"] == 0
    assert first["entities_moved_township"] == 0


def test_bisect_balances_and_stays_compact() -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    xy = np.vstack([rng.normal(0, 1, (500, 2)), rng.normal(8, 0.5, (100, 2))])
    labels = generate.bisect(xy, 6)
    assert sorted(np.bincount(labels).tolist()) == [100] * 6
    # compact: each group's spread is far smaller than the whole frame's
    spread = [np.ptp(xy[labels == k], axis=0).max() for k in range(6)]
    assert max(spread) < np.ptp(xy, axis=0).max()


def test_site_points_are_placed_afresh_after_a_grid_change(engine: Engine) -> None:
    """Two new grids split 参内镇 at a meridian; points on the shared edge go to the lower
    grid id, points outside every grid keep their township, and the report counts moves."""
    with engine.begin() as conn:
        cx, cy = conn.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface("
                                   "boundary) c FROM township WHERE code = :t) q"),
                              {"t": CANNEI}).one()
        entity = conn.execute(text(
            "INSERT INTO entity (kind, name, township_code, location) VALUES ('family_farm',"
            " '点位农场', :t, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"),
            {"t": CANNEI, "x": cx, "y": cy}).scalar_one()
        conn.execute(text("UPDATE grid SET valid_to = '2023-06-01' WHERE township_code = :t"),
                     {"t": CANNEI})
        west, east = (conn.execute(text(
            "INSERT INTO grid (code, township_code, name, boundary, valid_from) "
            "SELECT :code, code, :name, ST_Multi(ST_Intersection(boundary, "
            "ST_MakeEnvelope(:x0, -90, :x1, 90, 4326))), '2023-06-01' FROM township "
            "WHERE code = :t RETURNING id"),
            {"code": f"{CANNEI}90{i}", "name": f"测试{i}", "x0": x0, "x1": x1, "t": CANNEI}
        ).scalar_one() for i, (x0, x1) in enumerate([(-180, cx), (cx, cx + 0.005)]))
        points = {"edge": (cx, cy), "west": (cx - 0.001, cy), "east": (cx + 0.002, cy),
                  "beyond": (cx + 0.01, cy)}
        ids = {}
        for n, (name, (x, y)) in enumerate(points.items()):
            ids[name] = conn.execute(text(
                "INSERT INTO site_point (client_uuid, content_hash, entity_id, geom, input_crs,"
                " input_x, input_y) VALUES (gen_random_uuid(), :h, :e,"
                " ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'wgs84', :x, :y) RETURNING id"),
                {"h": bytes([n]), "e": entity, "x": x, "y": y}).scalar_one()
            conn.execute(text("INSERT INTO site_point_place (site_point_id, geom) "
                              "SELECT id, geom FROM site_point WHERE id = :p"), {"p": ids[name]})
        inside = conn.execute(text("SELECT ST_Intersects(boundary, ST_SetSRID(ST_MakePoint("
                                   ":x, :y), 4326)) FROM township WHERE code = :t"),
                              {"x": cx + 0.01, "y": cy, "t": CANNEI}).scalar_one()
        on_edge = conn.execute(text(
            "SELECT count(*) FROM grid WHERE id IN (:w, :e) AND ST_Intersects(boundary, "
            "ST_SetSRID(ST_MakePoint(:x, :y), 4326))"), {"w": west, "e": east, "x": cx, "y": cy}
        ).scalar_one()
        report = reassign.reassign(conn, ("site_point",))
        placed = {r.site_point_id: (r.grid_id, r.township_code) for r in conn.execute(text(
            "SELECT site_point_id, grid_id, township_code FROM site_point_place "
            "WHERE site_point_id = ANY(:ids)"), {"ids": list(ids.values())})}
        again = reassign.reassign(conn, ("site_point",))
        # the edge point unplaced again while the others stay: placed again, on the lower id
        conn.execute(text("UPDATE site_point_place SET grid_id = NULL WHERE site_point_id = :p"),
                     {"p": ids["edge"]})
        reassign.reassign(conn, ("site_point",))
        looked_up = conn.execute(text("SELECT grid_id FROM site_point_place "
                                      "WHERE site_point_id = :p"), {"p": ids["edge"]}).scalar()
        conn.execute(text("DELETE FROM site_point WHERE id = :p"), {"p": ids["west"]})
        left = conn.execute(text("SELECT count(*) FROM site_point_place WHERE site_point_id = :p"),
                            {"p": ids["west"]}).scalar_one()
    assert on_edge == 2 and placed[ids["edge"]][0] == min(west, east) == looked_up
    assert placed[ids["west"]][0] == west and placed[ids["east"]][0] == east
    assert placed[ids["beyond"]][0] is None
    assert placed[ids["beyond"]][1] == (CANNEI if inside else None)
    moved = {(m["from"], m["to"]): m["n"] for m in report["site_point"]}
    assert moved[(None, f"{CANNEI}900")] == 2 and moved[(None, f"{CANNEI}901")] == 1
    assert again["site_point_moved"] == 0 and left == 0


def _random_site_points(conn: Any, township: str, n: int, seed: int) -> None:
    """n site points spread over the township (and a little beyond it), with no place yet."""
    entity = conn.execute(text(
        "INSERT INTO entity (kind, name, township_code, location) SELECT 'family_farm',"
        " '点位农场', code, ST_PointOnSurface(boundary) FROM township WHERE code = :t"
        " RETURNING id"), {"t": township}).scalar_one()
    conn.execute(text(
        "INSERT INTO site_point (client_uuid, content_hash, entity_id, geom, input_crs,"
        " input_x, input_y) SELECT gen_random_uuid(), int8send(n), :e, p, 'wgs84', ST_X(p),"
        " ST_Y(p) FROM (SELECT row_number() OVER () AS n, (ST_Dump(ST_GeneratePoints("
        " ST_Buffer(boundary, 0.002), :n, :s))).geom AS p FROM township WHERE code = :t) q"),
        {"e": entity, "n": n, "s": seed, "t": township})
    conn.execute(text("INSERT INTO site_point_place (site_point_id, geom) SELECT id, geom "
                      "FROM site_point WHERE entity_id = :e"), {"e": entity})


def _places(conn: Any) -> dict[int, tuple[int | None, str | None]]:
    return {r.site_point_id: (r.grid_id, r.township_code) for r in conn.execute(text(
        "SELECT site_point_id, grid_id, township_code FROM site_point_place"))}


def _brute_force(conn: Any) -> dict[int, tuple[int | None, str | None]]:
    """Each point's place by a lookup per point: the lowest current grid id holding it, else
    the township holding it."""
    return {r.id: (r.grid_id, r.township_code) for r in conn.execute(text(
        "SELECT sp.id, g.id AS grid_id, coalesce(g.township_code, ("
        "  SELECT t.code FROM township t WHERE ST_Intersects(t.boundary, sp.geom)"
        "  ORDER BY t.code LIMIT 1)) AS township_code "
        "FROM site_point sp LEFT JOIN LATERAL (SELECT g.id, g.township_code FROM current_grid g"
        "  WHERE ST_Intersects(g.boundary, sp.geom) ORDER BY g.id LIMIT 1) g ON true"))}


def _redraw_west_half(conn: Any, township: str) -> tuple[list[int], int]:
    """Replace the township's grids west of its centre by three strips over the same area,
    and drop one eastern grid without a replacement. Returns (closed ids, dropped id)."""
    cx = conn.execute(text("SELECT ST_X(ST_Centroid(boundary)) FROM township WHERE code = :t"),
                      {"t": township}).scalar_one()
    west = conn.execute(text(
        "UPDATE grid SET valid_to = '2023-06-01' WHERE township_code = :t AND valid_to IS NULL"
        " AND ST_X(ST_Centroid(boundary)) < :cx RETURNING id"), {"t": township, "cx": cx}
    ).scalars().all()
    dropped = conn.execute(text(
        "UPDATE grid SET valid_to = '2023-06-01' WHERE id = (SELECT id FROM grid"
        " WHERE township_code = :t AND valid_to IS NULL ORDER BY id DESC LIMIT 1) RETURNING id"),
        {"t": township}).scalar_one()
    conn.execute(text(
        "WITH u AS (SELECT ST_Union(boundary) AS b FROM grid WHERE id = ANY(:ids)),"
        " box AS (SELECT b, ST_XMin(b) AS x0, (ST_XMax(b) - ST_XMin(b)) / 3 AS w FROM u)"
        " INSERT INTO grid (code, township_code, name, boundary, valid_from)"
        " SELECT :t || '8' || lpad(i::text, 2, '0'), :t, '新网格' || i, ST_Multi("
        "   ST_CollectionExtract(ST_Intersection(b, ST_MakeEnvelope(x0 + (i - 1) * w, -90,"
        "   x0 + i * w, 90, 4326)), 3)), '2023-06-01'"
        " FROM box, generate_series(1, 3) i"), {"ids": west, "t": township})
    return west, dropped


def test_site_point_places_follow_the_grids_that_changed(engine: Engine) -> None:
    """Random points in and around 参内镇; half its grids are redrawn and one is dropped.
    Every place then equals a per-point lookup, the report counts each (old, new) pair, and
    the pass driven from the grids (as a first assignment runs) agrees."""
    with engine.begin() as conn:
        _random_site_points(conn, CANNEI, 600, seed=7)
        first = reassign.reassign(conn, ("site_point",))
        placed = _places(conn)
        assert placed == _brute_force(conn)
        assert first["site_point_moved"] == sum(1 for g, _ in placed.values() if g is not None)
        west, dropped = _redraw_west_half(conn, CANNEI)
        codes = dict(conn.execute(text("SELECT id, code FROM grid")).all())
        expected = _brute_force(conn)
        with conn.begin_nested() as from_the_grids:
            reassign.reassign(conn, ("site_point",), full=True)
            by_join = _places(conn)
            from_the_grids.rollback()
        report = reassign.reassign(conn, ("site_point",))
        after = _places(conn)
    assert after == expected == by_join
    moves: dict[tuple[str | None, str | None], int] = {}
    for point, (grid, _) in placed.items():
        if grid != after[point][0]:
            key = (codes.get(grid), codes.get(after[point][0]))
            moves[key] = moves.get(key, 0) + 1
    assert {(m["from"], m["to"]): m["n"] for m in report["site_point"]} == moves
    # the redrawn area moved to the strips, the dropped grid's points to no grid
    assert {old for old, _ in placed.values() if old in west} and all(
        after[p][0] is not None and after[p][0] not in west
        for p, (old, _) in placed.items() if old in west)
    assert all(after[p] == (None, CANNEI) for p, (old, _) in placed.items() if old == dropped)
    assert report["site_point_moved"] == sum(moves.values()) > 0


def test_an_edit_updates_the_places_of_its_grid_in_place(engine: Engine) -> None:
    """One grid split in two: its places are updated in the same table (not rebuilt), each
    as a per-point lookup says, and the report counts the moves by code; a grid given a new
    version with the same lines and code moves nothing."""
    with engine.begin() as conn:
        _random_site_points(conn, CANNEI, 600, seed=5)
        reassign.reassign(conn, ("site_point",))
        split, code, count = conn.execute(text(
            "SELECT g.id, g.code, count(*) FROM current_grid g JOIN site_point_place p "
            "ON p.grid_id = g.id GROUP BY g.id, g.code ORDER BY count(*), g.id LIMIT 1")).one()
        renewed = conn.execute(text("SELECT id FROM current_grid WHERE id <> :s ORDER BY id "
                                    "LIMIT 1"), {"s": split}).scalar_one()
        # two points of the split grid on the meridian that will divide it: one placed in
        # it (updated in place), one without a place yet (looked up one by one)
        edges = conn.execute(text(
            "WITH m AS (SELECT ST_GeometryN(ST_Intersection(boundary, ST_SetSRID(ST_MakeLine("
            "  ST_MakePoint(ST_X(ST_Centroid(boundary)), -90),"
            "  ST_MakePoint(ST_X(ST_Centroid(boundary)), 90)), 4326)), 1) AS line FROM grid"
            "  WHERE id = :s),"
            " sp AS (INSERT INTO site_point (client_uuid, content_hash, entity_id, geom,"
            "  input_crs, input_x, input_y) SELECT gen_random_uuid(), int4send(f::int), e.id,"
            "  ST_LineInterpolatePoint(m.line, f), 'wgs84', 0, 0"
            "  FROM m, (SELECT min(entity_id) AS id FROM site_point) e,"
            "  unnest(ARRAY[0.25, 0.75]) f RETURNING id, geom)"
            " INSERT INTO site_point_place (site_point_id, township_code, grid_id, geom)"
            " SELECT sp.id, left(:c, 12), CASE WHEN row_number() OVER (ORDER BY sp.id) = 1"
            "  THEN :s END, sp.geom FROM sp RETURNING site_point_id"),
            {"s": split, "c": code}).scalars().all()
        count += 1
        conn.execute(text("UPDATE grid SET valid_to = '2023-06-01' WHERE id IN (:s, :r)"),
                     {"s": split, "r": renewed})
        conn.execute(text(
            "INSERT INTO grid (code, township_code, name, boundary, valid_from) "
            "SELECT code, township_code, name, boundary, DATE '2023-06-01' FROM grid WHERE id = :r "
            "UNION ALL "
            "SELECT township_code || '98' || h, township_code, name || h, ST_Multi("
            "  ST_CollectionExtract(ST_Intersection(boundary,"
            "  ST_MakeEnvelope(x0, -90, x1, 90, 4326)), 3)),"
            "  '2023-06-01' "
            "FROM grid, LATERAL (VALUES ('1', -180, ST_X(ST_Centroid(boundary))),"
            "                           ('2', ST_X(ST_Centroid(boundary)), 180)) v(h, x0, x1) "
            "WHERE id = :s"), {"s": split, "r": renewed})
        table = conn.execute(text("SELECT 'site_point_place'::regclass::oid")).scalar_one()
        before = _places(conn)
        expected = _brute_force(conn)
        report = reassign.reassign(conn, ("site_point",))
        after = _places(conn)
        same_table = conn.execute(text("SELECT 'site_point_place'::regclass::oid")
                                  ).scalar_one() == table
        halves = [conn.execute(text(
            "SELECT array_agg(g.id ORDER BY g.id) FROM current_grid g JOIN site_point sp "
            "ON ST_Intersects(g.boundary, sp.geom) WHERE sp.id = :p"), {"p": e}).scalar_one()
            for e in edges]
    assert same_table and count <= len(after) // 5
    assert [len(h) for h in halves] == [2, 2] and halves[0] == halves[1]
    assert [after[e][0] for e in edges] == [halves[0][0]] * 2
    assert after == expected
    moved = {p for p in after if after[p][0] != before[p][0]}
    assert {split, None} <= {before[p][0] for p in moved} <= {split, renewed, None}
    halves_codes = {code[:12] + "981", code[:12] + "982"}
    from_split = [m for m in report["site_point"] if m["from"] == code]
    assert {m["to"] for m in from_split} <= halves_codes
    assert sum(m["n"] for m in from_split) == count
    # the unplaced edge point is the one move from no grid; the re-versioned grid moves none
    assert [m for m in report["site_point"] if m not in from_split] == [
        {"from": None, "to": min(halves_codes), "n": 1}]
    assert report["site_point_moved"] == count + 1 == len(moved) - sum(
        1 for p in moved if before[p][0] == renewed)


def test_places_in_unchanged_grids_stay_unless_recomputed_in_full(engine: Engine) -> None:
    with engine.begin() as conn:
        _random_site_points(conn, CANNEI, 50, seed=3)
        reassign.reassign(conn, ("site_point",))
        # a wrong place in a grid that is still current: a normal pass does not look at it
        point, grid = conn.execute(text(
            "SELECT site_point_id, grid_id FROM site_point_place WHERE grid_id IS NOT NULL "
            "ORDER BY site_point_id LIMIT 1")).one()
        other = conn.execute(text("SELECT min(id) FROM current_grid WHERE id <> :g"),
                             {"g": grid}).scalar_one()
        conn.execute(text("UPDATE site_point_place SET grid_id = :o WHERE site_point_id = :p"),
                     {"o": other, "p": point})
        normal = reassign.reassign(conn, ("site_point",))
        kept = _places(conn)[point][0]
        full = reassign.reassign(conn, ("site_point",), full=True)
        repaired = _places(conn)[point][0]
        codes = dict(conn.execute(text("SELECT id, code FROM grid")).all())
    assert normal["site_point_moved"] == 0 and kept == other
    assert full["site_point"] == [{"from": codes[other], "to": codes[grid], "n": 1}]
    assert repaired == grid
