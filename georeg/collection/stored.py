"""A stored site point read back by its client_uuid, with the conflicting resubmissions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from georeg.collection.pipeline import SQL_PACKAGE
from georeg.database import sql_statement


@dataclass(frozen=True)
class Conflict:
    """A later submission under the same client_uuid with other content (kept for review)."""

    submitted: dict[str, Any]
    received_at: datetime


@dataclass(frozen=True)
class StoredPoint:
    properties: dict[str, Any]  # the point's columns (point.sql), as the database gives them
    geometry: dict[str, Any]  # GeoJSON, WGS 84
    conflicts: list[Conflict]


def stored_point(conn: Connection, client_uuid: uuid.UUID) -> StoredPoint | None:
    """The point stored under `client_uuid`, or None."""
    row = conn.execute(sql_statement(SQL_PACKAGE, "point.sql"), {"u": client_uuid}).first()
    if row is None:
        return None
    conflicts = conn.execute(text(
        "SELECT submitted, received_at FROM site_point_conflict WHERE client_uuid = :u "
        "ORDER BY id"), {"u": client_uuid}).all()
    properties = row._asdict()
    geometry = properties.pop("geometry")
    return StoredPoint(properties, geometry,
                       [Conflict(c.submitted, c.received_at) for c in conflicts])
