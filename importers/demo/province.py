"""The fictitious province (division codes 99…): ~1,100 townships around the real counties.

Township centres on a jittered lattice clear of the real townships, grouped into counties and
cities by k-means, numbered north-west first; their boundaries and grids are drawn like Anxi's.
"""

from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import Connection, text

from importers.demo.geography import _place_names
from importers.demo.grids import draw_township_boundaries, generate_grids
from importers.demo.parameters import GRIDS_VALID_FROM, PROVINCE_BOX, PROVINCE_PREFIX


def _kmeans(xy: np.ndarray, k: int, rng: np.random.Generator, rounds: int = 25) -> np.ndarray:
    k = max(1, min(k, len(xy)))
    centres = xy[rng.choice(len(xy), k, replace=False)].copy()
    label = np.zeros(len(xy), dtype=np.int64)
    for _ in range(rounds):
        label = ((xy[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
        count = np.bincount(label, minlength=k)
        for axis in (0, 1):
            total = np.bincount(label, weights=xy[:, axis], minlength=k)
            centres[:, axis] = np.where(count > 0, total / np.maximum(count, 1), centres[:, axis])
    return label


def _north_west_first(xy: np.ndarray) -> np.ndarray:
    return np.lexsort((xy[:, 0], -np.round(xy[:, 1], 1)))


def _create_province(conn: Connection, n_townships: int, seed: int,
                     rng: np.random.Generator) -> list[str]:
    """~1,100 demo townships of a fictitious province around the real counties, and grids."""
    hole_wkb = conn.execute(text(
        "SELECT ST_AsBinary(ST_Union(boundary)) FROM township "
        "WHERE boundary IS NOT NULL AND code NOT LIKE :p"), {"p": PROVINCE_PREFIX + "%"}).scalar()
    outline = shapely.box(*PROVINCE_BOX)
    if hole_wkb is not None:  # keep clear of the real townships (Anxi lies inside the box)
        outline = shapely.make_valid(outline.difference(shapely.from_wkb(bytes(hole_wkb))))
    # Jittered lattice: cells of even size, unlike plain random points.
    side = int(np.ceil(np.sqrt(n_townships * 1.2 * shapely.area(shapely.box(*PROVINCE_BOX))
                               / shapely.area(outline))))
    x0, y0, x1, y1 = PROVINCE_BOX
    i, j = np.meshgrid(np.arange(side), np.arange(side))
    cx = x0 + (i.ravel() + rng.uniform(0.15, 0.85, side * side)) * (x1 - x0) / side
    cy = y0 + (j.ravel() + rng.uniform(0.15, 0.85, side * side)) * (y1 - y0) / side
    shapely.prepare(outline)
    inside = np.flatnonzero(shapely.contains_xy(outline, cx, cy))
    chosen = np.sort(rng.permutation(inside)[:n_townships])
    xy = np.stack([cx[chosen], cy[chosen]], axis=1)

    county = _kmeans(xy, max(1, round(len(xy) / 13)), rng)
    county_xy = np.array([xy[county == c].mean(0) for c in range(county.max() + 1)])
    city = _kmeans(county_xy, max(1, round(len(county_xy) / 9.3)), rng)
    city_order = _north_west_first(
        np.array([county_xy[city == c].mean(0) for c in range(city.max() + 1)]))
    rows = []
    county_number = 0
    for rank, c in enumerate(city_order.tolist()):
        counties = np.flatnonzero(city == c)
        for k, cnt in enumerate(counties[_north_west_first(county_xy[counties])].tolist()):
            county_number += 1
            members = np.flatnonzero(county == cnt)
            names = _place_names(rng, len(members), "")
            for n, t in enumerate(members[_north_west_first(xy[members])].tolist()):
                suffix = "乡" if rng.random() < 0.3 else "镇"
                rows.append({"code": f"{PROVINCE_PREFIX}{rank + 1:02d}{k + 1:02d}"
                                     f"{100 + n:03d}000",
                             "name": f"示范县{county_number}·{names[n]}{suffix}",
                             "lon": float(xy[t, 0]), "lat": float(xy[t, 1]),
                             "population": int(rng.integers(15_000, 90_000))})
    conn.execute(text(
        "INSERT INTO township (code, name, centre, population, boundary_source) "
        "VALUES (:code, :name, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :population, 'demo')"),
        rows)
    codes = [r["code"] for r in rows]
    draw_township_boundaries(conn, codes=codes, outline_wkb=shapely.to_wkb(outline))
    # One township per call: generate_grids' k-means gets its points in an order that, over
    # many townships, follows where the township rows happen to lie on disk (which changes
    # after a previous run); for a single township it is always the same, and so are the grids.
    for code in codes:
        generate_grids(conn, codes=[code], seed=seed, valid_from=GRIDS_VALID_FROM)
    return codes
