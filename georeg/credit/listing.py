"""The key-supervision list (重点监管名单): membership by rule or by hand, with its history.

Rules (as of a day D, corrections applied): an effective failed sampling or a penalty dated
within the last `listing_months` months (D - 12 months, D], or the lowest grade as of D.
`refresh_key_supervision` opens a listing for each (entity, reason) that applies and has none
open, and closes open rule listings that no longer apply, on D. Run it daily; recording an
event runs it for that entity at once. Manual listings are opened and closed by an authorised
account with a reason and are never closed by the rules. Dates: `listed_on` is the first day
on the list, `delisted_on` the first day off it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from georeg.accounts import Account, Role
from georeg.credit.rating import DEFAULT_RULES, RatingRules, months_before, rule_params
from georeg.credit.vocab import REASON_LABELS, SOURCE_LABELS
from georeg.database import sql_statement
from georeg.errors import FieldError, Forbidden, InvalidInput, NotFound
from georeg.registry import KIND_LABELS, Kind

LISTING_ROLES = frozenset({Role.county_supervisor, Role.admin, Role.credit_clerk})
_PACKAGE = "georeg.credit"  # refresh_listings.sql beside this module


def refresh_key_supervision(conn: Connection, today: date, *,
                            entity_ids: Sequence[int] | None = None,
                            rules: RatingRules = DEFAULT_RULES) -> tuple[int, int]:
    """Bring rule-based listings in line with the events as of `today`, set-based, for the
    whole registry or some entities; entity.key_supervision follows (a trigger). Returns
    (opened, closed)."""
    params = {**rule_params(rules, today), "base": rules.base, "floor": rules.floor,
              "ceiling": rules.ceiling, "lowest_threshold": rules.lowest_threshold,
              "listing_since": months_before(today, rules.listing_months),
              "entity_ids": None if entity_ids is None else list(entity_ids)}
    row = conn.execute(sql_statement(_PACKAGE, "refresh_listings.sql"), params).one()
    return row.opened, row.closed


def _check_role(account: Account) -> None:
    if account.role not in LISTING_ROLES:
        raise Forbidden("只有县级监管员、信用管理员和系统管理员可以人工调整重点监管名单")


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        msg = "须注明原因"
        raise InvalidInput(msg, [FieldError("reason", "required", msg)])
    return reason


def list_manually(conn: Connection, entity_id: int, *, reason: str, account: Account,
                  today: date) -> int:
    """Put an entity on the list by hand; a second open manual listing is a conflict."""
    _check_role(account)
    return conn.execute(text(
        "INSERT INTO key_supervision_listing (entity_id, source, reason_code, detail, listed_on, "
        "listed_by) VALUES (:e, 'manual', 'manual', :d, :day, :a) RETURNING id"),
        {"e": entity_id, "d": _reason(reason), "day": today, "a": account.id}).scalar_one()


def delist_manually(conn: Connection, entity_id: int, *, reason: str, account: Account,
                    today: date) -> None:
    """Close the entity's open manual listing; listings by rule stay while their rule holds."""
    _check_role(account)
    reason = _reason(reason)
    closed = conn.execute(text(
        "UPDATE key_supervision_listing SET delisted_on = greatest(CAST(:day AS date), listed_on), "
        "delisted_by = :a, delist_reason = :r "
        "WHERE entity_id = :e AND source = 'manual' AND delisted_on IS NULL"),
        {"e": entity_id, "day": today, "a": account.id, "r": reason}).rowcount
    if not closed:
        msg = "该主体没有人工列入且未移出的重点监管记录"
        raise NotFound(msg, [FieldError("entity_id", "not_listed", msg)])


def memberships(conn: Connection, entity_id: int, day: date) -> dict[str, Any]:
    """Listings on `day` (current) and every listing ever (history), newest first."""
    rows = conn.execute(text("""
        SELECT l.id, l.source, l.reason_code, l.detail, l.listed_on, l.delisted_on,
               a.display_name AS listed_by, d.display_name AS delisted_by, l.delist_reason
        FROM key_supervision_listing l
        LEFT JOIN account a ON a.id = l.listed_by LEFT JOIN account d ON d.id = l.delisted_by
        WHERE l.entity_id = :e ORDER BY l.listed_on DESC, l.id DESC"""), {"e": entity_id}).all()
    history = [{**r._asdict(), "reason_label": REASON_LABELS[r.reason_code],
                "source_label": SOURCE_LABELS[r.source],
                "active_on_day": r.listed_on <= day and (r.delisted_on is None
                                                         or r.delisted_on > day)}
               for r in rows]
    current = [h for h in history if h["active_on_day"]]
    return {"as_of": day, "listed": bool(current), "current": current, "history": history}


LIST_COLUMNS = [
    ("entity_id", "主体编号"), ("name", "名称"), ("kind_label", "类型"),
    ("uscc", "统一社会信用代码"), ("township_name", "乡镇"), ("reasons", "列入原因"),
    ("listed_on", "列入日期"),
]


def current_members(conn: Connection, *, township: str | None = None) -> list[dict[str, Any]]:
    """Entities on the list now, one row each with all their open reasons."""
    rows = conn.execute(text("""
        SELECT e.id AS entity_id, e.name, e.kind, e.uscc, e.township_code,
               t.name AS township_name, min(l.listed_on) AS listed_on,
               array_agg(l.reason_code ORDER BY l.listed_on, l.id) AS reason_codes
        FROM key_supervision_listing l
        JOIN entity e ON e.id = l.entity_id JOIN township t ON t.code = e.township_code
        WHERE l.delisted_on IS NULL
          AND (CAST(:township AS text) IS NULL OR e.township_code = :township)
        GROUP BY e.id, t.name ORDER BY e.township_code, e.id"""), {"township": township}).all()
    return [{**r._asdict(), "kind_label": KIND_LABELS[Kind(r.kind)],
             "reasons": "；".join(REASON_LABELS[c] for c in r.reason_codes)} for r in rows]
