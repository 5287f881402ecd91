"""Who: how many entities of each kind per township, their main commodity, plots and home."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, text

from importers.demo.geography import Geography, _sample_in_grids
from importers.demo.parameters import (
    BUYER,
    BUYER_CROPS,
    COUNTY_PLOTS,
    COUNTY_SMALLHOLDERS,
    CROP_INDEX,
    CROPS,
    KINDS,
    PLAN_YEAR,
    PRODUCER_MIX,
    PROVINCE_KIND_MIX,
    SMALLHOLDER_PLOTS_P,
)


@dataclass
class Entities:
    town: np.ndarray
    kind: np.ndarray
    crop: np.ndarray  # main commodity
    n_plots: np.ndarray
    home_grid: np.ndarray
    home_x: np.ndarray
    home_y: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)


def _county_counts(conn: Connection, geo: Geography,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Anxi: exactly the plan's producers per township (less any registered ones)."""
    plan = dict(conn.execute(text(
        "SELECT unit, target FROM plan_target WHERE year = :y AND metric = 'producers' "
        "AND unit = ANY(:codes)"), {"y": PLAN_YEAR, "codes": geo.codes}).all())
    registered = dict(conn.execute(text(
        "SELECT township_code, count(*) FROM entity WHERE is_producer AND origin <> 'demo' "
        "AND township_code = ANY(:codes) GROUP BY 1"), {"codes": geo.codes}).all())
    county = np.flatnonzero(~geo.province_part)
    producers = np.array([max(0, plan.get(geo.codes[t], 0) - registered.get(geo.codes[t], 0))
                          for t in county])
    # Smallholders follow both land (area) and farming activity (producers).
    weight = 0.5 * geo.areas[county] / geo.areas[county].sum()
    weight += 0.5 * producers / max(producers.sum(), 1)
    smallholders = rng.multinomial(COUNTY_SMALLHOLDERS, weight / weight.sum())
    towns, kinds = [], []
    for t, p, s in zip(county.tolist(), producers.tolist(), smallholders.tolist(), strict=True):
        split = rng.multinomial(p, PRODUCER_MIX).tolist()
        split += [int(rng.integers(2, 5)), s]
        for kind, n in enumerate(split):
            towns.append(np.full(n, t))
            kinds.append(np.full(n, kind))
    return np.concatenate(towns), np.concatenate(kinds)


def _province_counts(geo: Geography, n: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    province = np.flatnonzero(geo.province_part)
    if n <= 0 or not len(province):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    weight = geo.areas[province] * rng.lognormal(0.0, 0.35, len(province))
    return (rng.choice(province, n, p=weight / weight.sum()),
            rng.choice(len(KINDS), n, p=PROVINCE_KIND_MIX))


def _draw_entities(geo: Geography, town: np.ndarray, kind: np.ndarray,
                   rng: np.random.Generator) -> Entities:
    order = np.lexsort((kind, town))  # township by township: spatial locality for PostGIS
    town, kind = town[order], kind[order]
    n = len(kind)
    producer_p = np.array([c.producer_weight for c in CROPS])
    smallholder_p = np.array([c.smallholder_weight for c in CROPS])
    crop = np.where(kind < BUYER, rng.choice(len(CROPS), n, p=producer_p / producer_p.sum()),
                    rng.choice(len(CROPS), n, p=smallholder_p / smallholder_p.sum()))
    buyer_crops = [CROP_INDEX[s] for s in BUYER_CROPS]
    crop = np.where(kind == BUYER, rng.choice(buyer_crops, n, p=list(BUYER_CROPS.values())),
                    crop)

    county_plots = rng.choice(np.arange(1, 5), n, p=SMALLHOLDER_PLOTS_P)
    u = rng.random(n)
    for k, (lo, hi) in COUNTY_PLOTS.items():
        log_uniform = np.rint(np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))))
        county_plots = np.where(kind == k, log_uniform, county_plots)
    n_plots = np.where(geo.province_part[town], rng.integers(1, 4, n), county_plots)
    n_plots = np.where(kind == BUYER, 0, n_plots).astype(np.int64)

    # Home grid: area-weighted among the township's grids (grids are sorted by township).
    cum = np.cumsum(geo.grid_areas)
    before = np.concatenate([[0.0], cum])[np.searchsorted(geo.grid_town, np.arange(len(geo.codes)))]
    town_area = np.bincount(geo.grid_town, weights=geo.grid_areas, minlength=len(geo.codes))
    target = before[town] + rng.random(n) * town_area[town]
    home_grid = np.minimum(np.searchsorted(cum, target, side="right"), len(cum) - 1)
    # Float rounding at a township's last grid must not step into the next township.
    home_grid = np.where(geo.grid_town[home_grid] == town, home_grid,
                         np.searchsorted(geo.grid_town, town, side="right") - 1)
    home_x, home_y = _sample_in_grids(geo, home_grid, rng)
    return Entities(town=town, kind=kind, crop=crop, n_plots=n_plots, home_grid=home_grid,
                    home_x=home_x, home_y=home_y)
