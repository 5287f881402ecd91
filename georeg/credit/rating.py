"""The credit rating: a documented rule set turns an entity's events into a score and a grade.

How a grade is computed (as of a day D):

1. Start from `base` (100).
2. Take the entity's events with corrections applied: of each correction chain only the newest
   row counts; a chain ending in a void counts not at all. Corrections apply retroactively:
   a grade as of an earlier day reflects the corrected record, not what was known then.
3. Keep events on or before D and inside the window (the last `window_months` months).
4. Each event scores `points[(kind, outcome)]`, in full within the last `full_months` months
   and multiplied by `older_weight` before that (decay).
5. The sum, clamped to [floor, ceiling], gives the grade by `grades` (the first threshold the
   score reaches), else `lowest_grade`.

The same SQL, inlinable functions of sql/016_credit_functions.sql, serves one entity (with the
events that moved the grade), many at once (the key-supervision refresh) and the stored standing
of every entity (georeg.credit.standing, read by sampling frames), so all of them always agree.
The rules are a plain dataclass: a county with other rules passes its own `RatingRules`.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, text

from georeg.credit.vocab import KIND_LABELS, OUTCOME_LABELS

# (kind, outcome) -> points. Outcomes: sampling pass/fail, penalty minor/major, patrol and
# special inspection normal/problem; licences and rewards have none.
DEFAULT_POINTS: Mapping[tuple[str, str | None], int] = MappingProxyType({
    ("licence", None): 0,
    ("penalty", "minor"): -15,
    ("penalty", "major"): -40,
    ("patrol", "normal"): 0,
    ("patrol", "problem"): -5,
    ("sampling", "pass"): 2,
    ("sampling", "fail"): -30,
    ("special_inspection", "normal"): 0,
    ("special_inspection", "problem"): -10,
    ("reward", None): 10,
})

GRADE_LABELS = {"A": "A级（守信）", "B": "B级（基本守信）", "C": "C级（失信）",
                "D": "D级（严重失信）"}


@dataclass(frozen=True)
class RatingRules:
    base: int = 100
    points: Mapping[tuple[str, str | None], int] = field(default_factory=lambda: DEFAULT_POINTS)
    full_months: int = 12  # events this recent count in full
    window_months: int = 36  # older events do not count at all
    older_weight: Decimal = Decimal("0.5")  # weight between full_months and window_months
    grades: tuple[tuple[str, int], ...] = (("A", 90), ("B", 75), ("C", 60))  # highest first
    lowest_grade: str = "D"
    floor: int = 0
    ceiling: int = 100
    # key-supervision rule: a failed sampling or a penalty this recent lists the entity
    listing_months: int = 12

    def grade_of(self, score: Decimal) -> str:
        for grade, threshold in self.grades:
            if score >= threshold:
                return grade
        return self.lowest_grade

    @property
    def lowest_threshold(self) -> int:
        return min(t for _, t in self.grades)

    def clamp(self, total: Decimal) -> Decimal:
        return min(max(total, Decimal(self.floor)), Decimal(self.ceiling))

    def describe(self) -> dict[str, Any]:
        """The rule set as data and as a zh-CN sentence, for the API and the printed report."""
        grades = "，".join(f"{g} 级不低于 {t} 分" for g, t in self.grades)
        return {
            "base": self.base, "full_months": self.full_months,
            "window_months": self.window_months, "older_weight": float(self.older_weight),
            "grades": [{"grade": g, "min_score": t} for g, t in self.grades],
            "lowest_grade": self.lowest_grade, "floor": self.floor, "ceiling": self.ceiling,
            "points": [{"kind": k, "kind_label": KIND_LABELS[k], "outcome": o,
                        "outcome_label": OUTCOME_LABELS.get(o) if o else None, "points": p}
                       for (k, o), p in self.points.items()],
            "text": (f"基础分 {self.base}；近 {self.full_months} 个月内的事件全额计分，"
                     f"{self.full_months} 至 {self.window_months} 个月前的事件按 "
                     f"{self.older_weight:g} 倍计分，更早的不计；更正后的事件按更正后的内容计分，"
                     f"已作废的不计；总分限于 {self.floor} 至 {self.ceiling} 分。{grades}，"
                     f"其余为 {self.lowest_grade} 级。"),
        }


DEFAULT_RULES = RatingRules()


def months_before(day: date, months: int) -> date:
    """The same day `months` earlier (31 March - 1 month = 28/29 February)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Move:
    """An event that moved the grade: points as configured, weight from its age."""
    event_id: int  # the original event (a correction chain's root)
    version_id: int  # the row that counts (the original or its newest amendment)
    kind: str
    outcome: str | None
    occurred_on: date
    points: int
    weight: Decimal

    @property
    def effect(self) -> Decimal:
        return Decimal(self.points) * self.weight


@dataclass(frozen=True)
class Rating:
    as_of: date
    score: Decimal
    grade: str
    moves: tuple[Move, ...]
    base: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of, "base": self.base, "score": float(self.score),
            "grade": self.grade, "grade_label": GRADE_LABELS.get(self.grade, self.grade),
            "moves": [{"event_id": m.event_id, "version_id": m.version_id, "kind": m.kind,
                       "kind_label": KIND_LABELS[m.kind], "outcome": m.outcome,
                       "outcome_label": OUTCOME_LABELS.get(m.outcome) if m.outcome else None,
                       "occurred_on": m.occurred_on, "points": m.points,
                       "weight": float(m.weight), "effect": float(m.effect)}
                      for m in self.moves]}


# Failed samplings this recent weigh an entity's risk in a sampling plan.
FAILED_RECENT_MONTHS = 12

# Which events count and what they are worth is SQL shared by every reader of a grade
# (sql/016_credit_functions.sql: credit_counted, credit_score, credit_recent_failure,
# credit_grade), with the parameters of rule_params and standing_params. One entity's moves:
_MOVES = text("""
SELECT * FROM credit_counted(CAST(:entity_ids AS bigint[]), CAST(:day AS date),
                             CAST(:window_since AS date), CAST(:full_since AS date),
                             CAST(:older_weight AS numeric), CAST(:rule_kinds AS text[]),
                             CAST(:rule_outcomes AS text[]), CAST(:rule_points AS integer[]))
ORDER BY occurred_on DESC, root_id DESC""")
_TOTALS = text("""
SELECT entity_id, sum(points * weight) AS total
FROM credit_counted(CAST(:entity_ids AS bigint[]), CAST(:day AS date),
                    CAST(:window_since AS date), CAST(:full_since AS date),
                    CAST(:older_weight AS numeric), CAST(:rule_kinds AS text[]),
                    CAST(:rule_outcomes AS text[]), CAST(:rule_points AS integer[]))
GROUP BY entity_id""")


def grade_bounds(rules: RatingRules) -> tuple[list[int], list[str]]:
    """RatingRules.grade_of as sql credit_grade's arguments: the thresholds that can decide
    (each lower than every one before it), ascending, and the lowest grade then theirs."""
    kept: list[tuple[int, str]] = []
    for grade, threshold in rules.grades:
        if not kept or threshold < kept[-1][0]:
            kept.append((threshold, grade))
    kept.reverse()
    return [t for t, _ in kept], [rules.lowest_grade, *(g for _, g in kept)]


def rules_key(rules: RatingRules) -> str:
    """A fingerprint of everything a standing depends on: a stored standing computed under
    other rules is never read as this rule set's."""
    data = [rules.base, sorted([k, o or "", p] for (k, o), p in rules.points.items()),
            rules.full_months, rules.window_months, str(rules.older_weight),
            [list(g) for g in rules.grades], rules.lowest_grade, rules.floor, rules.ceiling,
            FAILED_RECENT_MONTHS]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]


def standing_params(rules: RatingRules, day: date) -> dict[str, Any]:
    """rule_params plus what a standing needs: the score's bounds (credit_score), the recent
    failures' start (credit_recent_failure), the grades (credit_grade) and the rules key."""
    mins, names = grade_bounds(rules)
    return {**rule_params(rules, day), "base": rules.base, "floor": rules.floor,
            "ceiling": rules.ceiling, "failed_since": months_before(day, FAILED_RECENT_MONTHS),
            "grade_mins": mins, "grade_names": names, "rules_key": rules_key(rules)}


def rule_params(rules: RatingRules, day: date) -> dict[str, Any]:
    keys = list(rules.points)
    return {"day": day, "full_since": months_before(day, rules.full_months),
            "window_since": months_before(day, rules.window_months),
            "older_weight": rules.older_weight,
            "rule_kinds": [k for k, _ in keys], "rule_outcomes": [o for _, o in keys],
            "rule_points": [rules.points[k] for k in keys]}


def grade_as_of(conn: Connection, entity_id: int, day: date,
                rules: RatingRules = DEFAULT_RULES) -> Rating:
    """Score and grade of one entity as of `day`, with the events that moved it."""
    rows = conn.execute(_MOVES, {**rule_params(rules, day), "entity_ids": [entity_id]}).all()
    moves = tuple(Move(r.root_id, r.id, r.kind, r.outcome, r.occurred_on, r.points,
                       Decimal(r.weight)) for r in rows)
    score = rules.clamp(rules.base + sum((m.effect for m in moves), Decimal(0)))
    return Rating(day, score, rules.grade_of(score), moves, rules.base)


def grades_for(conn: Connection, entity_ids: Sequence[int], day: date,
               rules: RatingRules = DEFAULT_RULES) -> dict[int, tuple[Decimal, str]]:
    """(score, grade) of several entities in one query; an entity without events has base."""
    rows = conn.execute(_TOTALS, {**rule_params(rules, day),
                                  "entity_ids": list(entity_ids)}).all()
    totals = {r.entity_id: Decimal(r.total) for r in rows}
    out = {}
    for eid in entity_ids:
        score = rules.clamp(rules.base + totals.get(eid, Decimal(0)))
        out[eid] = (score, rules.grade_of(score))
    return out
