"""Topology of the current grids: overlaps, gaps, grids crossing their township, slivers.

All in PostGIS; areas in square metres on the spheroid (geography), locations as a point on
each problem piece so a user can find it on the map. Overlays run on a 1e-9 degree grid
(0.1 mm): without it, floating-point noise along kilometre-long shared edges shows up as
slivers that are not there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

KIND_LABELS = {"overlap": "网格相互重叠", "gap": "网格未覆盖乡镇（缝隙）",
               "crosses_township": "网格越出乡镇边界", "sliver": "碎片（面积过小）"}

_CHECK = text("""
WITH g AS (SELECT * FROM current_grid WHERE CAST(:township AS text) IS NULL
                                            OR township_code = :township),
overlap_pieces AS (
    SELECT 'overlap' AS kind, a.township_code, a.code AS grid_code, b.code AS other_code,
           (ST_Dump(ST_CollectionExtract(ST_Intersection(a.boundary, b.boundary, 1e-9), 3)))
               .geom AS geom
    FROM g a JOIN g b ON a.id < b.id AND a.boundary && b.boundary
    WHERE ST_Overlaps(a.boundary, b.boundary) OR ST_Within(a.boundary, b.boundary)
       OR ST_Within(b.boundary, a.boundary)),
gap_pieces AS (
    SELECT 'gap' AS kind, t.code AS township_code, NULL::text AS grid_code, NULL::text,
           (ST_Dump(ST_CollectionExtract(ST_Difference(t.boundary, u.geom, 1e-9), 3))).geom
    FROM township t
    JOIN (SELECT township_code, ST_Union(boundary, 1e-9) AS geom FROM g GROUP BY township_code) u
      ON u.township_code = t.code),
crossing_pieces AS (
    SELECT 'crosses_township' AS kind, g.township_code, g.code, NULL::text,
           (ST_Dump(ST_CollectionExtract(ST_Difference(g.boundary, t.boundary, 1e-9), 3))).geom
    FROM g JOIN township t ON t.code = g.township_code
    WHERE NOT ST_CoveredBy(g.boundary, t.boundary)),
sliver_pieces AS (
    SELECT 'sliver' AS kind, g.township_code, g.code, NULL::text, d.geom
    FROM g CROSS JOIN LATERAL ST_Dump(g.boundary) d
    WHERE ST_Area(d.geom::geography) < :sliver_m2),
problems AS (
    SELECT * FROM overlap_pieces UNION ALL SELECT * FROM gap_pieces
    UNION ALL SELECT * FROM crossing_pieces
    UNION ALL SELECT * FROM sliver_pieces)
SELECT kind, township_code, grid_code, other_code, ST_Area(geom::geography) AS area_m2,
       ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat,
       ST_AsGeoJSON(geom, 7)::json AS geometry
FROM problems
WHERE NOT ST_IsEmpty(geom) AND (kind = 'sliver' OR ST_Area(geom::geography) >= :min_m2)
ORDER BY township_code, kind, area_m2 DESC
""")


def check(conn: Connection, *, township: str | None = None, sliver_m2: float = 1000.0,
          min_m2: float = 1.0) -> list[dict[str, Any]]:
    """Problems of the grids in force; pieces under `min_m2` are floating-point noise."""
    rows = conn.execute(_CHECK, {"township": township, "sliver_m2": sliver_m2,
                                 "min_m2": min_m2}).all()
    return [r._asdict() | {"label": KIND_LABELS[r.kind], "area_m2": round(r.area_m2, 1)}
            for r in rows]
