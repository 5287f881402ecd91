"""The stored credit standing (sql/012_credit_standing.sql): score, grade and failed samplings
of the last 12 months of each entity with a credit record, as of one day and one rule set.

It exists for speed: a sampling frame reads one narrow row per entity instead of the entity's
events. The figures come from the rating's own SQL (the credit_* functions of
sql/016_credit_functions.sql, in refresh_standings.sql), so a standing equals grade_as_of for its
day and rules. Refreshed

- for one entity by every event written through georeg.credit (events._after_change, the bulk
  import), in the writer's transaction, as of georeg_today();
- for all entities by the daily `georeg credit refresh`, and by the loaders that write events
  in bulk (demo, bench), set-based.

A write to credit_event by any other path marks the entity's row stale (a trigger), so a
reader never takes a stale figure for a current one; it computes from events instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, text

from georeg.credit.rating import DEFAULT_RULES, RatingRules, standing_params
from georeg.database import sql_statement

_PACKAGE = "georeg.credit"  # refresh_standings.sql beside this module


def refresh_standings(conn: Connection, day: date, *, entity_ids: Sequence[int] | None = None,
                      rules: RatingRules = DEFAULT_RULES) -> int:
    """Recompute the standing as of `day` of some entities, or of every entity with events
    (set-based); returns the rows written.

    The whole-registry refresh first blocks event writes until it commits (SHARE lock): an
    event recorded meanwhile would otherwise have its fresh standing overwritten by one
    computed from an older snapshot. For one entity, the trigger's row lock does the same."""
    filtered = entity_ids is not None
    if not filtered:
        conn.execute(text("LOCK TABLE credit_event IN SHARE MODE"))
    params = {**standing_params(rules, day),
              "entity_ids": sorted(set(entity_ids or [])) if filtered else None}
    return conn.execute(sql_statement(_PACKAGE, "refresh_standings.sql"), params).one().written


def refresh_stale_standings(conn: Connection, day: date, *,
                            rules: RatingRules = DEFAULT_RULES) -> int:
    """Recompute only the rows not current as of `day` (stale, older, other rules): what a
    loader calls after writing events in bulk, cheap when little changed."""
    ids = conn.execute(text(
        "SELECT entity_id FROM credit_standing WHERE as_of IS DISTINCT FROM :day "
        "OR rules IS DISTINCT FROM :rules_key ORDER BY 1"),
        {"day": day, "rules_key": standing_params(rules, day)["rules_key"]}).scalars().all()
    return refresh_standings(conn, day, entity_ids=ids, rules=rules) if ids else 0
