"""Where the demo may put things: the townships and current grids in scope, and points in them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
from sqlalchemy import Connection, text

from importers.demo.parameters import (
    COUNTY_LABELS,
    M_PER_DEG_LAT,
    M_PER_DEG_LON_EQUATOR,
    PLACE_HEAD,
    PLACE_TAIL,
    PROVINCE_PREFIX,
    SHRINK_DEG,
    VILLAGES_PER_TOWNSHIP,
)


@dataclass
class Geography:
    """Townships and their current grids in scope, fetched once as WKB."""

    codes: list[str]
    county_labels: list[str]  # 安溪县 / 示范县12: prefix of enterprise names and addresses
    short_names: list[str]  # 西坪镇 / 青山镇
    areas: np.ndarray  # m2
    province_part: np.ndarray  # bool: a township of the fictitious province
    grid_ids: np.ndarray
    grid_town: np.ndarray  # township index of each grid
    grid_geoms: np.ndarray  # shrunk a little, prepared
    grid_areas: np.ndarray
    villages: list[list[str]]

    @cached_property
    def tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.grid_geoms)


def _load_geography(conn: Connection, codes: list[str], rng: np.random.Generator) -> Geography:
    towns = conn.execute(text(
        "SELECT code, name, county_code, ST_Area(boundary::geography) AS area FROM township "
        "WHERE code = ANY(:codes) AND boundary IS NOT NULL ORDER BY code"),
        {"codes": codes}).all()
    if len(towns) < len(set(codes)):
        raise RuntimeError(f"有 {len(set(codes)) - len(towns)} 个乡镇没有边界，无法生成演示数据")
    index = {t.code: i for i, t in enumerate(towns)}
    grids = conn.execute(text(
        "SELECT id, township_code, ST_AsBinary(boundary) AS wkb, "
        "ST_Area(boundary::geography) AS area FROM current_grid "
        "WHERE township_code = ANY(:codes) ORDER BY township_code, code"), {"codes": codes}).all()
    grid_town = np.array([index[g.township_code] for g in grids], dtype=np.int64)
    missing = set(range(len(towns))) - set(grid_town.tolist())
    if missing:
        raise RuntimeError("以下乡镇没有现行网格，无法生成演示数据：" +
                           "、".join(towns[i].name for i in sorted(missing)))
    geoms = shapely.from_wkb([bytes(g.wkb) for g in grids])
    # A plot well inside a grid is inside it for PostGIS too, whatever the float noise on
    # the grid's edges (they are intersections with the township boundary).
    geoms = shapely.buffer(geoms, -SHRINK_DEG, quad_segs=2, join_style="mitre")
    shapely.prepare(geoms)
    areas = np.array([g.area for g in grids])
    areas[shapely.is_empty(geoms)] = 0.0  # a sliver gone in the shrink never hosts a home
    labels, shorts = [], []
    for t in towns:
        county, _, short = t.name.rpartition("·")
        labels.append(county or COUNTY_LABELS.get(t.county_code, ""))
        shorts.append(short)
    return Geography(
        codes=[t.code for t in towns], county_labels=labels,
        short_names=shorts, areas=np.array([t.area for t in towns]),
        province_part=np.array([t.code.startswith(PROVINCE_PREFIX) for t in towns]),
        grid_ids=np.array([g.id for g in grids], dtype=np.int64), grid_town=grid_town,
        grid_geoms=geoms, grid_areas=areas,
        villages=[_place_names(rng, VILLAGES_PER_TOWNSHIP, "村") for _ in towns])


def _place_names(rng: np.random.Generator, n: int, suffix: str) -> list[str]:
    picks = rng.choice(len(PLACE_HEAD) * len(PLACE_TAIL), n, replace=False)
    return [PLACE_HEAD[p // len(PLACE_TAIL)] + PLACE_TAIL[p % len(PLACE_TAIL)] + suffix
            for p in picks.tolist()]


def _sample_in_grids(geo: Geography, grid: np.ndarray,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random points inside the given grids: rejection sampling in each bounding box."""
    xs, ys = np.empty(len(grid)), np.empty(len(grid))
    order = np.argsort(grid, kind="stable")
    bounds = np.searchsorted(grid[order], np.arange(len(geo.grid_ids) + 1))
    for g in np.flatnonzero(np.diff(bounds)).tolist():
        slots = order[bounds[g]:bounds[g + 1]]
        poly = geo.grid_geoms[g]
        x0, y0, x1, y1 = shapely.bounds(poly)
        fill = max(shapely.area(poly) / max((x1 - x0) * (y1 - y0), 1e-12), 0.05)
        got_x: list[np.ndarray] = []
        got_y: list[np.ndarray] = []
        need = len(slots)
        for _ in range(1_000):
            if need == 0:
                break
            m = int(need / fill * 1.3) + 16
            cx, cy = rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)
            inside = shapely.contains_xy(poly, cx, cy)
            got_x.append(cx[inside][:need])
            got_y.append(cy[inside][:need])
            need -= int(min(inside.sum(), need))
        else:
            raise RuntimeError(f"网格 {geo.grid_ids[g]} 过于狭小，无法放置演示主体")
        xs[slots], ys[slots] = np.concatenate(got_x), np.concatenate(got_y)
    return xs, ys


def _grid_at(geo: Geography, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the (shrunk) grid containing each point, -1 where none."""
    found = np.full(len(x), -1, dtype=np.int64)
    hit, grid = geo.tree.query(shapely.points(x, y), predicate="within")
    found[hit] = grid
    return found


def _metres_to_degrees(dx: np.ndarray, dy: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, ...]:
    return dx / (M_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat))), dy / M_PER_DEG_LAT
