"""Where: plots around their owner's home, quadrilaterals inside one grid, and main sites."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from importers.demo.entities import Entities
from importers.demo.geography import Geography, _grid_at, _metres_to_degrees, _sample_in_grids
from importers.demo.parameters import CROPS, SMALLHOLDER, SPREAD_M, SQ_M_PER_MU


@dataclass
class Plots:
    owner: np.ndarray  # entity index
    crop: np.ndarray
    x: np.ndarray
    y: np.ndarray
    geom: np.ndarray  # shapely
    area_mu: np.ndarray  # declared for point plots, NaN for polygons (the database computes it)
    number: np.ndarray  # 1-based within the owner

    def __len__(self) -> int:
        return len(self.owner)


def _draw_plots(geo: Geography, ent: Entities, rng: np.random.Generator) -> Plots:
    owner = np.repeat(np.arange(len(ent)), ent.n_plots)
    m = len(owner)
    first = np.concatenate([[0], np.cumsum(ent.n_plots)[:-1]])
    number = np.arange(m) - np.repeat(first, ent.n_plots) + 1
    # Mostly the owner's main commodity, sometimes a side line.
    side_p = np.array([c.smallholder_weight for c in CROPS])
    crop = np.where(rng.random(m) < 0.8, ent.crop[owner],
                    rng.choice(len(CROPS), m, p=side_p / side_p.sum()))
    point = np.array([c.point for c in CROPS])[crop]
    smallholder = ent.kind[owner] == SMALLHOLDER
    lo = np.array([[c.producer_mu[0], c.smallholder_mu[0]] for c in CROPS])[crop, smallholder * 1]
    hi = np.array([[c.producer_mu[1], c.smallholder_mu[1]] for c in CROPS])[crop, smallholder * 1]
    area = np.round(np.exp(np.log(lo) + rng.random(m) * (np.log(hi) - np.log(lo))), 2)

    x, y, grid = _place_near_home(geo, ent, owner, number, rng)
    polygon = np.flatnonzero(~point)
    px, py = x[polygon], y[polygon]
    quads, kept = _quads_within(geo, px, py, area[polygon], grid[polygon], rng)
    x[polygon], y[polygon] = px, py
    geom = shapely.points(x, y)
    geom[polygon[kept]] = quads[kept]
    area_mu = area.astype(float)
    area_mu[polygon[kept]] = np.nan
    return Plots(owner=owner, crop=crop, x=x, y=y, geom=geom, area_mu=area_mu, number=number)


def _place_near_home(geo: Geography, ent: Entities, owner: np.ndarray, number: np.ndarray,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plot centres scattered around the owner's home, each inside a grid of its township."""
    x, y = ent.home_x[owner].copy(), ent.home_y[owner].copy()
    grid = ent.home_grid[owner].copy()
    sigma = np.array(SPREAD_M)[ent.kind[owner]]
    todo = np.flatnonzero(number > 1)  # the first plot is at the home itself
    for _ in range(8):
        if not len(todo):
            break
        dx, dy = _metres_to_degrees(rng.normal(0, sigma[todo]), rng.normal(0, sigma[todo]),
                                    y[todo])
        cx, cy = ent.home_x[owner[todo]] + dx, ent.home_y[owner[todo]] + dy
        g = _grid_at(geo, cx, cy)
        ok = g >= 0
        ok[ok] = geo.grid_town[g[ok]] == ent.town[owner[todo[ok]]]
        x[todo[ok]], y[todo[ok]], grid[todo[ok]] = cx[ok], cy[ok], g[ok]
        todo = todo[~ok]
        sigma[todo] *= 0.6
    return x, y, grid  # plots still in `todo` stay at the home


def _quads_within(geo: Geography, x: np.ndarray, y: np.ndarray, area_mu: np.ndarray,
                  grid: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rotated, slightly irregular quadrilaterals of the given area around each centre.

    One that leaves its grid is tried smaller, then moved elsewhere in the grid (x, y are
    updated in place); the few that still do not fit stay points with a declared area.
    """
    n = len(x)
    aspect = rng.uniform(1.0, 2.5, n)
    width = np.sqrt(area_mu * SQ_M_PER_MU * aspect)
    height = area_mu * SQ_M_PER_MU / width
    angle = rng.uniform(0, np.pi, n)
    unit = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    local = (unit + rng.uniform(-0.08, 0.08, (n, 4, 2))) * np.stack([width, height], 1)[:, None]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    ex = local[..., 0] * cos - local[..., 1] * sin
    ny = local[..., 0] * sin + local[..., 1] * cos
    quads = np.empty(n, dtype=object)
    kept = np.zeros(n, dtype=bool)
    todo = np.arange(n)
    for scale, move in ((1.0, False), (0.7, False), (1.0, True), (1.0, True), (0.5, True)):
        if move:
            x[todo], y[todo] = _sample_in_grids(geo, grid[todo], rng)
        dx, dy = _metres_to_degrees(ex[todo] * scale, ny[todo] * scale, y[todo, None])
        ring = np.stack([x[todo, None] + dx, y[todo, None] + dy], axis=-1)
        candidates = shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))
        inside = shapely.contains(geo.grid_geoms[grid[todo]], candidates)
        quads[todo[inside]] = candidates[inside]
        kept[todo[inside]] = True
        todo = todo[~inside]
    return quads, kept


def _locations(geo: Geography, ent: Entities, plots: Plots,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Main site: a little off the first plot, inside the township (else on the plot)."""
    lx, ly = ent.home_x.copy(), ent.home_y.copy()
    has = np.flatnonzero(ent.n_plots > 0)
    first = np.concatenate([[0], np.cumsum(ent.n_plots)[:-1]])[has]
    px, py = plots.x[first], plots.y[first]
    dx, dy = _metres_to_degrees(rng.normal(0, 80, len(has)), rng.normal(0, 80, len(has)), py)
    g = _grid_at(geo, px + dx, py + dy)
    ok = g >= 0
    ok[ok] = geo.grid_town[g[ok]] == ent.town[has[ok]]
    lx[has], ly[has] = np.where(ok, px + dx, px), np.where(ok, py + dy, py)
    return lx, ly
