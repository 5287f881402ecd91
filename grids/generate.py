"""Split a township into N compact grids balanced by the number of entities in them.

Entities are split by recursive bisection (always across the longer side of the group, at the
weighted median), which yields compact groups of equal size; each group's cell is the union
of its entities' Voronoi cells, clipped to the township. So the cells follow where people
farm, not a square lattice. A township without entities is split by area instead.
The cells are drawn by generate_cells.sql.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
from psycopg import sql
from sqlalchemy import Connection, text

from georeg.database import sql_statement
from georeg.errors import FieldError, InvalidInput, NotFound
from grids.reassign import reassign


def bisect(xy: np.ndarray, n: int) -> np.ndarray:
    """Group labels 0..n-1 for the points, groups of (nearly) equal size, compact."""
    labels = np.zeros(len(xy), dtype=int)

    def split(idx: np.ndarray, parts: int, first: int) -> None:
        if parts == 1:
            labels[idx] = first
            return
        pts = xy[idx]
        axis = int(np.ptp(pts[:, 0]) < np.ptp(pts[:, 1]))
        order = idx[np.argsort(pts[:, axis], kind="stable")]
        left = parts // 2
        cut = round(len(order) * left / parts)
        split(order[:cut], left, first)
        split(order[cut:], parts - left, first + left)

    split(np.arange(len(xy)), n, 0)
    return labels


_SEEDS = text("""
SELECT ST_X(location) AS x, ST_Y(location) AS y FROM entity
WHERE township_code = :t ORDER BY id
""")

_RANDOM = text("""
SELECT ST_X(geom) AS x, ST_Y(geom) AS y
FROM ST_Dump(ST_GeneratePoints((SELECT boundary FROM township WHERE code = :t), :n, 1))
""")

_CELLS = sql_statement("grids", "generate_cells.sql")

# A same-day version being replaced: whatever it holds is let go first.
_UNASSIGN = sql.SQL("UPDATE {} SET grid_id = NULL WHERE grid_id = ANY(:ids)")


def generate(conn: Connection, *, township: str, cells: int, valid_from: date) -> dict[str, Any]:
    """Close the township's current grids and open `cells` new ones; then re-assign."""
    name = conn.execute(text("SELECT name FROM township WHERE code = :t AND boundary IS NOT NULL"),
                        {"t": township}).scalar()
    if name is None:
        raise NotFound("乡镇不存在或没有边界", [FieldError("township", "not_found", "乡镇不存在")])
    if not 1 <= cells <= 999:
        raise InvalidInput("网格数应在 1 到 999 之间",
                           [FieldError("cells", "out_of_range", "网格数应在 1 到 999 之间")])
    seeds = conn.execute(_SEEDS, {"t": township}).all()
    balanced_by = "entities"
    if len(seeds) < cells * 3:
        seeds, balanced_by = conn.execute(_RANDOM, {"t": township, "n": cells * 200}).all(), "area"
    xy = np.array([(s.x, s.y) for s in seeds], dtype=float)
    # Bisect in a locally metric frame: a degree of longitude is shorter than one of latitude.
    metric = xy * np.array([np.cos(np.radians(xy[:, 1].mean())), 1.0])
    labels = bisect(metric, cells)
    rows = conn.execute(_CELLS, {"xs": xy[:, 0].tolist(), "ys": xy[:, 1].tolist(),
                                 "gs": labels.tolist(), "t": township}).all()
    closed = conn.execute(text(
        "UPDATE grid SET valid_to = :d WHERE township_code = :t AND valid_from < :d "
        "AND (valid_to IS NULL OR valid_to > :d) RETURNING id"),
        {"t": township, "d": valid_from}).all()
    # Versions opened on the same day are replaced, not closed (a version needs a length).
    same_day = conn.execute(text("SELECT array_agg(id) FROM grid WHERE township_code = :t "
                                 "AND valid_from >= :d"), {"t": township, "d": valid_from}
                            ).scalar() or []
    if same_day:
        for table in ("entity", "plot", "site_point_place"):
            conn.execute(text(_UNASSIGN.format(sql.Identifier(table)).as_string()),
                         {"ids": same_day})
        conn.execute(text("DELETE FROM grid WHERE id = ANY(:ids)"), {"ids": same_day})
    for r in rows:
        code = f"{township}{r.g + 1:03d}"
        conn.execute(text(
            "INSERT INTO grid (code, township_code, name, boundary, valid_from) "
            "VALUES (:c, :t, :n, ST_GeomFromWKB(:b, 4326), :d)"),
            {"c": code, "t": township, "n": f"{name}第{r.g + 1}网格", "b": r.boundary,
             "d": valid_from})
    counts = np.bincount(labels, minlength=cells).tolist()
    return {"township": township, "cells": len(rows), "balanced_by": balanced_by,
            "closed_versions": len(closed), "points_per_cell": counts,
            "reassignment": reassign(conn)}
