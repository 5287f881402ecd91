"""A sampling frame given as a list of candidates (`georeg sample --frame`), without the database.

The file is read in importers.frame_files; here are the frame itself, the projection of
longitude/latitude to metres and the chosen units as rows. The projection is azimuthal
equidistant, centred on the frame: its distances from the centre are true and nearly so across
a county or a province — what nearest-neighbour spatial balance needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pyproj import CRS, Transformer

from georeg.sampling.design import Selection


@dataclass(frozen=True)
class Frame:
    ids: list[str]
    x: np.ndarray  # metres
    y: np.ndarray
    strata: np.ndarray | None
    weights: np.ndarray | None
    legacy: np.ndarray | None
    projected_from_lonlat: bool


def aeqd_transformer(lon: np.ndarray, lat: np.ndarray) -> Transformer:
    """WGS 84 -> azimuthal equidistant metres centred on the middle of the points."""
    lon0 = float((lon.min() + lon.max()) / 2)
    lat0 = float((lat.min() + lat.max()) / 2)
    crs = CRS.from_proj4(f"+proj=aeqd +lat_0={lat0:.6f} +lon_0={lon0:.6f} +datum=WGS84 +units=m")
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def project_lonlat(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 degrees (checked in range) -> metres x, y centred on the points."""
    x, y = aeqd_transformer(lon, lat).transform(lon, lat)
    return np.asarray(x), np.asarray(y)


def selection_rows(frame: Frame, selection: Selection) -> list[dict[str, Any]]:
    """One row per chosen unit, in the order of use: rank 1 … n are base units."""
    rows = []
    for rank, (pos, base, prob) in enumerate(zip(selection.order, selection.is_base,
                                                 selection.inclusion_probability,
                                                 strict=True), start=1):
        row: dict[str, Any] = {"id": frame.ids[pos], "rank": rank,
                               "role": "base" if base else "replacement",
                               "inclusion_probability": float(prob)}
        if frame.strata is not None:
            row["stratum"] = frame.strata[pos]
        rows.append(row)
    return rows
