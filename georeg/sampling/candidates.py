"""The candidate frame of a sampling plan: one spatial query, numbers only.

The sampling unit is an entity that grows or raises the commodity, placed at its MAIN plot for
that commodity: the largest by area_mu (a tie goes to the lowest plot id), over all its plots
of the commodity, not only those in the area. So an owner of many plots counts once, and an
entity belongs to one place per commodity whatever area is drawn: it is in the frame when that
main plot's point (ST_PointOnSurface) lies in the area. With several commodities the unit is
(entity, commodity). Buyers are not growers and never enter a frame.

The query (frame.sql) returns ids, projected x/y in metres and small codes, ordered by (entity,
commodity), so that the same request on the same data gives the same frame in the same order; no
geometry object leaves the database. Credit figures (the grade's score and failed samplings in
the last 12 months) come from the rating's own SQL (sql/016_credit_functions.sql), so a plan
weighs an entity by the grade the credit record shows: read from the entity's stored standing
(sql/012) when it is current for the plan's day and rules (the normal case after the daily
refresh), computed from its events otherwise. The choice is per entity, inside the one query: an
entity whose events changed today was refreshed with them, so only the rest fall back when the
daily refresh has not run; a plan dated in the past computes every entity. An entity without a
standing has no events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy import Connection

from georeg.credit.rating import DEFAULT_RULES, FAILED_RECENT_MONTHS, RatingRules, standing_params
from georeg.database import sql_source, sql_statement

FAILED_SAMPLE_MONTHS = FAILED_RECENT_MONTHS

_PACKAGE = "georeg.sampling"  # frame.sql beside this module


@dataclass(frozen=True)
class Frame:
    """One row per unit, aligned arrays, ordered by (entity_id, commodity)."""
    entity_id: np.ndarray  # int64
    plot_id: np.ndarray  # int64
    x: np.ndarray  # metres, in the plan's Gauss-Kruger zone
    y: np.ndarray
    commodity: np.ndarray  # int: index into the requested commodity list
    township: np.ndarray  # int64: the 12-digit code as a number
    grid: np.ndarray  # int64; -1 outside every grid
    smallholder: np.ndarray  # bool
    key_supervision: np.ndarray  # bool
    score: np.ndarray  # float: credit score as of today (base when no events)
    grade: np.ndarray  # str: credit grade
    failed: np.ndarray  # int: failed samplings in the last 12 months
    recently_sampled: np.ndarray  # bool: inside the exclusion window

    def __len__(self) -> int:
        return len(self.entity_id)

    def take(self, keep: np.ndarray) -> Frame:
        return Frame(**{name: getattr(self, name)[keep]
                        for name in self.__dataclass_fields__})


def frame_sql() -> str:
    """The frame query's text (frame.sql), for EXPLAIN; parameters from frame_params."""
    return sql_source(_PACKAGE, "frame.sql")


def frame_params(*, area_ewkb: bytes, commodities: Sequence[str], srid: int, today: date,
                 exclude_days: int, with_credit: bool,
                 rules: RatingRules = DEFAULT_RULES) -> dict[str, object]:
    """`with_credit` False leaves the credit record unread (score NULL, failed 0), and
    `exclude_days` 0 the exclusion window: the planner folds either branch away."""
    return {"area": area_ewkb, "commodities": list(commodities), "srid": srid,
            "sampled_after": today - timedelta(days=exclude_days) if exclude_days > 0 else None,
            "with_credit": with_credit, **standing_params(rules, today)}


def fetch_frame(conn: Connection, *, area_ewkb: bytes, commodities: Sequence[str], srid: int,
                today: date, exclude_days: int, with_credit: bool,
                rules: RatingRules = DEFAULT_RULES) -> Frame:
    """The frame in one round trip; `with_credit` False skips the credit record (no weights
    depend on it), which is the costly part on a large frame."""
    params = frame_params(area_ewkb=area_ewkb, commodities=commodities, srid=srid, today=today,
                          exclude_days=exclude_days, with_credit=with_credit, rules=rules)
    rows = conn.execute(sql_statement(_PACKAGE, "frame.sql"), params).all()
    n = len(rows)
    cols = list(zip(*rows, strict=True)) if n else [()] * 12
    # no credit record (or not asked for): the base score
    base = float(rules.clamp(Decimal(rules.base)))
    score = np.array([base if v is None else float(v) for v in cols[9]], dtype=float)
    return Frame(
        entity_id=np.array(cols[0], dtype=np.int64),
        plot_id=np.array(cols[1], dtype=np.int64),
        x=np.array(cols[2], dtype=float),
        y=np.array(cols[3], dtype=float),
        commodity=np.array(cols[4], dtype=np.int64),
        township=np.array(cols[5], dtype=np.int64),
        grid=np.array(cols[6], dtype=np.int64),
        smallholder=np.array(cols[7], dtype=bool),
        key_supervision=np.array(cols[8], dtype=bool),
        score=score,
        grade=grades_of(score, rules),
        failed=np.array(cols[10], dtype=np.int64),
        recently_sampled=np.array(cols[11], dtype=bool))


def grades_of(score: np.ndarray, rules: RatingRules = DEFAULT_RULES) -> np.ndarray:
    """RatingRules.grade_of over an array: the first threshold (highest first) reached."""
    out = np.full(len(score), rules.lowest_grade, dtype=object)
    for grade, threshold in reversed(rules.grades):
        out[score >= threshold] = grade
    return out
