"""The commodity list (品种): reference data loaded with the county's tables (sql/005)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def list_commodities(conn: Connection) -> list[dict[str, Any]]:
    """Every commodity, the key risk varieties first (重点风险品种, then by slug)."""
    rows = conn.execute(text("SELECT slug, name_zh, name_en, category, key_risk, provenance_key "
                             "FROM commodity ORDER BY key_risk DESC, slug")).all()
    return [r._asdict() for r in rows]


def commodity_names(conn: Connection) -> dict[str, str]:
    """Slug or Chinese name -> slug: how a sheet or a form may name a commodity."""
    rows = conn.execute(text("SELECT slug, name_zh FROM commodity")).all()
    return {r.slug: r.slug for r in rows} | {r.name_zh: r.slug for r in rows}
