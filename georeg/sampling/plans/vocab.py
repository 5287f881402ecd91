"""The words of a sampling plan: test kinds, target roles and statuses, strata, in zh-CN."""

from __future__ import annotations

from georeg.testing.vocab import METHOD_CATEGORIES
from georeg.testing.vocab import METHOD_LABELS as METHOD_LABELS_TESTING

TEST_KINDS = ("rapid_colloidal_gold", "rapid_enzyme_inhibition", "rapid_veterinary", "lab")
# A plan's rapid test kinds are the recorded methods (georeg/testing/vocab.py) with a prefix.
TEST_KIND_LABELS = {f"rapid_{m}": label for m, label in METHOD_LABELS_TESTING.items()} | {
    "lab": "定量监测（实验室检测）"}
# Rapid-test methods test either plant or animal products.
TEST_KIND_CATEGORIES = {f"rapid_{m}": c for m, c in METHOD_CATEGORIES.items()}
STATUS_LABELS = {"pending": "待抽样", "sampled": "已抽样", "replaced": "已替换"}
ROLE_LABELS = {"base": "正选", "replacement": "替补"}
STRATIFY_LABELS = {"township": "乡镇", "grid": "网格", "commodity": "品种"}
NO_GRID = "none"  # the stratum key of units outside every grid
