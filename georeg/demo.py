"""Reproducible demo data: producers, buyers, smallholders, their plots and grid staff.

County scale fills Anxi to its 2023 plan: the producers per township are read from
`plan_target`, so the figures the system must reproduce come out of entity rows. Province scale
adds a fictitious province (division codes 99…, demo boundaries around Anxi) with about a
million entities, to exercise the load path at the size SPEC.md names.

Everything is drawn from numpy's `default_rng(seed)` and from PostGIS functions given the seed.
A run first deletes the previous demo rows (`entity.origin = 'demo'`, their plots, the fictitious
province) in the same transaction, so it can be repeated; registry rows are never touched.
Personal numbers exist only in memory here: the database gets keyed hashes, ciphertexts and
masked forms (georeg.pii), as the schema asks.

Load path (PERFORMANCE.md), measured at a million entities and two million plots: numpy and
shapely generate everything vectorised; psycopg 3 binary COPY (geometry as EWKB) fills temporary
staging tables; with the row triggers disabled, one INSERT ... SELECT per table then does their
work set-based (grid assignment, polygon area, the township check, the last by comparing row
counts). An UPDATE after a COPY into the real tables took 3x longer and left a dead copy of every
row behind. At province scale the secondary indexes, unique constraints and foreign keys are
dropped for the load and rebuilt from their catalog definitions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from georeg.ids import USCC_ALPHABET, resident_id_check_char, uscc_check_char
from georeg.pii import PiiCipher, mask_phone, mask_resident_id
from grids.demo import draw_township_boundaries, generate_grids

__all__ = ["KIND_LABELS", "PROVINCE_PREFIX", "generate"]

Progress = Callable[[str], AbstractContextManager[Any]]

PLAN_YEAR = 2023
GRIDS_VALID_FROM = f"{PLAN_YEAR}-01-01"
PROVINCE_PREFIX = "99"  # not a real province: GB/T 2260 has no 99
PROVINCE_BOX = (116.0, 24.0, 120.0, 28.0)  # Fujian-sized, lon/lat
COUNTY_LABELS = {"350524": "安溪县"}
COUNTY_SMALLHOLDERS = 4_000

KINDS = ("enterprise", "cooperative", "family_farm", "large_grower", "buyer", "smallholder")
ENTERPRISE, COOPERATIVE, FAMILY_FARM, LARGE_GROWER, BUYER, SMALLHOLDER = range(6)
KIND_LABELS = {"enterprise": "企业", "cooperative": "合作社", "family_farm": "家庭农场",
               "large_grower": "种养大户", "buyer": "收购商", "smallholder": "农户"}
# Tea co-operatives dominate Anxi's registered producers.
PRODUCER_MIX = (0.18, 0.37, 0.25, 0.20)
# Province: about 14 % producers, 1 % buyers, the rest smallholders (Anxi: 665 to ~4,000).
PROVINCE_KIND_MIX = (0.02, 0.045, 0.035, 0.04, 0.01, 0.85)
# USCC registration authority + organisation category (GB 32100: 91 company, 92 individual
# business, 93 farmers' co-operative).
USCC_PREFIX = {ENTERPRISE: "91", COOPERATIVE: "93", FAMILY_FARM: "92", LARGE_GROWER: "92",
               BUYER: "92"}
# Plots per producer for the county: log-uniform within these bounds; smallholders 1-4.
COUNTY_PLOTS = {ENTERPRISE: (8, 60), COOPERATIVE: (5, 45), FAMILY_FARM: (3, 15),
                LARGE_GROWER: (4, 20)}
SMALLHOLDER_PLOTS_P = (0.2, 0.3, 0.3, 0.2)
# How far (m, standard deviation) an owner's plots spread around its home.
SPREAD_M = (2_000.0, 1_500.0, 500.0, 700.0, 200.0, 300.0)
SHRINK_DEG = 5e-6  # ~0.5 m: plots keep clear of grid edges, so PostGIS agrees on membership


class Crop(NamedTuple):
    slug: str
    zh: str
    category: str  # as in sql/005_commodities.sql
    site: str  # what a plot of it is called
    point: bool  # barns, coops and egg farms are points with a declared area
    producer_mu: tuple[float, float]
    smallholder_mu: tuple[float, float]
    producer_weight: float
    smallholder_weight: float


CROPS = (
    Crop("tea", "茶叶", "tea", "茶园", False, (5, 60), (1, 8), 50, 40),
    Crop("cowpea", "豇豆", "vegetable", "豇豆基地", False, (3, 30), (0.5, 4), 5, 7),
    Crop("chinese_chive", "韭菜", "vegetable", "韭菜地", False, (2, 20), (0.3, 3), 2, 3),
    Crop("celery", "芹菜", "vegetable", "芹菜地", False, (2, 20), (0.3, 3), 2, 3),
    Crop("leafy_vegetable", "叶菜", "vegetable", "菜地", False, (3, 30), (0.3, 3), 5, 8),
    Crop("rice", "水稻", "grain", "稻田", False, (5, 50), (0.5, 4), 2, 6),
    Crop("sweet_potato", "甘薯", "grain", "地瓜地", False, (3, 30), (0.5, 3), 1.5, 6),
    Crop("pomelo", "柚子", "fruit", "柚子园", False, (5, 60), (1, 6), 3, 4),
    Crop("shiitake", "香菇", "mushroom", "香菇棚", False, (1, 8), (0.2, 1.5), 3, 2),
    Crop("tea_tree_mushroom", "茶树菇", "mushroom", "茶树菇棚", False, (1, 8), (0.2, 1.5), 2, 1.5),
    Crop("agaricus_blazei", "姬松茸", "mushroom", "姬松茸棚", False, (1, 8), (0.2, 1.5), 1.5, 1),
    Crop("bamboo_fungus", "竹荪", "mushroom", "竹荪基地", False, (2, 15), (0.3, 2), 1.5, 1),
    Crop("chicken_egg", "鸡蛋", "egg", "蛋鸡场", True, (2, 30), (0.2, 1.5), 5, 4),
    Crop("black_bone_chicken", "乌鸡", "poultry", "乌鸡养殖场", True, (2, 20), (0.2, 1.5), 3, 2),
    Crop("broiler_chicken", "肉鸡", "poultry", "肉鸡场", True, (2, 20), (0.2, 1.5), 3, 2),
    Crop("duck", "肉鸭", "poultry", "鸭场", True, (2, 15), (0.2, 1.5), 1.5, 1.5),
    Crop("quail_egg", "鹌鹑蛋", "egg", "鹌鹑养殖场", True, (1, 8), (0.1, 1), 1, 0.6),
    Crop("pigeon_egg", "鸽子蛋", "egg", "鸽子养殖场", True, (1, 8), (0.1, 1), 1, 0.5),
    Crop("goose_egg", "鹅蛋", "egg", "鹅场", True, (1, 10), (0.2, 1.5), 0.8, 0.5),
    Crop("live_pig", "生猪", "livestock", "生猪养殖场", True, (3, 40), (0.3, 2), 5, 4),
    Crop("beef_cattle", "肉牛", "livestock", "肉牛养殖场", True, (3, 40), (0.3, 2), 2, 1),
    Crop("mutton_sheep_goat", "肉羊", "livestock", "肉羊养殖场", True, (2, 30), (0.3, 2), 1.5, 1),
)
CROP_INDEX = {c.slug: i for i, c in enumerate(CROPS)}
BUYER_CROPS = {"cowpea": 0.5, "tea": 0.3, "leafy_vegetable": 0.1, "chicken_egg": 0.1}
ENTERPRISE_SUFFIX = {"tea": "茶业有限公司", "vegetable": "农业发展有限公司",
                     "grain": "农业开发有限公司", "fruit": "果业有限公司",
                     "mushroom": "食用菌有限公司", "poultry": "禽业有限公司",
                     "egg": "生态养殖有限公司", "livestock": "牧业有限公司"}
COOPERATIVE_SUFFIX = {"tea": "茶叶专业合作社", "vegetable": "蔬菜专业合作社",
                      "grain": "粮食种植专业合作社", "fruit": "果蔬专业合作社",
                      "mushroom": "食用菌专业合作社", "poultry": "家禽养殖专业合作社",
                      "egg": "蛋禽养殖专业合作社", "livestock": "畜牧养殖专业合作社"}

SURNAMES = "陈林黄王李张刘吴苏谢许廖詹汪高叶周杨郑洪易官白魏翁柯颜蔡肖潘"
SURNAME_WEIGHTS = (12, 10, 8, 6, 6, 5, 4, 4, 3, 3, 3, 3, 2.5, 2.5, 2, 2, 2, 2, 2, 1.5,
                   1.2, 1, 1, 1, 1, 1, 1, 1, 1, 1)
GIVEN = ("建国明华文志金水清春秀英美丽玉珍兰芳荣福德龙辉强伟平海东山木坤泉源发财宝贵永长振兴"
         "耀添火土成忠义仁和顺安康茂盛锦淑惠琼娟燕梅桂霞凤丹艺婷雅静晓思佳俊杰宇浩鹏")
PLACE_HEAD = "东西南北上下大小新后前中龙凤福金玉石竹松桃梅云青长美丰永安尚芦湖官蓬祥崇溪坂岭洋坑"
PLACE_TAIL = "山坑洋林岭溪头美田坂厝峰岩埔园亭楼阳丰兴光星洲源内尾口"
TRADE_NAMES = "华兴源茂祥隆鑫盛福瑞泰丰恒德和顺康宏达嘉明春香韵茗峰岩云龙凤秀绿清芳馨雅正信诚"
VILLAGES_PER_TOWNSHIP = 20
MOBILE_PREFIXES = (130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155,
                   156, 157, 158, 159, 166, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186,
                   187, 188, 189, 198, 199)
# The fictitious province's residents carry Fujian ID numbers (the validator checks the
# province part of the region code, and 99 is none).
RESIDENT_REGIONS = ("350102", "350103", "350121", "350122", "350181", "350203", "350205",
                    "350302", "350322", "350402", "350423", "350503", "350521", "350524",
                    "350525", "350526", "350581", "350583", "350602", "350623", "350702",
                    "350722", "350802", "350823", "350902", "350921")
BIRTH_FIRST = np.datetime64("1950-01-01")
BIRTH_DAYS = int((np.datetime64("2000-12-31") - BIRTH_FIRST).astype(np.int64)) + 1

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_320.0
SQ_M_PER_MU = 10_000.0 / 15


# --- geography ---------------------------------------------------------------------------------

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


# --- who: entities -----------------------------------------------------------------------------

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


# --- where: plots ------------------------------------------------------------------------------

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


# --- names and identifiers ---------------------------------------------------------------------

def _people(rng: np.random.Generator, n: int) -> list[str]:
    p = np.array(SURNAME_WEIGHTS) / sum(SURNAME_WEIGHTS)
    s = rng.choice(len(SURNAMES), n, p=p).tolist()
    g1 = rng.integers(0, len(GIVEN), n).tolist()
    g2 = rng.integers(0, len(GIVEN), n).tolist()
    two = (rng.random(n) < 0.7).tolist()
    return [SURNAMES[a] + GIVEN[b] + (GIVEN[c] if t else "")
            for a, b, c, t in zip(s, g1, g2, two, strict=True)]


def _name_stream(rng: np.random.Generator) -> Iterator[str]:
    while True:
        yield from _people(rng, 1024)


def _unique_ints(rng: np.random.Generator, n: int, high: int) -> np.ndarray:
    """n distinct integers below `high`, redrawing duplicates (USCC and ID number are unique)."""
    values = rng.integers(0, high, n)
    while True:
        _, first = np.unique(values, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            return values
        values[dup] = rng.integers(0, high, int(dup.sum()))


def _usccs(rng: np.random.Generator, prefixes: list[str], counties: list[str]) -> list[str]:
    """Valid, distinct codes: authority+category, county division code, 'MA' + 7 characters."""
    base = len(USCC_ALPHABET)
    serial = _unique_ints(rng, len(prefixes), base**7)
    digits = np.stack([(serial // base**i) % base for i in range(6, -1, -1)], axis=1)
    alphabet = np.array(list(USCC_ALPHABET))
    out = []
    for p, c, d in zip(prefixes, counties, alphabet[digits].tolist(), strict=True):
        first17 = p + c + "MA" + "".join(d)
        out.append(first17 + uscc_check_char(first17))
    return out


def _resident_ids(rng: np.random.Generator, regions: list[str]) -> list[str]:
    """Valid, distinct 18-digit numbers: region, birth date 1950-2000, sequence, check digit."""
    n = len(regions)
    key = _unique_ints(rng, n, BIRTH_DAYS * 999)  # distinct (birth date, sequence) per run
    births = np.datetime_as_string(BIRTH_FIRST + (key // 999).astype("timedelta64[D]"))
    out = []
    for region, birth, seq in zip(regions, births.tolist(), (key % 999 + 1).tolist(),
                                  strict=True):
        first17 = f"{region}{birth.replace('-', '')}{seq:03d}"
        out.append(first17 + resident_id_check_char(first17))
    return out


def _mobiles(rng: np.random.Generator, n: int) -> list[str]:
    prefix = rng.choice(MOBILE_PREFIXES, n).tolist()
    rest = rng.integers(0, 10**8, n).tolist()
    return [f"{p}{r:08d}" for p, r in zip(prefix, rest, strict=True)]


@dataclass
class Identity:
    """Text columns of the entities, and the personal numbers (memory only)."""

    names: list[str]
    uscc: list[str | None]
    legal: list[str | None]
    contact: list[str | None]
    village: list[str]
    address: list[str]
    resident_id: list[str | None]
    phone: list[str | None]
    key_supervision: np.ndarray


def _org_names(kind: int, crop: Crop, county: str, town: str, village: str, person: str,
               a: int, b: int) -> Iterator[str]:
    """Name candidates for a registered organisation, most usual first; the caller takes the
    first one not yet used. Trade names (字号) step through all pairs of TRADE_NAMES last."""
    pairs = (TRADE_NAMES[(a + i) % len(TRADE_NAMES)]
             + TRADE_NAMES[(a + i + b + j) % len(TRADE_NAMES)]
             for i in range(len(TRADE_NAMES)) for j in range(len(TRADE_NAMES) - 1))
    if kind == ENTERPRISE:
        yield from (f"{county}{p}{ENTERPRISE_SUFFIX[crop.category]}" for p in pairs)
    elif kind == COOPERATIVE:  # most are named after their village
        suffix = COOPERATIVE_SUFFIX[crop.category]
        yield f"{county}{town}{village[:-1]}{suffix}"
        yield from (f"{county}{town}{p}{suffix}" for p in pairs)
    elif kind == FAMILY_FARM:
        yield f"{person}家庭农场"
        yield f"{county}{town}{person}家庭农场"
        yield from (f"{county}{town}{p}家庭农场" for p in pairs)
    else:  # buyer
        yield f"{person}{crop.zh}收购点"
        yield f"{town}{village}{person}{crop.zh}收购点"
        yield from (f"{town}{p}{crop.zh}收购点" for p in pairs)
    raise RuntimeError("演示主体名称已用尽")


def _identities(geo: Geography, ent: Entities, rng: np.random.Generator,
                key_risk: set[str]) -> Identity:
    n = len(ent)
    kinds, towns, crops = ent.kind.tolist(), ent.town.tolist(), ent.crop.tolist()
    person, contact = _people(rng, n), _people(rng, n)
    trade_a = rng.integers(0, len(TRADE_NAMES), n).tolist()
    trade_b = rng.integers(1, len(TRADE_NAMES), n).tolist()  # an offset: never the same char
    village_pick = rng.integers(0, VILLAGES_PER_TOWNSHIP, n).tolist()
    house = rng.integers(1, 200, n).tolist()
    names, legal, contacts, villages, addresses = [], [], [], [], []
    taken: set[str] = set()  # registered names are unique; people's names need not be
    for i, (k, t, c) in enumerate(zip(kinds, towns, crops, strict=True)):
        county, town = geo.county_labels[t], geo.short_names[t]
        village = geo.villages[t][village_pick[i]]
        if k in (LARGE_GROWER, SMALLHOLDER):
            names.append(person[i])
        else:
            names.append(next(n for n in _org_names(k, CROPS[c], county, town, village,
                                                    person[i], trade_a[i], trade_b[i])
                              if n not in taken))
            taken.add(names[-1])
        legal.append(None if k == SMALLHOLDER else person[i])
        # The owner answers for a family farm or a large grower; firms name a contact.
        contacts.append(None if k == SMALLHOLDER else
                        person[i] if k in (FAMILY_FARM, LARGE_GROWER) else contact[i])
        villages.append(village)
        addresses.append(f"{county}{town}{village}{house[i]}号")

    producer_or_buyer = [i for i, k in enumerate(kinds) if k != SMALLHOLDER]
    codes = _usccs(rng, [USCC_PREFIX[kinds[i]] for i in producer_or_buyer],
                   [geo.codes[towns[i]][:6] for i in producer_or_buyer])
    uscc: list[str | None] = [None] * n
    for i, code in zip(producer_or_buyer, codes, strict=True):
        uscc[i] = code
    small = [i for i, k in enumerate(kinds) if k == SMALLHOLDER]
    region = rng.choice(RESIDENT_REGIONS, len(small)).tolist()
    regions = [r if geo.province_part[towns[i]] else geo.codes[towns[i]][:6]
               for i, r in zip(small, region, strict=True)]
    resident_id: list[str | None] = [None] * n
    for i, rid in zip(small, _resident_ids(rng, regions), strict=True):
        resident_id[i] = rid
    phone: list[str | None] = list(_mobiles(rng, n))
    # Producers with a key-risk main commodity are watched more closely.
    risky = np.array([CROPS[c].slug in key_risk for c in crops])
    key_supervision = (ent.kind < BUYER) & risky & (rng.random(n) < 0.25)
    return Identity(names=names, uscc=uscc, legal=legal, contact=contacts, village=villages,
                    address=addresses, resident_id=resident_id, phone=phone,
                    key_supervision=key_supervision)


# --- the fictitious province -------------------------------------------------------------------

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


# --- loading -----------------------------------------------------------------------------------

ENTITY_COLUMNS = (
    ("id", "int8"), ("kind", "text"), ("name", "text"), ("uscc", "text"),
    ("legal_representative", "text"), ("contact_name", "text"),
    ("resident_id_hash", "bytea"), ("resident_id_enc", "bytea"), ("resident_id_masked", "text"),
    ("phone_hash", "bytea"), ("phone_enc", "bytea"), ("phone_masked", "text"),
    ("village", "text"), ("address", "text"), ("township_code", "text"),
    ("location", "geometry"), ("key_supervision", "bool"), ("origin", "text"),
)
PLOT_COLUMNS = (
    ("entity_id", "int8"), ("commodity", "text"), ("name", "text"), ("geom", "geometry"),
    ("area_mu", "float8"), ("township_code", "text"),
)


def _stage(conn: Connection, table: str, columns: tuple[tuple[str, str], ...],
           rows: Iterable[tuple[Any, ...]]) -> int:
    """Binary COPY into a temporary table shaped like `columns`; geometry goes as EWKB."""
    conn.execute(text(f"CREATE TEMP TABLE {table} ("
                      + ", ".join(f"{c} {t}" for c, t in columns) + ") ON COMMIT DROP"))
    raw = conn.connection.driver_connection
    n = 0
    with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
            f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
        # EWKB bytes are what PostGIS's binary input function reads.
        copy.set_types(["bytea" if t == "geometry" else t for _, t in columns])
        for row in rows:
            copy.write_row(row)
            n += 1
    geometry = next(c for c, t in columns if t == "geometry")
    conn.execute(text(f"CREATE INDEX ON {table} USING gist ({geometry})"))
    conn.execute(text(f"ANALYZE {table}"))
    return n


def _ewkb(geoms: np.ndarray) -> list[bytes]:
    return shapely.to_wkb(shapely.set_srid(geoms, 4326), include_srid=True).tolist()


def _entity_rows(geo: Geography, ent: Entities, who: Identity, ids: list[int],
                 location: list[bytes], cipher: PiiCipher) -> Iterator[tuple[Any, ...]]:
    # Hashing and encryption run here, while the server ingests the rows already sent.
    towns = ent.town.tolist()
    kinds = ent.kind.tolist()
    key = who.key_supervision.tolist()
    for i, entity_id in enumerate(ids):
        rid, phone = who.resident_id[i], who.phone[i]
        rid_cols: tuple[Any, ...] = (None, None, None)
        if rid is not None:
            rid_cols = (cipher.lookup_hash("resident_id", rid), cipher.encrypt("resident_id", rid),
                        mask_resident_id(rid))
        phone_cols: tuple[Any, ...] = (None, None, None)
        if phone is not None:
            phone_cols = (cipher.lookup_hash("phone", phone), cipher.encrypt("phone", phone),
                          mask_phone(phone))
        yield (entity_id, KINDS[kinds[i]], who.names[i], who.uscc[i], who.legal[i],
               who.contact[i], *rid_cols, *phone_cols, who.village[i], who.address[i],
               geo.codes[towns[i]], location[i], key[i], "demo")


def _plot_rows(geo: Geography, ent: Entities, who: Identity, plots: Plots, ids: list[int],
               rng: np.random.Generator) -> Iterator[tuple[Any, ...]]:
    owners = plots.owner.tolist()
    towns = ent.town.tolist()
    n_plots = ent.n_plots.tolist()
    area = [None if np.isnan(a) else a for a in plots.area_mu.tolist()]
    # The first plot lies in the owner's village, others in one nearby.
    village = rng.integers(0, VILLAGES_PER_TOWNSHIP, len(plots)).tolist()
    for p, (o, c, num, g) in enumerate(zip(owners, plots.crop.tolist(), plots.number.tolist(),
                                           _ewkb(plots.geom), strict=True)):
        t = towns[o]
        place = who.village[o] if num == 1 else geo.villages[t][village[p]]
        name = f"{place}{CROPS[c].site}" + (f"{num}号" if n_plots[o] > 1 else "")
        yield ids[o], CROPS[c].slug, name, g, area[p], geo.codes[t]


# Bulk loads drop the secondary indexes, unique constraints and foreign keys of entity and plot
# and rebuild them from the catalog's own definitions (those of sql/004_registry.sql and of any
# later migration): building an index once is ~3x faster than maintaining it row by row, and one
# anti-join validates a foreign key far faster than a lookup per row. Primary keys stay.
DETACHABLE = text("""
SELECT format('DROP INDEX %s', i.indexrelid::regclass) AS drop_sql,
       pg_get_indexdef(i.indexrelid) AS restore_sql, 1 AS phase
FROM pg_index i
WHERE i.indrelid IN ('entity'::regclass, 'plot'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
UNION ALL
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
              pg_get_constraintdef(c.oid)),
       CASE c.contype WHEN 'u' THEN 2 ELSE 3 END
FROM pg_constraint c
WHERE c.conrelid IN ('entity'::regclass, 'plot'::regclass)
  AND (c.contype = 'f'
       OR c.contype = 'u' AND NOT EXISTS (SELECT 1 FROM pg_constraint r
                                          WHERE r.contype = 'f' AND r.conindid = c.conindid))
ORDER BY 3, 2
""")

# What the row triggers do, set-based. Each grid comes with its township's boundary, and the
# staged rows are found through their GiST index inside the loop (the LATERAL ... OFFSET 0 keeps
# the planner from turning it round): PostGIS then reuses each grid's and township's prepared
# geometry, 5x faster than probing the grids once per row (PERFORMANCE.md). ST_Covers(boundary,
# geom) is ST_CoveredBy(geom, boundary) with the prepared-geometry cache, which ST_CoveredBy lacks.
# A row outside its township or outside every grid is left out, and the row count then differs.
GRIDS_WITH_TOWNSHIPS = """
WITH gt AS MATERIALIZED (
    SELECT g.id, g.township_code, g.boundary AS grid_boundary, t.boundary AS township_boundary
    FROM current_grid g JOIN township t ON t.code = g.township_code
    ORDER BY g.code)  -- rows, and so plot ids, in the same order whatever the layout on disk
"""

INSERT_ENTITIES = text(GRIDS_WITH_TOWNSHIPS + """
INSERT INTO entity (id, kind, name, uscc, legal_representative, contact_name,
                    resident_id_hash, resident_id_enc, resident_id_masked,
                    phone_hash, phone_enc, phone_masked, village, address,
                    township_code, location, key_supervision, origin, grid_id)
SELECT s.id, s.kind, s.name, s.uscc, s.legal_representative, s.contact_name,
       s.resident_id_hash, s.resident_id_enc, s.resident_id_masked,
       s.phone_hash, s.phone_enc, s.phone_masked, s.village, s.address,
       s.township_code, s.location, s.key_supervision, s.origin, gt.id
FROM gt CROSS JOIN LATERAL (
    SELECT * FROM entity_load s
    WHERE s.township_code = gt.township_code
      AND ST_Intersects(gt.grid_boundary, s.location)
      AND ST_Intersects(gt.township_boundary, s.location)
    OFFSET 0) s
""")

# As plot_before_write: the grid of the PointOnSurface, the polygon's area, the township check.
INSERT_PLOTS = text(GRIDS_WITH_TOWNSHIPS + """
INSERT INTO plot (entity_id, commodity, name, geom, area_mu, township_code, grid_id)
SELECT s.entity_id, s.commodity, s.name, s.geom,
       CASE WHEN GeometryType(s.geom) = 'POINT' THEN s.area_mu
            ELSE round((ST_Area(s.geom::geography) / (10000.0 / 15))::numeric, 2) END,
       s.township_code, gt.id
FROM gt CROSS JOIN LATERAL (
    SELECT * FROM plot_load s
    WHERE s.township_code = gt.township_code AND s.geom && gt.grid_boundary
      AND ST_Intersects(gt.grid_boundary, ST_PointOnSurface(s.geom))
      AND ST_Covers(gt.township_boundary, s.geom)
    OFFSET 0) s
""")


def _truncate_demo(conn: Connection) -> bool:
    """TRUNCATE entity and plot when that deletes nothing but demo rows; False if it cannot.

    Same result as the DELETEs in _clear, without their ~20 s per million rows and the dead copy
    of every row they leave behind. Tables that refer to entity or plot, directly or through
    others, go along only while they are empty.
    """
    if conn.execute(text("SELECT EXISTS (SELECT 1 FROM entity WHERE origin <> 'demo')")).scalar():
        return False
    referencing = conn.execute(text("""
        WITH RECURSIVE chain(rel) AS (
            SELECT 'entity'::regclass::oid UNION SELECT 'plot'::regclass::oid
            UNION
            SELECT c.conrelid FROM pg_constraint c JOIN chain ON c.confrelid = chain.rel
            WHERE c.contype = 'f')
        SELECT rel::regclass::text FROM chain
        WHERE rel NOT IN ('entity'::regclass, 'plot'::regclass) ORDER BY 1""")).scalars().all()
    for table in referencing:
        if conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar():
            return False
    try:
        with conn.begin_nested():  # e.g. no TRUNCATE privilege on one of them
            conn.execute(text("TRUNCATE " + ", ".join(["plot", "entity", *referencing])))
    except DBAPIError:
        return False
    return True


def _clear(conn: Connection) -> None:
    # Credit events are append-only; demo entities' own are purged under this one switch.
    conn.execute(text("SET LOCAL georeg.purge_demo = 'on'"))
    # test results name the credit events their failures wrote: they go first
    for table in ("rapid_test", "lab_sample"):
        conn.execute(text(f"DELETE FROM {table} x USING entity e "
                          "WHERE e.id = x.entity_id AND e.origin = 'demo'"))
    conn.execute(text("DELETE FROM credit_event ce USING entity e "
                      "WHERE e.id = ce.entity_id AND e.origin = 'demo'"))
    conn.execute(text("DELETE FROM key_supervision_listing k USING entity e "
                      "WHERE e.id = k.entity_id AND e.origin = 'demo'"))
    # their standings (left stale by the purge) go too: no events, no standing
    conn.execute(text("DELETE FROM credit_standing s USING entity e "
                      "WHERE e.id = s.entity_id AND e.origin = 'demo'"))
    if not _truncate_demo(conn):
        # Plots first, set-based, so the cascade has nothing left to look up per entity.
        conn.execute(text("DELETE FROM plot p USING entity e "
                          "WHERE e.id = p.entity_id AND e.origin = 'demo'"))
        conn.execute(text("DELETE FROM entity WHERE origin = 'demo'"))
    conn.execute(text(
        "DELETE FROM grid WHERE township_code IN (SELECT code FROM township "
        "WHERE code LIKE :p AND boundary_source = 'demo')"), {"p": PROVINCE_PREFIX + "%"})
    conn.execute(text("DELETE FROM township WHERE code LIKE :p AND boundary_source = 'demo'"),
                 {"p": PROVINCE_PREFIX + "%"})


def _staff(conn: Connection, codes: list[str], rng: np.random.Generator) -> int:
    """A supervisor and 1-3 assistants for each demo grid that has no staff yet."""
    grids = conn.execute(text(
        "SELECT g.id FROM current_grid g JOIN township t ON t.code = g.township_code "
        "WHERE t.boundary_source = 'demo' AND g.township_code = ANY(:codes) "
        "AND NOT EXISTS (SELECT 1 FROM grid_staff s WHERE s.grid_id = g.id) "
        "ORDER BY g.code"), {"codes": codes}).scalars().all()
    assistants = rng.integers(1, 4, len(grids)).tolist()
    people = _name_stream(rng)
    grid_ids, roles, persons = [], [], []
    for gid, n in zip(grids, assistants, strict=True):
        crew: list[str] = []
        while len(crew) < n + 1:
            name = next(people)
            if name not in crew:
                crew.append(name)
        grid_ids += [gid] * len(crew)
        roles += ["supervisor"] + ["assistant"] * n
        persons += crew
    conn.execute(text(
        "INSERT INTO grid_staff (grid_id, role, person) "
        "SELECT * FROM unnest(CAST(:g AS bigint[]), CAST(:r AS text[]), CAST(:p AS text[]))"),
        {"g": grid_ids, "r": roles, "p": persons})
    return len(persons)


def _reserve_ids(conn: Connection, n: int) -> list[int]:
    """A block of entity ids, so plots can name their owner in the same pass.

    Safe because DISABLE TRIGGER holds a lock that keeps other inserts out of entity meanwhile.
    """
    first = conn.execute(text(
        "SELECT nextval(pg_get_serial_sequence('entity', 'id'))")).scalar_one()
    if n > 1:
        conn.execute(text("SELECT setval(pg_get_serial_sequence('entity', 'id'), :last)"),
                     {"last": first + n - 1})
    return list(range(first, first + n))


def _check(what: str, expected: int, loaded: int) -> int:
    """The triggers would have refused these rows: refuse the whole run."""
    if loaded != expected:
        raise RuntimeError(f"演示数据校验失败：应写入 {expected:,} 个{what}，实为 {loaded:,} 个"
                           "（有的不在所属乡镇或不在唯一网格内）；已全部回滚")
    return loaded


def _note_rows(step: Any, rows: int) -> None:
    """Tell a recording progress (the benchmark) how many rows a step handled."""
    if hasattr(step, "rows"):
        step.rows = rows


def _quiet(label: str) -> AbstractContextManager[None]:
    return nullcontext()


@dataclass
class _Drawn:
    geo: Geography
    ent: Entities
    plots: Plots
    who: Identity
    location: list[bytes]
    codes: list[str]
    province: int  # townships of the fictitious province


def _draw(conn: Connection, *, seed: int, bulk: bool, province_entities: int,
          province_townships: int, progress: Progress,
          rngs: list[np.random.Generator]) -> _Drawn:
    rng_place, rng_geo, rng_who, rng_where = rngs
    codes = conn.execute(text(
        "SELECT unit FROM plan_target WHERE year = :y AND metric = 'producers' "
        "AND unit <> 'county' ORDER BY unit"), {"y": PLAN_YEAR}).scalars().all()
    province: list[str] = []
    if bulk:
        with progress(f"生成示范省乡镇边界与网格（{province_townships:,} 个乡镇）") as step:
            province = _create_province(conn, province_townships, seed, rng_place)
            _note_rows(step, len(province))
    with progress("读取乡镇与网格边界"):
        conn.execute(text("ANALYZE township, grid"))  # the plans below depend on their size
        geo = _load_geography(conn, [*codes, *province], rng_place)
        key_risk = set(conn.execute(text("SELECT slug FROM commodity WHERE key_risk")).scalars())
        known = set(conn.execute(text("SELECT slug FROM commodity")).scalars())
        if missing := {c.slug for c in CROPS} - known:
            raise RuntimeError(f"商品目录缺少：{', '.join(sorted(missing))}")
    with progress(f"生成主体与地块（种子 {seed}）") as step:
        town, kind = _county_counts(conn, geo, rng_geo)
        if bulk:
            more_town, more_kind = _province_counts(geo, province_entities, rng_geo)
            town, kind = np.concatenate([town, more_town]), np.concatenate([kind, more_kind])
        ent = _draw_entities(geo, town, kind, rng_geo)
        plots = _draw_plots(geo, ent, rng_where)
        lx, ly = _locations(geo, ent, plots, rng_where)
        who = _identities(geo, ent, rng_who, key_risk)
        location = _ewkb(shapely.points(lx, ly))
        _note_rows(step, len(ent) + len(plots))
    return _Drawn(geo=geo, ent=ent, plots=plots, who=who, location=location,
                  codes=[*codes, *province], province=len(province))


def generate(engine: Engine, *, seed: int, scale: str = "county", cipher: PiiCipher,
             progress: Progress = _quiet, province_entities: int = 1_000_000,
             province_townships: int = 1_100) -> dict[str, int | str]:
    """Replace the demo data in one transaction; return counts for the CLI (zh-CN keys)."""
    if scale not in ("county", "province"):
        raise ValueError(f"未知规模：{scale}")
    started = time.perf_counter()
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    bulk = scale == "province"
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))  # demo data: no fsync wait
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        restore: list[str] = []
        with progress("暂停触发器" + ("、外键与索引" if bulk else "")):
            conn.execute(text("ALTER TABLE entity DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE plot DISABLE TRIGGER USER"))
            if bulk:
                for row in conn.execute(DETACHABLE).all():
                    conn.execute(text(row.drop_sql))
                    restore.append(row.restore_sql)
        with progress("清除旧的演示数据"):
            _clear(conn)
        d = _draw(conn, seed=seed, bulk=bulk, province_entities=province_entities,
                  province_townships=province_townships, progress=progress, rngs=rngs[:4])

        with progress("主体写入暂存表（二进制 COPY）") as step:
            ids = _reserve_ids(conn, len(d.ent))
            _note_rows(step, _stage(conn, "entity_load", ENTITY_COLUMNS,
                                    _entity_rows(d.geo, d.ent, d.who, ids, d.location, cipher)))
        with progress("地块写入暂存表（二进制 COPY）") as step:
            _note_rows(step, _stage(conn, "plot_load", PLOT_COLUMNS,
                                    _plot_rows(d.geo, d.ent, d.who, d.plots, ids, rngs[3])))
        with progress("主体入库：分配网格，校验所属乡镇") as step:
            _note_rows(step, _check("主体", len(d.ent),
                                    conn.execute(INSERT_ENTITIES).rowcount))
        with progress("地块入库：分配网格，计算面积，校验所属乡镇") as step:
            _note_rows(step, _check("地块", len(d.plots), conn.execute(INSERT_PLOTS).rowcount))
        if restore:
            with progress("重建索引、唯一约束与外键") as step:
                for statement in restore:
                    conn.execute(text(statement))
                _note_rows(step, len(d.ent) + len(d.plots))
        conn.execute(text("ALTER TABLE entity ENABLE TRIGGER USER"))
        conn.execute(text("ALTER TABLE plot ENABLE TRIGGER USER"))
        with progress("网格监管员与协管员") as step:
            staff = _staff(conn, d.codes, rngs[4])
            _note_rows(step, staff)
        with progress("更新统计信息"):
            conn.execute(text("ANALYZE entity, plot"))

    counts = np.bincount(d.ent.kind, minlength=len(KINDS))
    report: dict[str, int | str] = {"规模": "全省（示范）" if bulk else "县（安溪）",
                                    "随机种子": str(seed)}  # a label, not a quantity
    report.update({KIND_LABELS[k]: int(counts[i]) for i, k in enumerate(KINDS)})
    report["生产主体合计"] = int(counts[:BUYER].sum())
    report["地块"] = len(d.plots)
    report["其中面状地块"] = int(np.isnan(d.plots.area_mu).sum())
    if bulk:
        report["示范省乡镇"] = d.province
        report["示范省网格"] = int(d.geo.province_part[d.geo.grid_town].sum())
    report["新增网格人员"] = staff
    report["用时（秒）"] = f"{time.perf_counter() - started:.1f}"
    return report
