"""One entity's credit record as data (API), as a printable HTML page and as plain text (CLI).

Personal numbers are masked in all three; the API alone may reveal them, to entitled roles.
"""

from __future__ import annotations

from datetime import date, datetime
from html import escape
from typing import Any

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

_CSS = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei",
       "PingFang SC", sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.7em; text-align: center; letter-spacing: .3em; margin-bottom: .2em; }
.subtitle { text-align: center; color: #555; margin-top: 0; }
h2 { font-size: 1.15em; border-left: 4px solid #336; padding-left: .4em; margin-top: 1.4em; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; }
th, td { border: 1px solid #999; padding: 3px 6px; text-align: left; vertical-align: top;
         font-size: .9em; }
th { background: #eef0f4; white-space: nowrap; }
.grade { font-size: 2.2em; font-weight: bold; margin-right: .4em; }
.grade-C, .grade-D, .listed { color: #b00000; }
.superseded, .voided { color: #888; text-decoration: line-through; }
.num { text-align: right; }
.source { margin-top: 2em; padding-top: .5em; border-top: 1px solid #999; font-size: .85em;
          color: #444; }
@media print {
  @page { size: A4; margin: 15mm 12mm; }
  body { margin: 0; max-width: none; font-size: 10pt; }
  .no-print { display: none; }
  th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  thead { display: table-header-group; }
  tr, .keep { page-break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        value = f"{value:g}"
    return escape(str(value))


def _table(headings: list[str], rows: list[list[Any]], *, row_classes: list[str] | None = None,
           empty: str = "无") -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = []
    for i, cells in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _entity_html(e: dict[str, Any]) -> str:
    pairs = [("名称", e["name"]), ("主体编号", e["id"]), ("类型", e["kind_label"])]
    if e["kind"] == Kind.smallholder:
        pairs.append(("身份证号", e.get("resident_id")))
    else:
        pairs += [("统一社会信用代码", e.get("uscc")),
                  ("法定代表人", e.get("legal_representative"))]
    pairs += [("联系电话", e.get("phone")), ("所属乡镇", e["township_name"]),
              ("村", e.get("village")), ("地址", e.get("address"))]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def _rating_html(r: dict[str, Any]) -> str:
    summary = (f'<p class="keep"><span class="grade grade-{escape(r["grade"])}">'
               f'{escape(r["grade_label"])}</span>信用分 <strong>{_e(r["score"])}</strong>'
               f'（基础分 {_e(r["base"])}，截至 {_e(r["as_of"])}）</p>')
    moves = _table(["事件编号", "日期", "类型", "结果", "分值", "权重", "计分"],
                   [[f"#{m['event_id']}", m["occurred_on"], m["kind_label"], m["outcome_label"],
                     m["points"], m["weight"], m["effect"]] for m in r["moves"]],
                   empty="没有影响信用分的事件。")
    return summary + "<p>影响信用分的事件：</p>" + moves


def _listing_html(ks: dict[str, Any]) -> str:
    if ks["listed"]:
        reasons = "；".join(c["reason_label"] for c in ks["current"])
        status = f'<p class="listed"><strong>在重点监管名单中</strong>（{escape(reasons)}）</p>'
    else:
        status = "<p>不在重点监管名单中。</p>"
    history = _table(["原因", "来源", "说明", "列入日期", "移出日期", "列入人", "移出原因"],
                     [[h["reason_label"], h["source_label"], h["detail"], h["listed_on"],
                       h["delisted_on"], h["listed_by"], h["delist_reason"]]
                      for h in ks["history"]], empty="无列入记录。")
    return status + history


def _timeline_html(events: list[dict[str, Any]]) -> str:
    rows, classes = [], []
    for ev in events:
        status = ev["status_label"]
        if ev["corrects"]:
            status += f"；{ev['action_label']} #{ev['corrects']}，原因：{ev['reason']}"
        if ev["superseded_by"]:
            status += f"（见 #{ev['superseded_by']}）"
        rows.append([f"#{ev['id']}", ev["occurred_on"], ev["kind_label"], ev["outcome_label"],
                     ev["issuing_unit"], ev["document_no"], ev["summary"], ev["evidence_ref"],
                     status])
        classes.append(ev["status"] if ev["status"] in ("superseded", "voided") else "")
    return _table(["编号", "日期", "类型", "结果", "发证/处罚单位", "文号", "摘要", "证据",
                   "状态"], rows, row_classes=classes, empty="暂无信用记录。")


def render_html(record: dict[str, Any], *, generated_at: datetime, generated_by: str) -> str:
    e = record["entity"]
    moment = generated_at.astimezone(CST).strftime("%Y-%m-%d %H:%M")
    rules = _table(["类型", "结果", "分值"], [[r["kind_label"], r["outcome_label"], r["points"]]
                                         for r in record["rules"]["points"]])
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>信用档案 · {escape(e["name"])}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>信用档案</h1>
<p class="subtitle">{escape(e["name"])}</p>
<p class="no-print"><button type="button" onclick="window.print()">打印</button></p>
<h2>主体信息</h2>
{_entity_html(e)}
<h2>信用等级</h2>
{_rating_html(record["rating"])}
<h2>重点监管名单</h2>
{_listing_html(record["key_supervision"])}
<h2>信用记录</h2>
{_timeline_html(record["events"])}
<h2>计分规则</h2>
<p>{escape(record["rules"]["text"])}</p>
{rules}
<p class="source">数据来源：georeg 农产品质量安全网格化监管系统信用档案
（版本 {escape(__version__)}），{escape(e["township_name"])}。
{escape(moment)} 由 {escape(generated_by)} 导出。
身份证号、电话等个人信息已脱敏；本档案由系统根据登记的信用事件生成。</p>
</body>
</html>
"""


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
