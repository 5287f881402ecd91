"""Codes of testing and their zh-CN labels (codes in the API, labels for people)."""

from __future__ import annotations

METHOD_LABELS = {
    "colloidal_gold": "农残快检（胶体金法）",
    "enzyme_inhibition": "农残快检（酶抑制法）",
    "veterinary": "兽残快检",
}
METHODS = tuple(METHOD_LABELS)
# The plan_target metric holding each method's yearly quota (rapid_test_quotas.csv).
QUOTA_METRICS = {
    "total": "rapid_tests_total",
    "colloidal_gold": "rapid_tests_colloidal_gold",
    "enzyme_inhibition": "rapid_tests_enzyme_inhibition",
    "veterinary": "rapid_tests_veterinary",
}
LAB_METRIC = "lab_monitoring_batches"

# Pesticide methods test plant products, the veterinary method animal products; the quota
# columns (and the poultry-and-egg share) only add up if the two are not mixed.
METHOD_CATEGORIES = {
    "colloidal_gold": frozenset({"tea", "vegetable", "fruit", "grain", "mushroom", "other"}),
    "enzyme_inhibition": frozenset({"tea", "vegetable", "fruit", "grain", "mushroom", "other"}),
    "veterinary": frozenset({"poultry", "egg", "livestock", "aquatic", "other"}),
}
POULTRY_EGG = ("poultry", "egg")  # the ≥ 5 % veterinary share counts these categories

RESULT_LABELS = {"pass": "合格", "fail": "不合格", "review": "待复核"}
RAPID_RESULTS = ("pass", "fail")

LAB_KIND_LABELS = {
    "routine_monitoring": "例行监测",
    "risk_monitoring": "风险监测",
    "supervisory_sampling": "监督抽查",
}
LAB_KINDS = tuple(LAB_KIND_LABELS)
# Kinds where smallholders are at least a quarter of samples (docs/domain.md, "County figures").
SMALLHOLDER_SHARE_KINDS = ("risk_monitoring", "supervisory_sampling")

JUDGEMENT_LABELS = {"pass": "合格", "fail": "不合格", "no_limit": "未找到限量，待复核"}
BASIS_LABELS = {
    "not_detected": "未检出",
    "within_limit": "不超过限量",
    "over_limit": "超过限量",
    "banned": "检出禁用农药",
    "no_limit": "检出，但限量表中没有该品种的限量",
}

CATEGORY_LABELS = {
    "tea": "茶叶", "vegetable": "蔬菜", "fruit": "水果", "grain": "谷物", "mushroom": "食用菌",
    "poultry": "禽肉", "egg": "禽蛋", "livestock": "畜肉", "aquatic": "水产品", "other": "其他",
}
COUNTY_UNIT = "county"
COUNTY_UNIT_LABEL = "县级"
ALL_UNITS = "all"
ALL_UNITS_LABEL = "全县合计"
