"""The status of a plan's targets: sampled, replaced (and which replacement comes next), or
back to pending."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from georeg.accounts import Account
from georeg.errors import FieldError, Forbidden, NotFound
from georeg.sampling.plans.access import may_change_target, township_scope
from georeg.sampling.plans.read import plan_row, target_rows
from georeg.sampling.plans.vocab import STATUS_LABELS
from georeg.validation import invalid


def update_target(conn: Connection, plan_id: int, no: int, *, status: str, reason: str | None,
                  account: Account) -> dict[str, Any]:
    """Mark a target sampled, replaced (with a reason) or back to pending (with a reason)."""
    if status not in STATUS_LABELS:
        raise invalid("status", "invalid", "状态应为 sampled、replaced 或 pending")
    reason = (reason or "").strip() or None
    if status in ("replaced", "pending") and reason is None:
        raise invalid("reason", "required", "替换或撤销须注明原因")
    plan_row(conn, plan_id, account)
    if not account.writes:  # before the locking read, which row security limits to writers
        raise Forbidden("本账号无权修改该抽样目标的状态")
    current = conn.execute(text(
        "SELECT status, township_code FROM sampling_plan_target "
        "WHERE plan_id = :p AND no = :no FOR UPDATE"), {"p": plan_id, "no": no}).first()
    if current is None or (township_scope(account) not in (None, current.township_code)):
        raise NotFound(f"抽样目标 {no} 不存在", [FieldError("no", "not_found", "抽样目标不存在")])
    if not may_change_target(account, current.township_code):
        raise Forbidden("本账号无权修改该抽样目标的状态")
    conn.execute(text("""
        UPDATE sampling_plan_target
        SET status = :s, status_reason = :r, status_on = georeg_today(), changed_at = now(),
            changed_by = :a
        WHERE plan_id = :p AND no = :no"""),
        {"s": status, "r": reason, "a": account.id, "p": plan_id, "no": no})
    target = next(t for t in target_rows(conn, plan_id, account=account) if t["no"] == no)
    out: dict[str, Any] = {"target": target, "next_replacement": None}
    if status == "replaced":
        out["next_replacement"] = next_replacement(conn, plan_id, no)
    return out


def next_replacement(conn: Connection, plan_id: int, no: int) -> int | None:
    """The replacement to use for target `no`: the first pending one drawn from the same
    stratum and smallholder part (which keeps the allocation and the share), else the first
    of the same stratum, else the first of any."""
    return conn.execute(text("""
        SELECT r.no
        FROM sampling_plan_target t
        JOIN entity te ON te.id = t.entity_id
        JOIN sampling_plan_target r ON r.plan_id = t.plan_id
        JOIN entity re ON re.id = r.entity_id
        WHERE t.plan_id = :p AND t.no = :no AND r.role = 'replacement'
          AND r.status = 'pending' AND r.no <> t.no
        ORDER BY (r.stratum IS NOT DISTINCT FROM t.stratum
                  AND (re.kind = 'smallholder') = (te.kind = 'smallholder')) DESC,
                 (r.stratum IS NOT DISTINCT FROM t.stratum) DESC, r.no
        LIMIT 1"""), {"p": plan_id, "no": no}).scalar()
