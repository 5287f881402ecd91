"""The MRL table (最大残留限量) as data, and the judgement of lab results against it.

The county loads limits from its copy of GB 2763-2021 (pesticides) and GB 31650-2019
(veterinary drugs) with `georeg import mrl FILE` (read by importers.testing_files); the
project ships none. Every row names its standard, clause and the standard's own words. A file
is all or nothing: one bad row (named by its row number and field) stores nothing.

Versions: a row whose limit, standard, clause or text differs from the current one for the same
substance and commodity (or category) closes the current row (`superseded_at`) and is stored as
a new row that `replaces` it; an identical row changes nothing, so re-importing a file is a
no-op. Rows are never deleted, and a row missing from a later file stays in force (files may
hold only the limits a county updates). Each judged analyte keeps the id of the limit version
it was judged against, so an old result still shows the limit of its day.

Judgement of one analyte in one commodity:
- not detected: pass;
- detected, the substance on the banned list for the commodity's category (MOA announcement
  No. 199: vegetables, fruit, tea): fail, whatever the MRL;
- detected, a limit found (the commodity's own row first, else its category's): fail when the
  value is above the limit, pass at or below it; a limit of 0 (不得检出) fails any detection;
- detected, no limit found: `no_limit`, neither pass nor fail: the sample needs review by a
  person (a missing row in the county's table says nothing about the standard).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, any_, func, select, text

from georeg.accounts import Account, Role
from georeg.activity import insert_batch
from georeg.errors import Forbidden
from georeg.tables import commodity
from georeg.tables import mrl as _mrl
from georeg.testing.vocab import CATEGORY_LABELS

LOADING_ROLES = frozenset({Role.county_supervisor, Role.admin})
MAX_ERRORS = 200

# Category names as the standards and the county write them.
CATEGORY_NAMES = {**{v: k for k, v in CATEGORY_LABELS.items()}, **{k: k for k in CATEGORY_LABELS},
                  "蔬菜类": "vegetable", "水果类": "fruit", "谷物类": "grain",
                  "食用菌类": "mushroom", "禽类": "poultry", "家禽": "poultry",
                  "蛋类": "egg", "禽蛋类": "egg", "畜肉类": "livestock", "家畜": "livestock",
                  "水产品类": "aquatic"}
NOT_DETECTABLE = ("不得检出", "不得检出(ND)")
_STANDARD = re.compile(r"(GB(?:/T)?)\s*(\d+(?:\.\d+)?)\s*[-—–]\s*(\d{4})")
VERSIONED = ("limit_mg_kg", "standard", "clause", "source_text")

def normalize_substance(name: str) -> str:
    """One spelling per substance: NFKC (full-width forms to ASCII), no whitespace."""
    return re.sub(r"\s", "", unicodedata.normalize("NFKC", name))


def normalize_standard(value: str) -> str | None:
    m = _STANDARD.fullmatch(unicodedata.normalize("NFKC", value).strip())
    return f"{m[1]} {m[2]}-{m[3]}" if m else None


def check_may_load(account: Account) -> None:
    if account.role not in LOADING_ROLES:
        raise Forbidden("只有县级监管员和系统管理员可以导入限量表")


def store_mrl(conn: Connection, rows: list[dict[str, Any]], *, account: Account,
              filename: str | None = None) -> dict[str, Any]:
    """Store parsed MRL rows (importers.testing_files): new rows added, changed rows versioned,
    identical rows left alone."""
    check_may_load(account)
    current = {(m.substance, m.commodity, m.category): m for m in conn.execute(
        select(_mrl.c.id, _mrl.c.substance, _mrl.c.commodity, _mrl.c.category,
               *(_mrl.c[f] for f in VERSIONED))
        .where(_mrl.c.superseded_at.is_(None),
               _mrl.c.substance == any_(sorted({r["substance"] for r in rows}))))}
    new, replaced, unchanged = [], [], 0
    for r in rows:
        old = current.get((r["substance"], r["commodity"], r["category"]))
        if old is not None and all(getattr(old, f) == r[f] for f in VERSIONED):
            unchanged += 1
            continue
        if old is not None:
            replaced.append(old.id)
        new.append({**r, "replaces": old.id if old is not None else None})
    # Close the old versions first: the unique index allows one current row per key.
    conn.execute(text("UPDATE mrl SET superseded_at = now() WHERE id = ANY(:ids)"),
                 {"ids": replaced})
    columns = ("substance", "commodity", "category", *VERSIONED, "replaces")
    ids = insert_batch(conn, "mrl", columns, new, extra={
        "loaded_by": account.id, "file_name": filename or None}) if new else []
    return {"file": filename, "rows": len(rows), "added": len(new) - len(replaced),
            "replaced": len(replaced), "unchanged": unchanged, "ids": ids}


def list_mrl(conn: Connection, *, substance: str | None = None, history: bool = False,
             limit: int = 100, offset: int = 0) -> dict[str, Any]:
    m, c = _mrl.alias("m"), commodity.alias("c")
    where = []
    if substance:
        where.append(m.c.substance == normalize_substance(substance))
    if not history:
        where.append(m.c.superseded_at.is_(None))
    total = conn.execute(select(func.count()).select_from(m).where(*where)).scalar_one()
    rows = conn.execute(
        select(m.c.id, m.c.substance, m.c.commodity, c.c.name_zh.label("commodity_name"),
               m.c.category, m.c.limit_mg_kg, m.c.standard, m.c.clause, m.c.source_text,
               m.c.file_name, m.c.loaded_at, m.c.replaces, m.c.superseded_at)
        .select_from(m.outerjoin(c, c.c.slug == m.c.commodity)).where(*where)
        .order_by(m.c.substance, m.c.commodity.nulls_last(), m.c.category, m.c.id)
        .limit(limit).offset(offset)).all()
    return {"total": total, "items": [
        {**r._asdict(), "limit_mg_kg": float(r.limit_mg_kg),
         "category_label": CATEGORY_LABELS.get(r.category or ""),
         "current": r.superseded_at is None} for r in rows]}


@dataclass(frozen=True)
class Analyte:
    commodity: str  # commodity slug of the sample
    substance: str  # normalised
    detected: bool
    value_mg_kg: Decimal | None


@dataclass(frozen=True)
class Judgement:
    judgement: str  # pass | fail | no_limit
    basis: str  # not_detected | within_limit | over_limit | banned | no_limit
    mrl_id: int | None = None
    limit_mg_kg: Decimal | None = None
    standard: str | None = None
    clause: str | None = None
    banned_source: str | None = None


_LOOKUP = text("""
SELECT u.i, m.id AS mrl_id, m.limit_mg_kg, m.standard, m.clause,
       CASE WHEN c.category = ANY(b.categories) THEN b.source END AS banned_source
FROM unnest(CAST(:commodity AS text[]), CAST(:substance AS text[])) WITH ORDINALITY
     AS u(commodity, substance, i)
JOIN commodity c ON c.slug = u.commodity
LEFT JOIN LATERAL (
    SELECT * FROM mrl m
    WHERE m.superseded_at IS NULL AND m.substance = u.substance
      AND (m.commodity = u.commodity OR m.category = c.category)
    ORDER BY m.commodity IS NULL  -- the commodity's own limit before its category's
    LIMIT 1) m ON true
LEFT JOIN banned_substance b ON b.substance = u.substance
ORDER BY u.i
""")


def judge(conn: Connection, analytes: Sequence[Analyte]) -> list[Judgement]:
    """Judge analytes against the current MRL table and the banned list, in one query."""
    if not analytes:
        return []
    found = conn.execute(_LOOKUP, {"commodity": [a.commodity for a in analytes],
                                   "substance": [a.substance for a in analytes]}).all()
    out = []
    for a, f in zip(analytes, found, strict=True):
        limit = dict(mrl_id=f.mrl_id, limit_mg_kg=f.limit_mg_kg, standard=f.standard,
                     clause=f.clause, banned_source=f.banned_source)
        if not a.detected:
            out.append(Judgement("pass", "not_detected", **limit))
        elif f.banned_source is not None:
            out.append(Judgement("fail", "banned", **limit))
        elif f.mrl_id is None:
            out.append(Judgement("no_limit", "no_limit", **limit))
        elif f.limit_mg_kg == 0 or (a.value_mg_kg or Decimal(0)) > f.limit_mg_kg:
            out.append(Judgement("fail", "over_limit", **limit))
        else:
            out.append(Judgement("pass", "within_limit", **limit))
    return out


def sample_result(judgements: Sequence[Judgement]) -> str:
    """A sample fails with any failed analyte; else a detection without a limit needs review."""
    found = {j.judgement for j in judgements}
    return "fail" if "fail" in found else "review" if "no_limit" in found else "pass"
