"""Topology of the current grids: overlaps, gaps, grids crossing their township, slivers.

All in PostGIS; areas in square metres on the spheroid (geography), locations as a point on
each problem piece so a user can find it on the map. Overlays run on a 1e-9 degree grid
(0.1 mm): without it, floating-point noise along kilometre-long shared edges shows up as
slivers that are not there. The statement is topology.sql.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from georeg.database import sql_statement

KIND_LABELS = {"overlap": "网格相互重叠", "gap": "网格未覆盖乡镇（缝隙）",
               "crosses_township": "网格越出乡镇边界", "sliver": "碎片（面积过小）"}

_CHECK = sql_statement("grids", "topology.sql")


def check(conn: Connection, *, township: str | None = None, sliver_m2: float = 1000.0,
          min_m2: float = 1.0) -> list[dict[str, Any]]:
    """Problems of the grids in force; pieces under `min_m2` are floating-point noise."""
    rows = conn.execute(_CHECK, {"township": township, "sliver_m2": sliver_m2,
                                 "min_m2": min_m2}).all()
    return [r._asdict() | {"label": KIND_LABELS[r.kind], "area_m2": round(r.area_m2, 1)}
            for r in rows]
