"""Tests for georeg.coords.

Published reference values (all reproduced to the digits printed):
- googollee/eviltransform go/transform_test.go and python/test.py: three WGS84 -> GCJ-02
  pairs (Shanghai, Shenzhen, Beijing), given as (lat, lng); reordered to (lon, lat) here.
- wandergis/coordtransform README.md: wgs84togcj02, gcj02tobd09, bd09togcj02 and
  gcj02towgs84 applied to (116.404, 39.915). The last two are that library's one-step
  inverses, so they are compared with our one-step helpers, not the iterated inverses.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from georeg.coords import (
    _bd09_to_gcj02_one_step,
    _gcj02_to_wgs84_one_step,
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert_geojson_geometry,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance in metres between two (lon, lat) points."""
    r = 6371008.8
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dphi, dlam = p2 - p1, math.radians(b[0] - a[0])
    h = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlam / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


# (wgs lon, wgs lat, gcj lon, gcj lat) from googollee/eviltransform.
EVILTRANSFORM = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),  # Shanghai
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),  # Shenzhen
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),  # Beijing
]

# Anxi county (117.6-118.4 E, 24.8-25.5 N) on a 5 x 5 grid, plus points across China.
ANXI = [(117.6 + 0.2 * i, 24.8 + 0.175 * j) for i in range(5) for j in range(5)]
CHINA = [
    (118.186, 25.055),  # Anxi county seat
    (116.404, 39.915),  # Beijing
    (121.4737, 31.2304),  # Shanghai
    (87.6168, 43.8256),  # Urumqi
    (91.1409, 29.6456),  # Lhasa
    (126.6424, 45.7567),  # Harbin
    (110.3312, 20.0311),  # Haikou
    (109.5119, 18.2528),  # Sanya
    (102.7123, 25.0406),  # Kunming
    (134.0, 48.3),  # far north-east
    (73.5, 39.4),  # far west
]
POINTS = ANXI + CHINA


@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), EVILTRANSFORM)
def test_eviltransform_forward(wlon: float, wlat: float, glon: float, glat: float) -> None:
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert lon == pytest.approx(glon, abs=1e-12)
    assert lat == pytest.approx(glat, abs=1e-12)


@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), EVILTRANSFORM)
def test_eviltransform_inverse(wlon: float, wlat: float, glon: float, glat: float) -> None:
    lon, lat = gcj02_to_wgs84(glon, glat)
    # eviltransform's own exact inverse only promises 0.5 m; ours recovers the input.
    assert lon == pytest.approx(wlon, abs=1e-9)
    assert lat == pytest.approx(wlat, abs=1e-9)


def test_wandergis_readme_values() -> None:
    assert wgs84_to_gcj02(116.404, 39.915) == pytest.approx(
        (116.41024449916938, 39.91640428150164), abs=1e-12
    )
    assert gcj02_to_bd09(116.404, 39.915) == pytest.approx(
        (116.41036949371029, 39.92133699351021), abs=1e-12
    )
    assert _bd09_to_gcj02_one_step(116.404, 39.915) == pytest.approx(
        (116.39762729119315, 39.90865673957631), abs=1e-12
    )
    assert _gcj02_to_wgs84_one_step(116.404, 39.915) == pytest.approx(
        (116.39775550083061, 39.91359571849836), abs=1e-12
    )


def test_wandergis_inverses_are_refined() -> None:
    published_bd = (116.39762729119315, 39.90865673957631)
    published_gcj = (116.39775550083061, 39.91359571849836)
    bd_inv = bd09_to_gcj02(116.404, 39.915)
    gcj_inv = gcj02_to_wgs84(116.404, 39.915)
    # Close to the published one-step answers, but the forward image now hits the input.
    assert 0 < distance_m(bd_inv, published_bd) < 0.2
    assert 0 < distance_m(gcj_inv, published_gcj) < 1.0
    assert distance_m(gcj02_to_bd09(*bd_inv), (116.404, 39.915)) < 1e-3
    assert distance_m(wgs84_to_gcj02(*gcj_inv), (116.404, 39.915)) < 1e-3


@pytest.mark.parametrize("point", POINTS)
def test_round_trips(point: tuple[float, float]) -> None:
    lon, lat = point
    for forward, inverse in (
        (wgs84_to_gcj02, gcj02_to_wgs84),
        (gcj02_to_bd09, bd09_to_gcj02),
        (wgs84_to_bd09, bd09_to_wgs84),
    ):
        converted = forward(lon, lat)
        assert converted != point  # an offset was really applied
        back = inverse(*converted)
        assert abs(back[0] - lon) < 1e-8
        assert abs(back[1] - lat) < 1e-8
        # Inverse then forward also lands on the starting point.
        again = forward(*inverse(lon, lat))
        assert abs(again[0] - lon) < 1e-8
        assert abs(again[1] - lat) < 1e-8


@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), EVILTRANSFORM[:1])
def test_one_step_inverse_is_worse(wlon: float, wlat: float, glon: float, glat: float) -> None:
    truth = (wlon, wlat)
    assert distance_m(_gcj02_to_wgs84_one_step(glon, glat), truth) > 0.5
    assert distance_m(gcj02_to_wgs84(glon, glat), truth) < 0.01


def test_one_step_inverse_is_worse_in_anxi() -> None:
    truth = (118.186, 25.055)  # Anxi county seat
    gcj = wgs84_to_gcj02(*truth)
    assert distance_m(_gcj02_to_wgs84_one_step(*gcj), truth) > 0.5
    assert distance_m(gcj02_to_wgs84(*gcj), truth) < 0.01
    bd = wgs84_to_bd09(*truth)
    one_step = _gcj02_to_wgs84_one_step(*_bd09_to_gcj02_one_step(*bd))
    assert distance_m(one_step, truth) > 0.5
    assert distance_m(bd09_to_wgs84(*bd), truth) < 0.01


def test_offsets_have_expected_size() -> None:
    # GCJ-02 shifts by hundreds of metres; BD-09 adds roughly another kilometre.
    p = (118.186, 25.055)
    assert 100 < distance_m(p, wgs84_to_gcj02(*p)) < 1000
    assert 300 < distance_m(wgs84_to_gcj02(*p), wgs84_to_bd09(*p)) < 1500


OUTSIDE = [
    (139.6917, 35.6895),  # Tokyo
    (-0.1276, 51.5072),  # London
    (-74.006, 40.7128),  # New York
    (151.2093, -33.8688),  # Sydney
    (100.0, 0.5),  # south of the box
    (120.0, 56.0),  # north of the box
]


@pytest.mark.parametrize("point", OUTSIDE)
def test_outside_china_unchanged(point: tuple[float, float]) -> None:
    assert out_of_china(*point)
    for fn in (
        wgs84_to_gcj02,
        gcj02_to_wgs84,
        gcj02_to_bd09,
        bd09_to_gcj02,
        wgs84_to_bd09,
        bd09_to_wgs84,
    ):
        assert fn(*point) == point


def test_inside_china_box() -> None:
    for point in POINTS:
        assert not out_of_china(*point)


# --- GeoJSON --------------------------------------------------------------------


def _shift(lon: float, lat: float) -> tuple[float, float]:
    return lon + 1.0, lat + 2.0


RING = [[118.0, 25.0], [118.1, 25.0], [118.1, 25.1], [118.0, 25.0]]
RING_SHIFTED = [[119.0, 27.0], [119.1, 27.0], [119.1, 27.1], [119.0, 27.0]]


@pytest.mark.parametrize(
    ("geometry", "expected_coords"),
    [
        ({"type": "Point", "coordinates": [118.0, 25.0]}, [119.0, 27.0]),
        (
            {"type": "MultiPoint", "coordinates": [[118.0, 25.0], [118.5, 25.5]]},
            [[119.0, 27.0], [119.5, 27.5]],
        ),
        ({"type": "LineString", "coordinates": RING[:2]}, RING_SHIFTED[:2]),
        (
            {"type": "MultiLineString", "coordinates": [RING[:2], RING[2:]]},
            [RING_SHIFTED[:2], RING_SHIFTED[2:]],
        ),
        ({"type": "Polygon", "coordinates": [RING, RING]}, [RING_SHIFTED, RING_SHIFTED]),
        (
            {"type": "MultiPolygon", "coordinates": [[RING], [RING, RING]]},
            [[RING_SHIFTED], [RING_SHIFTED, RING_SHIFTED]],
        ),
    ],
)
def test_convert_geojson_types(geometry: dict[str, Any], expected_coords: list[Any]) -> None:
    original = copy.deepcopy(geometry)
    result = convert_geojson_geometry(geometry, _shift)
    assert result["type"] == geometry["type"]
    assert _nested_approx(result["coordinates"], expected_coords)
    assert geometry == original  # input untouched
    assert result is not geometry


def _nested_approx(got: object, want: object) -> bool:
    # pytest.approx does not recurse into nested lists.
    if isinstance(want, list) and want and isinstance(want[0], list):
        assert isinstance(got, list) and len(got) == len(want)
        return all(_nested_approx(g, w) for g, w in zip(got, want, strict=True))
    assert got == pytest.approx(want)
    return True


def test_convert_geojson_collection_and_extras() -> None:
    geometry = {
        "type": "GeometryCollection",
        "geometries": [
            {"type": "Point", "coordinates": [118.0, 25.0, 350.5]},
            {
                "type": "GeometryCollection",
                "geometries": [{"type": "LineString", "coordinates": RING[:2]}],
            },
        ],
        "bbox": [118.0, 25.0, 118.1, 25.1],
    }
    original = copy.deepcopy(geometry)
    result = convert_geojson_geometry(geometry, _shift)
    assert geometry == original
    assert "bbox" not in result  # stale after conversion
    point = result["geometries"][0]
    assert point["coordinates"][2] == 350.5  # altitude kept
    assert point["coordinates"][:2] == pytest.approx([119.0, 27.0])
    inner = result["geometries"][1]["geometries"][0]
    assert _nested_approx(inner["coordinates"], RING_SHIFTED[:2])


def test_convert_geojson_with_real_transform() -> None:
    polygon = {"type": "Polygon", "coordinates": [[list(p) for p in ANXI[:3]] + [list(ANXI[0])]]}
    gcj = convert_geojson_geometry(polygon, wgs84_to_gcj02)
    back = convert_geojson_geometry(gcj, gcj02_to_wgs84)
    for got, want in zip(back["coordinates"][0], polygon["coordinates"][0], strict=True):
        assert got == pytest.approx(want, abs=1e-8)
    assert gcj["coordinates"][0][0] == list(wgs84_to_gcj02(*ANXI[0]))


def test_convert_geojson_unknown_type() -> None:
    with pytest.raises(ValueError):
        convert_geojson_geometry({"type": "Circle", "coordinates": [0, 0]}, _shift)


def test_array_functions_match_the_scalar_ones_point_by_point() -> None:
    import numpy as np

    from georeg import coords

    rng = np.random.default_rng(7)
    lon = np.concatenate([rng.uniform(73, 135, 300), [0.0, -70.0, 151.2]])
    lat = np.concatenate([rng.uniform(18, 53, 300), [0.0, -33.9, -33.9]])
    for name in ("gcj02_to_wgs84", "bd09_to_wgs84", "wgs84_to_gcj02", "bd09_to_gcj02"):
        xs, ys = getattr(coords, f"{name}_array")(lon, lat)
        scalar = getattr(coords, name)
        expected = np.array([scalar(x, y) for x, y in zip(lon, lat, strict=True)])
        # both stop within 1e-9 degrees of the true inverse (sub-millimetre)
        assert np.allclose(xs, expected[:, 0], atol=2e-9, rtol=0)
        assert np.allclose(ys, expected[:, 1], atol=2e-9, rtol=0)
    # outside China: unchanged
    xs, ys = coords.gcj02_to_wgs84_array(lon[-3:], lat[-3:])
    assert (xs == lon[-3:]).all() and (ys == lat[-3:]).all()
