from __future__ import annotations

from fastapi import APIRouter

from api.deps import Db
from georeg.database import postgis_version

router = APIRouter(tags=["系统"])


@router.get("/health", summary="健康检查")
def health(conn: Db) -> dict[str, str]:
    return {"status": "ok", "database": "ok", "postgis": postgis_version(conn)}
