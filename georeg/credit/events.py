"""Credit events: recording, correcting (amend / void) and reading an entity's timeline.

`record_event` and `correct_event` are the plain entry points for any code that writes an
event (an API call, a bulk import, a failed sample); they take an account id, not a role:
callers that act for a user check the role first (`add_event`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, Connection, column, select, table, text

from georeg.accounts import Account, Role
from georeg.credit.listing import refresh_key_supervision
from georeg.credit.standing import refresh_standings
from georeg.credit.vocab import (
    ACTION_LABELS,
    KIND_LABELS,
    KINDS,
    OUTCOME_LABELS,
    OUTCOMES,
    STATUS_LABELS,
)
from georeg.errors import FieldError, Forbidden, InvalidInput, NotFound
from georeg.validation import invalid

# County-wide roles that record credit events; township supervisors do so in their township.
RECORDING_ROLES = frozenset({Role.credit_clerk, Role.county_supervisor, Role.admin})
TEXT_FIELDS = ("issuing_unit", "document_no", "summary", "evidence_ref")
EVENT_FIELDS = ("kind", "occurred_on", "outcome", *TEXT_FIELDS)
# The columns a correction copies from the event it corrects (sql/008_credit.sql).
_event = table("credit_event", column("id", BigInteger), column("entity_id", BigInteger),
               *(column(f) for f in EVENT_FIELDS))


def may_record(account: Account, township_code: str) -> bool:
    if account.role in RECORDING_ROLES:
        return True
    return account.role == Role.township_supervisor and account.township_code == township_code


def check_may_record(account: Account) -> None:
    """Refuse roles that record no events anywhere (before reading what they sent)."""
    if account.role not in RECORDING_ROLES and account.role != Role.township_supervisor:
        raise Forbidden("本账号无权登记信用事件")


def check_fields(kind: str | None, outcome: str | None, summary: str | None) -> list[FieldError]:
    """What is wrong with an event's kind, outcome and summary (empty when all is well)."""
    errors: list[FieldError] = []
    if kind not in KINDS:
        errors.append(FieldError("kind", "invalid_kind", "事件类型应为："
                                 + "、".join(f"{k}（{v}）" for k, v in KIND_LABELS.items())))
    elif OUTCOMES[kind] and outcome not in OUTCOMES[kind]:
        allowed = "、".join(f"{o}（{OUTCOME_LABELS[o]}）" for o in OUTCOMES[kind])
        errors.append(FieldError("outcome", "invalid_outcome",
                                 f"{KIND_LABELS[kind]}的结果应为：{allowed}"))
    elif not OUTCOMES[kind] and outcome is not None:
        errors.append(FieldError("outcome", "not_allowed", f"{KIND_LABELS[kind]}不填结果"))
    if not (summary or "").strip():
        errors.append(FieldError("summary", "required", "摘要不能为空"))
    return errors


def _entity_township(conn: Connection, entity_id: int) -> str:
    code = conn.execute(text("SELECT township_code FROM entity WHERE id = :id"),
                        {"id": entity_id}).scalar()
    if code is None:
        raise NotFound(f"主体 {entity_id} 不存在",
                       [FieldError("entity_id", "unknown_entity", "主体不存在")])
    return code


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    return value


_INSERT = text("""
INSERT INTO credit_event (entity_id, kind, occurred_on, issuing_unit, document_no, summary,
                          evidence_ref, outcome, action, corrects, reason, recorded_by)
VALUES (:entity_id, :kind, :occurred_on, :issuing_unit, :document_no, :summary,
        :evidence_ref, :outcome, :action, :corrects, :reason, :recorded_by)
RETURNING id""")


def _after_change(conn: Connection, entity_id: int) -> None:
    # A failed sample or a penalty lists the entity at once; a void may delist it. The stored
    # standing follows in the same transaction (the insert trigger has marked it stale).
    today = conn.execute(text("SELECT georeg_today()")).scalar_one()
    refresh_key_supervision(conn, today, entity_ids=[entity_id])
    refresh_standings(conn, today, entity_ids=[entity_id])


def record_event(conn: Connection, *, entity_id: int, kind: str, occurred_on: date,
                 summary: str, recorded_by: int, outcome: str | None = None,
                 issuing_unit: str | None = None, document_no: str | None = None,
                 evidence_ref: str | None = None) -> int:
    """Append an event to an entity's credit record; returns its id.

    A date after today (georeg_today()) is refused by the database.
    """
    row = {"entity_id": entity_id, "kind": kind, "occurred_on": occurred_on,
           "summary": _clean(summary), "outcome": _clean(outcome),
           "issuing_unit": _clean(issuing_unit), "document_no": _clean(document_no),
           "evidence_ref": _clean(evidence_ref)}
    errors = check_fields(row["kind"], row["outcome"], row["summary"])
    if errors:
        raise InvalidInput("提交的数据有误", errors)
    _entity_township(conn, entity_id)
    new_id = conn.execute(_INSERT, {**row, "action": "record", "corrects": None, "reason": None,
                                    "recorded_by": recorded_by}).scalar_one()
    _after_change(conn, entity_id)
    return new_id


def correct_event(conn: Connection, *, entity_id: int, corrects: int, action: str, reason: str,
                  recorded_by: int, changes: dict[str, Any] | None = None) -> int:
    """Append a correction of event `corrects` (of the same entity): `amend` with `changes`
    (fields not given keep the corrected event's values) or `void`; returns the new id."""
    if action not in ("amend", "void"):
        raise invalid("action", "invalid_action", "更正方式应为 amend（更正）或 void（作废）")
    if not (reason or "").strip():
        raise invalid("reason", "required", "更正或作废须注明原因")
    target = conn.execute(select(_event.c.entity_id, *(_event.c[f] for f in EVENT_FIELDS))
                          .where(_event.c.id == corrects)).first()
    if target is None:
        raise invalid("corrects", "unknown_event", "要更正的信用事件不存在")
    if target.entity_id != entity_id:
        raise invalid("corrects", "other_entity", "要更正的信用事件属于其他主体")
    row = {f: getattr(target, f) for f in EVENT_FIELDS}
    if action == "amend":
        row.update({k: _clean(v) for k, v in (changes or {}).items() if k in EVENT_FIELDS})
        if row["kind"] != target.kind and "outcome" not in (changes or {}):
            row["outcome"] = None  # the old outcome belongs to the old kind
        errors = check_fields(row["kind"], row["outcome"], row["summary"])
        if errors:
            raise InvalidInput("提交的数据有误", errors)
    elif changes:
        raise invalid("action", "void_with_changes", "作废时不能同时修改内容；请用 amend")
    new_id = conn.execute(_INSERT, {**row, "entity_id": entity_id, "action": action,
                                    "corrects": corrects, "reason": reason.strip(),
                                    "recorded_by": recorded_by}).scalar_one()
    _after_change(conn, entity_id)
    return new_id


def add_event(conn: Connection, entity_id: int, data: dict[str, Any], *,
              account: Account) -> int:
    """An event or a correction submitted by a user, within the user's role and township."""
    township = _entity_township(conn, entity_id)
    if not may_record(account, township):
        raise Forbidden("本账号无权为该主体登记信用事件")
    if data.get("corrects") is not None:
        changes = {k: v for k, v in data.items() if k in EVENT_FIELDS}
        return correct_event(conn, entity_id=entity_id, corrects=data["corrects"],
                             action=data.get("action") or "amend", reason=data.get("reason") or "",
                             recorded_by=account.id, changes=changes)
    errors = [FieldError(f, "not_allowed", "只有更正（填写 corrects）时才填写此项")
              for f in ("action", "reason") if data.get(f) is not None]
    if data.get("occurred_on") is None:
        errors.append(FieldError("occurred_on", "required", "须填写事件日期"))
    if errors:
        raise InvalidInput("提交的数据有误", errors)
    return record_event(conn, entity_id=entity_id, recorded_by=account.id,
                        kind=data.get("kind") or "", occurred_on=data["occurred_on"],
                        summary=data.get("summary") or "", outcome=data.get("outcome"),
                        issuing_unit=data.get("issuing_unit"),
                        document_no=data.get("document_no"),
                        evidence_ref=data.get("evidence_ref"))


_TIMELINE = text("""
SELECT ce.id, ce.kind, ce.occurred_on, ce.issuing_unit, ce.document_no, ce.summary,
       ce.evidence_ref, ce.outcome, ce.action, ce.corrects, ce.reason, ce.root_id,
       ce.recorded_at, a.display_name AS recorded_by,
       first_value(ce.id) OVER newest_first AS head_id,
       first_value(ce.action) OVER newest_first AS head_action
FROM credit_event ce JOIN account a ON a.id = ce.recorded_by
WHERE ce.entity_id = :id
WINDOW newest_first AS (PARTITION BY ce.root_id ORDER BY ce.id DESC)
ORDER BY ce.occurred_on DESC, ce.id DESC""")


def _status(row: Any) -> str:
    if row.action == "void" and row.id == row.head_id:
        return "void"
    if row.head_action == "void":
        return "voided"
    return "effective" if row.id == row.head_id else "superseded"


def timeline(conn: Connection, entity_id: int) -> list[dict[str, Any]]:
    """Every row of the record, newest first; each correction names what it corrects and each
    row says how it stands (effective, superseded, voided, or the void itself)."""
    rows = conn.execute(_TIMELINE, {"id": entity_id}).all()
    by_id = {r.id: r for r in rows}
    out = []
    for r in rows:
        status = _status(r)
        corrected = by_id.get(r.corrects) if r.corrects else None
        out.append({
            "id": r.id, "kind": r.kind, "kind_label": KIND_LABELS[r.kind],
            "occurred_on": r.occurred_on, "issuing_unit": r.issuing_unit,
            "document_no": r.document_no, "summary": r.summary, "evidence_ref": r.evidence_ref,
            "outcome": r.outcome,
            "outcome_label": OUTCOME_LABELS.get(r.outcome) if r.outcome else None,
            "action": r.action, "action_label": ACTION_LABELS[r.action],
            "corrects": r.corrects, "reason": r.reason, "original_id": r.root_id,
            "corrected": None if corrected is None else {
                "id": corrected.id, "kind_label": KIND_LABELS[corrected.kind],
                "occurred_on": corrected.occurred_on, "summary": corrected.summary},
            "superseded_by": None if status in ("effective", "void") else r.head_id,
            "status": status, "status_label": STATUS_LABELS[status],
            "recorded_by": r.recorded_by, "recorded_at": r.recorded_at})
    return out


def get_event(conn: Connection, event_id: int) -> dict[str, Any]:
    entity_id = conn.execute(text("SELECT entity_id FROM credit_event WHERE id = :id"),
                             {"id": event_id}).scalar()
    if entity_id is None:
        raise NotFound("信用事件不存在", [FieldError("event_id", "not_found", "信用事件不存在")])
    return {"entity_id": entity_id,
            **next(e for e in timeline(conn, entity_id) if e["id"] == event_id)}


def insert_events(conn: Connection, events: Sequence[dict[str, Any]], *, account: Account,
                  today: date) -> list[int]:
    """Store checked events (importers.credit_files) in one statement, then refresh the
    key-supervision list and the standings of their entities; the new ids, sorted."""
    ids = list(conn.execute(text("""
        INSERT INTO credit_event (entity_id, kind, occurred_on, outcome, issuing_unit,
                                  document_no, summary, evidence_ref, recorded_by)
        SELECT entity_id, kind, occurred_on, outcome, issuing_unit, document_no, summary,
               evidence_ref, :recorded_by
        FROM unnest(CAST(:entity_id AS bigint[]), CAST(:kind AS text[]),
                    CAST(:occurred_on AS date[]), CAST(:outcome AS text[]),
                    CAST(:issuing_unit AS text[]), CAST(:document_no AS text[]),
                    CAST(:summary AS text[]), CAST(:evidence_ref AS text[]))
             WITH ORDINALITY AS u(entity_id, kind, occurred_on, outcome, issuing_unit,
                                  document_no, summary, evidence_ref, n)
        ORDER BY u.n RETURNING id"""),  # the insert trigger still checks every row
        {**{c: [e[c] for e in events] for c in _EVENT_COLUMNS}, "recorded_by": account.id}
    ).scalars())
    entity_ids = sorted({e["entity_id"] for e in events})
    refresh_key_supervision(conn, today, entity_ids=entity_ids)
    refresh_standings(conn, today, entity_ids=entity_ids)
    return sorted(ids)


_EVENT_COLUMNS = ("entity_id", "kind", "occurred_on", "outcome", "issuing_unit", "document_no",
                  "summary", "evidence_ref")
