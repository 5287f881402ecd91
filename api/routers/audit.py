"""The audit trail of a record (georeg.audit): who changed it, when, and what changed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CurrentAccount, Db
from georeg import audit

router = APIRouter(tags=["审计"])


Table = Annotated[str, Query(max_length=64, description="表名，如 entity、plot、patrol")]
RecordId = Annotated[int, Query(ge=1, le=2**63 - 1, description="记录编号")]


@router.get("/audit",
            summary="记录的审计轨迹（最新在前；系统管理员、县级监管员；乡镇监管员限本乡镇）")
def history(conn: Db, account: CurrentAccount, table: Table, id: RecordId,
            limit: Annotated[int, Query(ge=1, le=500)] = 50,
            offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> dict[str, Any]:
    return audit.history(conn, table, id, account=account, limit=limit, offset=offset)
