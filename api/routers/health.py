from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import Db

router = APIRouter(tags=["系统"])


@router.get("/health", summary="健康检查")
def health(conn: Db) -> dict[str, str]:
    postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
    return {"status": "ok", "database": "ok", "postgis": postgis}
