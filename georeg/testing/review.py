"""Settling lab samples to review (复核判定).

A detection with no limit in the county's MRL table leaves its analyte `no_limit` and the
sample 待复核 (`review`): a missing row says nothing about the standard, so a person decides.
A county supervisor (or admin) decides every such analyte pass or fail, each with a written
basis (the standard, reference limit or source applied) and optionally the reference limit.
The decision is stored beside the automatic judgement, which is kept as evidence; the sample's
result becomes fail if any analyte (automatic or decided) fails, else pass, and the credit
event follows the rules of every lab result (georeg.testing.results._lab_credit), in the same
transaction. A decision is final: settling twice is a conflict.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, text

from georeg.accounts import Account, Role
from georeg.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from georeg.testing.mrl import Judgement, normalize_substance
from georeg.testing.results import _lab_credit, _standing, get_lab_result
from georeg.testing.vocab import JUDGEMENT_LABELS, RESULT_LABELS
from georeg.validation import invalid

SETTLING_ROLES = frozenset({Role.county_supervisor, Role.admin})
BODY_FIELDS = ("decisions", "note")
DECISION_FIELDS = ("substance", "judgement", "basis", "limit_mg_kg")
MAX_TEXT = 1000
_JUDGEMENTS = {"pass": "pass", "fail": "fail", "合格": "pass", "不合格": "fail"}


def _text(value: Any, field: str, label: str, errors: list[FieldError], *,
          required: bool) -> str | None:
    if value is not None and not isinstance(value, str):
        errors.append(FieldError(field, "invalid", f"{label}应为文本"))
        return None
    value = (value or "").strip() or None
    if value is None and required:
        errors.append(FieldError(field, "required", f"须写明{label}"))
    elif value is not None and len(value) > MAX_TEXT:
        errors.append(FieldError(field, "too_long", f"{label}至多 {MAX_TEXT} 字"))
        return None
    return value


def _limit(value: Any, field: str, errors: list[FieldError]) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        d = None if isinstance(value, bool) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        d = None
    if d is None or not d.is_finite() or d < 0:
        errors.append(FieldError(field, "invalid_number", "参考限量应为不小于 0 的数（mg/kg）"))
        return None
    return d


def _read_decisions(raw: Any, analytes: dict[str, Any],
                    errors: list[FieldError]) -> dict[str, dict[str, Any]]:
    """Decisions by substance; what is wrong named by `decisions[n].field` (n from 1)."""
    if not isinstance(raw, list) or not raw:
        errors.append(FieldError("decisions", "required",
                                 "须对每个待复核的检测项目作出判定（decisions）"))
        return {}
    decided: dict[str, dict[str, Any]] = {}
    first_at: dict[str, int] = {}
    for n, item in enumerate(raw, start=1):
        at = f"decisions[{n}]"
        if not isinstance(item, dict):
            errors.append(FieldError(at, "not_an_object", f"第 {n} 项判定应为对象"))
            continue
        errors.extend(FieldError(f"{at}.{k}", "not_allowed", f"不认识的字段 {k}")
                      for k in item if k not in DECISION_FIELDS)
        name = _text(item.get("substance"), f"{at}.substance", "检测项目（substance）", errors,
                     required=True)
        substance = normalize_substance(name) if name else None
        raw_judgement = item.get("judgement")
        judgement = _JUDGEMENTS.get(raw_judgement) if isinstance(raw_judgement, str) else None
        if judgement is None:
            errors.append(FieldError(f"{at}.judgement", "invalid_choice" if raw_judgement
                                     is not None else "required",
                                     "判定应为 pass（合格）或 fail（不合格）"))
        basis = _text(item.get("basis"), f"{at}.basis",
                      "判定依据（如采用的标准、参考限量或文献）", errors, required=True)
        limit = _limit(item.get("limit_mg_kg"), f"{at}.limit_mg_kg", errors)
        if substance is None:
            continue
        analyte = analytes.get(substance)
        if analyte is None:
            errors.append(FieldError(f"{at}.substance", "unknown_substance",
                                     "该样品没有这个检测项目"))
            continue
        if analyte.judgement != "no_limit":
            errors.append(FieldError(
                f"{at}.substance", "not_under_review",
                f"检测项目“{substance}”已按限量表判定为"
                f"{JUDGEMENT_LABELS[analyte.judgement]}，不需复核"))
            continue
        if substance in first_at:
            errors.append(FieldError(f"{at}.substance", "duplicate",
                                     f"检测项目“{substance}”已在第 {first_at[substance]} 项判定，"
                                     "每个检测项目只判定一次"))
            continue
        first_at[substance] = n
        # A reference limit given must agree with the decision, by the rule of the MRL table.
        if judgement is not None and limit is not None:
            over = limit == 0 or analyte.value_mg_kg > limit
            if (judgement == "fail") != over:
                errors.append(FieldError(
                    f"{at}.judgement", "contradicts_limit",
                    f"检出值 {analyte.value_mg_kg} mg/kg "
                    + ("超过" if over else "不超过")
                    + f"所填参考限量 {limit} mg/kg，判定应为" + ("不合格" if over else "合格")))
        decided[substance] = {"judgement": judgement, "basis": basis, "limit_mg_kg": limit}
    return decided


def check_may_settle(account: Account) -> None:
    if account.role not in SETTLING_ROLES:
        raise Forbidden("只有县级监管员和系统管理员可以复核判定定量检测结果")


def settle_review(conn: Connection, sample_id: int, decisions: Any, *, account: Account,
                  note: Any = None) -> dict[str, Any]:
    """Decide a sample to review analyte by analyte; returns the sample as the listing gives it.

    Refused (nothing written): roles other than county supervisor and admin (Forbidden), an
    unknown sample (NotFound), a sample not to review or already settled (Conflict), and any
    missing, unknown, duplicate or ill-formed decision (InvalidInput, all at once).
    """
    check_may_settle(account)
    # Locked: two reviewers settling at once are one settlement and one conflict.
    sample = conn.execute(text("""
        SELECT id, entity_id, commodity, sampled_on, kind, lab, report_no, result, reviewed_at
        FROM lab_sample WHERE id = :id FOR UPDATE"""), {"id": sample_id}).first()
    if sample is None:
        raise NotFound("定量检测样品不存在",
                       [FieldError("sample_id", "not_found", "定量检测样品不存在")])
    if sample.reviewed_at is not None:
        msg = f"该样品已复核判定为{RESULT_LABELS[sample.result]}，不能再次判定"
        raise Conflict(msg, [FieldError("sample_id", "already_settled", msg)])
    if sample.result != "review":
        msg = f"该样品已按限量表判定为{RESULT_LABELS[sample.result]}，不需复核"
        raise Conflict(msg, [FieldError("sample_id", "not_under_review", msg)])
    rows = conn.execute(text("""
        SELECT a.id, a.substance, a.detected, a.value_mg_kg, a.judgement, a.basis, a.mrl_id,
               a.limit_mg_kg, m.standard, m.clause
        FROM lab_analyte a LEFT JOIN mrl m ON m.id = a.mrl_id
        WHERE a.sample_id = :id ORDER BY a.id"""), {"id": sample_id}).all()
    analytes = {a.substance: a for a in rows}
    errors: list[FieldError] = []
    decided = _read_decisions(decisions, analytes, errors)
    errors.extend(FieldError("decisions", "missing_decision",
                             f"检测项目“{a.substance}”待复核，须作出判定")
                  for a in rows if a.judgement == "no_limit" and a.substance not in decided)
    note_text = _text(note, "note", "说明（note）", errors, required=False)
    if errors:
        raise InvalidInput(f"{len(errors)} 处错误，未作复核判定", errors)

    conn.execute(text("""
        UPDATE lab_analyte SET review_judgement = :judgement, review_basis = :basis,
                               review_limit_mg_kg = :limit_mg_kg
        WHERE sample_id = :sample_id AND substance = :substance"""),
        [{"sample_id": sample_id, "substance": s, **d} for s, d in decided.items()])
    analyte_rows = [{"substance": a.substance, "value_mg_kg": a.value_mg_kg,
                     "judgement": Judgement(a.judgement, a.basis, a.mrl_id, a.limit_mg_kg,
                                            a.standard, a.clause),
                     "decision": decided.get(a.substance)} for a in rows]
    result = "fail" if any(_standing(a) == "fail" for a in analyte_rows) else "pass"
    conn.execute(text("""
        UPDATE lab_sample SET result = :result, reviewed_by = :by, reviewed_at = now(),
                              review_note = :note
        WHERE id = :id"""), {"result": result, "by": account.id, "note": note_text,
                             "id": sample_id})
    _lab_credit(conn, sample_id, {**sample._asdict(), "result": result,
                                  "analytes": analyte_rows}, account, reviewed=True)
    return get_lab_result(conn, sample_id)


def settle_review_request(conn: Connection, sample_id: int, body: Any, *,
                          account: Account) -> dict[str, Any]:
    """settle_review from an API body {"decisions": [...], "note": "..."}."""
    check_may_settle(account)  # before reading what was sent
    if not isinstance(body, dict):
        raise invalid("body", "not_an_object", "请求内容应为对象")
    unknown = [FieldError(k, "not_allowed", f"不认识的字段 {k}") for k in body
               if k not in BODY_FIELDS]
    if unknown:
        raise InvalidInput("提交的数据有误", unknown)
    return settle_review(conn, sample_id, body.get("decisions"), account=account,
                         note=body.get("note"))
