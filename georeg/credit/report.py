"""One entity's credit record as data (API), as a printable HTML page and as plain text (CLI).

Personal numbers are masked in all three; the API alone may reveal them, to entitled roles.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import Connection

from georeg import __version__, registry
from georeg.clock import CST
from georeg.credit.events import timeline
from georeg.credit.listing import memberships
from georeg.credit.rating import DEFAULT_RULES, RatingRules, grade_as_of
from georeg.registry import KIND_LABELS, Kind


def entity_summary(row: Any) -> dict[str, Any]:
    """The entity as the credit record shows it: ID and phone masked."""
    out = {"id": row.id, "kind": row.kind, "kind_label": KIND_LABELS[Kind(row.kind)],
           "name": row.name, "township_code": row.township_code,
           "township_name": row.township_name, "village": row.village, "address": row.address,
           "phone": row.phone_masked, "key_supervision": row.key_supervision,
           "pii_masked": True}
    if row.kind == Kind.smallholder:
        out["resident_id"] = row.resident_id_masked
    else:
        out.update(uscc=row.uscc, legal_representative=row.legal_representative)
    return out


def credit_record(conn: Connection, entity_id: int, *, as_of: date,
                  rules: RatingRules = DEFAULT_RULES) -> dict[str, Any]:
    """Entity, grade as of `as_of` with the events that moved it, list membership, timeline."""
    row = registry.get_entity(conn, entity_id)
    return {"entity": entity_summary(row),
            "rating": grade_as_of(conn, entity_id, as_of, rules).as_dict(),
            "key_supervision": memberships(conn, entity_id, as_of),
            "events": timeline(conn, entity_id),
            "rules": rules.describe()}


def exported_fields(entity: dict[str, Any]) -> list[str]:
    """What personal data an export of this record carries (for pii_access)."""
    fields = ["name"] if entity["kind"] == Kind.smallholder else []
    fields += [f"{k}_masked" for k in ("resident_id", "phone") if entity.get(k)]
    return fields


# --- HTML ----------------------------------------------------------------------------------

def _cell(value: Any) -> Any:
    """A table cell's value: — when empty, a float without trailing zeros (70.0 → 70)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return value


# Built once; autoescape on, since names and texts come from users. StrictUndefined: a key
# the template misspells fails loudly instead of printing nothing.
_templates = Environment(loader=PackageLoader("georeg.credit", "templates"), autoescape=True,
                         undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                         keep_trailing_newline=True)
_templates.filters["cell"] = _cell


def render_html(record: dict[str, Any], *, generated_at: datetime, generated_by: str) -> str:
    """The record from credit_record as a printable page (templates/credit_report.html)."""
    return _templates.get_template("credit_report.html").render(
        record=record, version=__version__, generated_by=generated_by,
        generated_on=generated_at.astimezone(CST).strftime("%Y-%m-%d %H:%M"))


# --- plain text (georeg credit show) -------------------------------------------------------

def show_text(conn: Connection, entity_id: int, *, as_of: date,
              rules: RatingRules = DEFAULT_RULES) -> str:
    """The credit record for a terminal: masked personal data, grade, list, timeline."""
    rec = credit_record(conn, entity_id, as_of=as_of, rules=rules)
    e, r, ks = rec["entity"], rec["rating"], rec["key_supervision"]
    code = e.get("uscc") or e.get("resident_id") or "—"
    lines = [f"信用档案：{e['name']}（主体 {e['id']}，{e['kind_label']}，{code}，"
             f"{e['township_name']}）",
             f"信用等级（截至 {r['as_of']}）：{r['grade_label']}，信用分 {r['score']:g}"
             f"（基础分 {r['base']}）"]
    for m in r["moves"]:
        outcome = f"/{m['outcome_label']}" if m["outcome_label"] else ""
        lines.append(f"  #{m['event_id']:<8} {m['occurred_on']}  {m['kind_label']}{outcome}  "
                     f"{m['points']:+d} × {m['weight']:g} = {m['effect']:+g}")
    if ks["listed"]:
        lines.append("重点监管名单：在名单中（"
                     + "；".join(f"{c['reason_label']}，{c['listed_on']} 起" for c in ks["current"])
                     + "）")
    else:
        lines.append("重点监管名单：不在名单中")
    for h in ks["history"]:
        if not h["active_on_day"]:
            lines.append(f"  曾列入 {h['listed_on']} 至 {h['delisted_on']}：{h['reason_label']}")
    lines.append(f"信用记录（{len(rec['events'])} 条）：")
    for ev in rec["events"]:
        outcome = f"/{ev['outcome_label']}" if ev["outcome_label"] else ""
        note = f"  [{ev['status_label']}]" if ev["status"] != "effective" else ""
        if ev["corrects"]:
            note += f"  {ev['action_label']} #{ev['corrects']}：{ev['reason']}"
        lines.append(f"  #{ev['id']:<8} {ev['occurred_on']}  {ev['kind_label']}{outcome}  "
                     f"{ev['summary']}{note}")
    return "\n".join(lines) + "\n"
