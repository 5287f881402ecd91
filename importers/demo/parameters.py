"""What the demo draws from: kinds and their mix, crops, names, identifier parts, plan figures.

Kinds are indexed in this order (numpy arrays hold the index); their labels are the registry's
(georeg.registry.KIND_LABELS).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

PLAN_YEAR = 2023
GRIDS_VALID_FROM = f"{PLAN_YEAR}-01-01"
PROVINCE_PREFIX = "99"  # not a real province: GB/T 2260 has no 99
PROVINCE_BOX = (116.0, 24.0, 120.0, 28.0)  # Fujian-sized, lon/lat
COUNTY_LABELS = {"350524": "安溪县"}
COUNTY_SMALLHOLDERS = 4_000

# The order is the index the arrays hold and the seeded draws depend on: never reorder.
KINDS = ("enterprise", "cooperative", "family_farm", "large_grower", "buyer", "smallholder")
ENTERPRISE, COOPERATIVE, FAMILY_FARM, LARGE_GROWER, BUYER, SMALLHOLDER = range(6)
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
