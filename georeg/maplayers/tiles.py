"""Vector tiles (Mapbox Vector Tile, PostGIS ST_AsMVT) of entities and plots, for province scale.

A county page ships its points as GeoJSON; a province's million entities cannot be. Tiles carry
what is inside them: below zoom 13 the points are aggregated in the database into cells of
1/16 of the tile (a point per cell with `count`, the commonest `kind`, any `key_supervision`),
from zoom 13 on each point. Two steps, so that display coordinates (GCJ-02 for Amap) come
from georeg.coords like every other layer: the rows are read (aggregated) in WGS 84, shifted
in Python if asked, and encoded by ST_AsMVT.

The row statements (tile_points.sql, tile_cells.sql) are templates for both layers: the table
and columns go in through psycopg.sql (identifiers quoted, no text spliced), values as
parameters.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any, Literal

import numpy as np
from psycopg import sql
from sqlalchemy import Connection, TextClause, text

from georeg.coords import wgs84_to_gcj02_array
from georeg.database import sql_source, sql_statement
from georeg.errors import FieldError, InvalidInput

Layer = Literal["entities", "plots"]
EXTENT = 4096
CELLS_PER_TILE = 16
DETAIL_ZOOM = 13  # from here on, one feature per point
MAX_POINTS = 50_000  # a dense tile at detail zoom is cut rather than sent by the megabyte
_PACKAGE = "georeg.maplayers"

# table, indexed geometry column, the point drawn, the property kept as `kind`, list membership
_SOURCES: dict[str, dict[str, sql.Composable]] = {
    "entities": {"table": sql.Identifier("entity"), "column": sql.Identifier("location"),
                 "place": sql.Identifier("location"), "kind": sql.Identifier("kind"),
                 "key": sql.Identifier("key_supervision")},
    # a plot's place is its centroid (cheap for the few-vertex shapes; display only)
    "plots": {"table": sql.Identifier("plot"), "column": sql.Identifier("geom"),
              "place": sql.SQL("ST_Centroid({})").format(sql.Identifier("geom")),
              "kind": sql.Identifier("commodity"), "key": sql.SQL("false")},
}


@cache
def _rows_statement(layer: str, detail: bool) -> TextClause:
    template = sql_source(_PACKAGE, "tile_points.sql" if detail else "tile_cells.sql")
    # a file of the package, not user text: safe as sql.SQL (typed for literals only)
    return text(sql.SQL(template).format(**_SOURCES[layer]).as_string())  # type: ignore[arg-type]


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """West, south, east, north of a web-mercator tile, in degrees."""
    n = 2 ** z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def check_tile(z: int, x: int, y: int) -> None:
    if not (0 <= z <= 22 and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        msg = "瓦片编号超出范围"
        raise InvalidInput(msg, [FieldError("tile", "out_of_range", msg)])


def tile_rows(conn: Connection, layer: Layer, z: int, x: int, y: int, *, margin: float = 0.0
              ) -> list[Any]:
    """The tile's points (x, y in WGS 84, id, count, kind, key), aggregated below DETAIL_ZOOM."""
    west, south, east, north = tile_bounds(z, x, y)
    params: dict[str, Any] = {"w": west - margin, "s": south - margin, "e": east + margin,
                              "n": north + margin}
    if z >= DETAIL_ZOOM:
        params["max_points"] = MAX_POINTS
    else:
        params |= {"cx": (east - west) / CELLS_PER_TILE, "cy": (north - south) / CELLS_PER_TILE}
    return list(conn.execute(_rows_statement(layer, z >= DETAIL_ZOOM), params).all())


def tile(conn: Connection, layer: Layer, z: int, x: int, y: int, *, crs: str = "wgs84") -> bytes:
    """The MVT of one tile; b"" when it holds nothing."""
    check_tile(z, x, y)
    # A GCJ-02 tile shows points shifted by up to ~700 m: read a margin around it.
    rows = tile_rows(conn, layer, z, x, y, margin=0.01 if crs == "gcj02" else 0.0)
    if not rows:
        return b""
    xs = np.array([r.x for r in rows], dtype=float)
    ys = np.array([r.y for r in rows], dtype=float)
    if crs == "gcj02":
        xs, ys = wgs84_to_gcj02_array(xs, ys)
    mvt = conn.execute(sql_statement(_PACKAGE, "tile_encode.sql"), {
        "layer": layer, "extent": EXTENT, "z": z, "tx": x, "ty": y, "xs": xs.tolist(),
        "ys": ys.tolist(), "ids": [r.id for r in rows], "counts": [r.count for r in rows],
        "kinds": [r.kind for r in rows], "keys": [bool(r.key) for r in rows]}).scalar()
    return bytes(mvt or b"")
