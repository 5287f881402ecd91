"""Codes of the credit record and their zh-CN labels (codes in the API, labels for people)."""

from __future__ import annotations

KIND_LABELS = {
    "licence": "行政许可",
    "penalty": "行政处罚",
    "patrol": "日常巡查",
    # supervisory sampling, routine/risk monitoring and rapid tests alike: the event's summary
    # names which (a rapid test is not a 监督抽查, which has legal consequences)
    "sampling": "抽样检测",
    "special_inspection": "专项检查",
    "reward": "奖励",
}
KINDS = tuple(KIND_LABELS)

# The outcomes each kind allows (sql/008_credit.sql checks the same); () = no outcome.
OUTCOMES: dict[str, tuple[str, ...]] = {
    "licence": (),
    "penalty": ("minor", "major"),
    "patrol": ("normal", "problem"),
    "sampling": ("pass", "fail"),
    "special_inspection": ("normal", "problem"),
    "reward": (),
}
OUTCOME_LABELS = {
    "pass": "合格", "fail": "不合格",
    "minor": "一般", "major": "严重",
    "normal": "未发现问题", "problem": "发现问题",
}

ACTION_LABELS = {"record": "登记", "amend": "更正", "void": "作废"}

# How a row of the timeline stands after corrections.
STATUS_LABELS = {
    "effective": "有效",
    "superseded": "已被更正",
    "voided": "已作废",
    "void": "作废记录",
}

REASON_LABELS = {
    "sampling_failed": "近12个月抽样检测不合格",
    "penalty": "近12个月受到行政处罚",
    "grade_d": "信用等级为D级",
    "manual": "人工列入",
}
SOURCE_LABELS = {"rule": "按规则", "manual": "人工"}
