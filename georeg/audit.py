"""The audit trail (sql/021_audit.sql): who changed which record, when, and what changed.

The database writes it, by triggers, whatever the path (API, CLI, imports, COPY); this module
only reads it. Who may read: administrators and county supervisors every record, a township
supervisor the records of its own township; nobody else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from georeg.database import sql_statement
from georeg.errors import FieldError, Forbidden, InvalidInput
from georeg.roles import Role

if TYPE_CHECKING:  # the account tables (GeoAlchemy2) stay out of the command line's start
    from georeg.accounts import Account

# The audited tables (sql/021_audit.sql): row-level, then statement-level.
ROW_TABLES = ("entity", "plot", "account", "township", "grid", "grid_staff", "sampling_plan",
              "plan_target")
STATEMENT_TABLES = ("site_point", "site_point_rejection", "site_point_conflict", "patrol",
                    "certificate", "rapid_test", "lab_sample", "lab_analyte", "credit_event",
                    "key_supervision_listing", "sampling_plan_target")
AUDITED_TABLES = ROW_TABLES + STATEMENT_TABLES

ACTION_LABELS = {"insert": "新增", "update": "修改", "delete": "删除", "truncate": "清空",
                 "deregister": "注销", "retire": "停用"}
READ_ROLES = frozenset({Role.admin, Role.county_supervisor, Role.township_supervisor})

_HISTORY = sql_statement("georeg", "audit_history.sql")


def _scope(account: Account | None) -> str | None:
    """The township an account's view is limited to (None: all); Forbidden for other roles.
    `None` as the account: the owner at the command line, who sees everything."""
    if account is None:
        return None
    if account.role not in READ_ROLES:
        raise Forbidden("本账号无权查看审计记录")
    return account.township_code if account.role == Role.township_supervisor else None


def history(conn: Connection, table: str, record_id: int, *, account: Account | None,
            limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """A record's changes, newest first, paged; each with the account's username and name."""
    township = _scope(account)
    if table not in AUDITED_TABLES:
        msg = f"table 应为受审计的表之一：{'、'.join(AUDITED_TABLES)}"
        raise InvalidInput(msg, [FieldError("table", "not_audited", msg)])
    rows = conn.execute(_HISTORY, {"table": table, "id": record_id, "township": township,
                                   "limit": limit, "offset": offset}).all()
    events = [{
        "id": r.id, "at": r.at.isoformat(), "table": r.table_name, "action": r.action,
        "action_label": ACTION_LABELS[r.action], "record_id": r.record_id,
        "entity_id": r.entity_id, "row_count": r.row_count, "township_code": r.township_code,
        "db_user": r.db_user,
        "account": None if r.account_id is None else {
            "id": r.account_id, "username": r.username, "display_name": r.display_name},
        "before": r.before, "after": r.after,
    } for r in rows]
    total = rows[0].total if rows else 0
    return {"table": table, "id": record_id, "total": total, "limit": limit, "offset": offset,
            "events": events}


def history_text(conn: Connection, table: str, record_id: int, *, limit: int = 50) -> str:
    """The history as lines for the command line (the owner's view: every record)."""
    h = history(conn, table, record_id, account=None, limit=limit)
    if not h["events"]:
        return f"{table} {record_id}：无审计记录\n"
    lines = [f"{table} {record_id}：审计记录 {h['total']} 条（最新在前）"]
    for e in h["events"]:
        who = (f"{e['account']['username']}（{e['account']['display_name']}）"
               if e["account"] else f"数据库用户 {e['db_user']}")
        what = e["table"] + (f" {e['record_id']}" if e["record_id"] is not None
                             else f"（本语句 {e['row_count']} 行）")
        lines.append(f"{e['at']}  {e['action_label']}  {what}  {who}")
        if e["action"] in ("update", "deregister", "retire") and e["after"]:
            for key in sorted(e["after"]):
                lines.append(f"    {key}: {(e['before'] or {}).get(key)} → {e['after'][key]}")
    return "\n".join(lines) + "\n"
