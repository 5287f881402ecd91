"""Rows -> RFC 7946 Features and FeatureCollections."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def feature(row: Any, *, id_field: str = "id", exclude: Iterable[str] = ()) -> dict[str, Any]:
    data = row._asdict() if hasattr(row, "_asdict") else dict(row)
    geometry = data.pop("geometry", None)
    for name in exclude:
        data.pop(name, None)
    return {"type": "Feature", "id": data.get(id_field), "geometry": geometry,
            "properties": {k: _plain(v) for k, v in data.items()}}


def collection(features: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **members}
