"""Finding an entity's credit record: by name (partial), USCC, resident ID or phone.

ID and phone numbers are looked up only through their keyed hashes (the plain number is never
stored, logged or echoed); the API takes them in a POST body so they stay out of URLs.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from sqlalchemy import Connection, select, text

from georeg.accounts import PII_ROLES, Account
from georeg.credit.rating import DEFAULT_RULES, GRADE_LABELS, RatingRules, grades_for
from georeg.database import sql_statement
from georeg.errors import FieldError, Forbidden, InvalidInput
from georeg.ids import IdentifierError, normalize_phone, normalize_resident_id, normalize_uscc
from georeg.pii import PiiCipher, record_pii_access
from georeg.registry import KIND_LABELS, Kind
from georeg.tables import entity, township

SEARCH_LIMIT = 20
CANDIDATES = 500

_PACKAGE = "georeg.credit"  # search_by_name.sql beside this module

# An exact lookup's rows; search_by_name.sql returns the same columns.
_FOUND = select(
    entity.c.id, entity.c.kind, entity.c.name, entity.c.uscc, entity.c.resident_id_masked,
    entity.c.phone_masked, entity.c.township_code, township.c.name.label("township_name"),
    entity.c.key_supervision,
).join_from(entity, township, township.c.code == entity.c.township_code)
# The keyed hash of each personal number (georeg.pii), the column it is looked up in.
_HASH_COLUMNS = {"resident_id": entity.c.resident_id_hash, "phone": entity.c.phone_hash}

# A query of letters and digits only is a code, not a Chinese name.
_CODE_LIKE = re.compile(r"[0-9A-Za-z]+")


def _is_personal(value: str, today: date) -> bool:
    for check in (lambda v: normalize_resident_id(v, today), normalize_phone):
        try:
            check(value)
            return True
        except IdentifierError:
            pass
    return False


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


def _with_grades(conn: Connection, rows: list[Any], day: date,
                 rules: RatingRules) -> list[dict[str, Any]]:
    grades = grades_for(conn, [r.id for r in rows], day, rules)
    out = []
    for r in rows:
        score, grade = grades[r.id]
        item = {"id": r.id, "kind": r.kind, "kind_label": KIND_LABELS[Kind(r.kind)],
                "name": r.name, "township_code": r.township_code,
                "township_name": r.township_name, "key_supervision": r.key_supervision,
                "phone": r.phone_masked, "score": float(score), "grade": grade,
                "grade_label": GRADE_LABELS.get(grade, grade)}
        if r.kind == "smallholder":
            item["resident_id"] = r.resident_id_masked
        else:
            item["uscc"] = r.uscc
        out.append(item)
    return out


def search(conn: Connection, q: str, *, today: date,
           rules: RatingRules = DEFAULT_RULES) -> dict[str, Any]:
    """By USCC when the query is a code, else by name (partial, ranked, at most 20)."""
    query = unicodedata.normalize("NFKC", q).strip()
    compact = re.sub(r"[\s\-]", "", query)
    if not query:
        msg = "请输入名称或统一社会信用代码"
        raise InvalidInput(msg, [FieldError("q", "required", msg)])
    if _CODE_LIKE.fullmatch(compact) and any(c.isdigit() for c in compact):
        try:
            uscc = normalize_uscc(compact)
        except IdentifierError as e:
            if _is_personal(compact, today):
                # An ID or phone number: point to the POST form (and never echo the number).
                msg = "身份证号和电话号码请通过 POST /api/v1/credit/search 在请求体中查询"
                raise InvalidInput(msg, [FieldError("q", "personal_number_in_url", msg)]) from e
            raise InvalidInput(e.message, [FieldError("q", e.code, e.message)]) from e
        rows = conn.execute(_FOUND.where(entity.c.uscc == uscc)).all()
        return {"by": "uscc", "results": _with_grades(conn, rows, today, rules)}
    if len(query) < 2:
        msg = "按名称查找请至少输入两个字"
        raise InvalidInput(msg, [FieldError("q", "too_short", msg)])
    # A prepared statement's generic plan cannot tell whether the index suits the pattern and
    # reads every entity (~0.2 s a million); plan each search for its own pattern.
    conn.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))
    rows = conn.execute(sql_statement(_PACKAGE, "search_by_name.sql"), {
        "q": query, "bigram": query if len(query) == 2 else None,
        "pattern": f"%{_escape_like(query)}%", "prefix": f"{_escape_like(query)}%",
        "limit": SEARCH_LIMIT, "candidates": CANDIDATES + 1}).all()
    # More candidates than ranked: the client should ask for a longer name.
    more = bool(rows) and rows[0].matched > CANDIDATES
    return {"by": "name", "results": _with_grades(conn, rows, today, rules),
            "truncated": more,
            "message": f"匹配的主体过多，只在前 {CANDIDATES} 个中排序；请输入更完整的名称"
            if more else None}


def search_personal(conn: Connection, *, cipher: PiiCipher, today: date,
                    resident_id: str | None = None, phone: str | None = None,
                    rules: RatingRules = DEFAULT_RULES,
                    account: Account | None = None) -> dict[str, Any]:
    """Exact lookup by resident ID or phone (exactly one) through the keyed hash.

    Through the API (`account` given): only the roles that see personal numbers (PII_ROLES),
    and each entity found is recorded in pii_access (docs/domain.md, "Personal data")."""
    if account is not None and account.role not in PII_ROLES:
        raise Forbidden("本账号不能按身份证号或电话查找")
    if (resident_id is None) == (phone is None):
        msg = "请只提供 resident_id 或 phone 其中之一"
        raise InvalidInput(msg, [FieldError("body", "one_of", msg)])
    field, value = ("resident_id", resident_id) if resident_id is not None else ("phone", phone)
    try:
        normal = (normalize_resident_id(value or "", today) if field == "resident_id"
                  else normalize_phone(value or ""))
    except IdentifierError as e:
        raise InvalidInput(e.message, [FieldError(field, e.code, e.message)]) from e
    found = (_FOUND.where(_HASH_COLUMNS[field] == cipher.lookup_hash(field, normal))
             .order_by(entity.c.id).limit(SEARCH_LIMIT))
    rows = conn.execute(found).all()
    if account is not None:
        record_pii_access(conn, account=account, entity_ids=[r.id for r in rows],
                          fields=[field], purpose=f"POST /credit/search ({field})")
    return {"by": field, "results": _with_grades(conn, rows, today, rules)}
