"""Spatial balance: spsurvey's `sp_balance` Pielou evenness figure.

Each frame unit belongs to its nearest sample point (the sample's Voronoi tessellation, which
spsurvey builds with deldir and a grid search finds here); the frame's inclusion probabilities
are summed per sample point and normalised to proportions p_i. Figure = 1 + Σ p_i ln p_i / ln n:
0 when every sample point stands for the same probability mass (1/n), larger when some stand
for more than others. A sample point with no mass contributes 0 (0 ln 0 = 0).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from georeg.sampling.srs import srs_positions


@njit(cache=True)
def nearest_sample(fx: np.ndarray, fy: np.ndarray, sx: np.ndarray,
                   sy: np.ndarray) -> np.ndarray:
    """Index of the nearest of the points (sx, sy) for every point (fx, fy) (first on ties).

    The sample points go in a grid of about one per cell; each query searches rings of cells
    around its own until no unsearched cell can hold anything nearer. With n sample points
    much fewer than the frame's, this is several times faster than building and querying a
    k-d tree per sample, which matters when the SRS yardstick draws many samples."""
    n = len(sx)
    x0 = sx.min()
    x1 = sx.max()
    y0 = sy.min()
    y1 = sy.max()
    side = max(x1 - x0, y1 - y0)
    cells = max(1, int(np.sqrt(n)))
    cs = side / cells if side > 0 else 1.0
    nx = min(cells, int((x1 - x0) / cs) + 1)
    ny = min(cells, int((y1 - y0) / cs) + 1)
    cell_of = np.empty(n, np.int64)
    start = np.zeros(nx * ny + 1, np.int64)
    for k in range(n):
        cx = min(int((sx[k] - x0) / cs), nx - 1)
        cy = min(int((sy[k] - y0) / cs), ny - 1)
        cell_of[k] = cx * ny + cy
        start[cell_of[k] + 1] += 1
    for c in range(nx * ny):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    members = np.empty(n, np.int64)
    for k in range(n):
        members[fill[cell_of[k]]] = k
        fill[cell_of[k]] += 1
    out = np.empty(len(fx), np.int64)
    for q in range(len(fx)):
        qx = fx[q]
        qy = fy[q]
        ci = min(max(int(np.floor((qx - x0) / cs)), 0), nx - 1)
        cj = min(max(int(np.floor((qy - y0) / cs)), 0), ny - 1)
        best = -1
        best_d = np.inf
        r = 0
        while True:
            i0 = ci - r
            i1 = ci + r
            j0 = cj - r
            j1 = cj + r
            for i in range(max(i0, 0), min(i1, nx - 1) + 1):
                for j in range(max(j0, 0), min(j1, ny - 1) + 1):
                    if i != i0 and i != i1 and j != j0 and j != j1:
                        continue  # inside the ring: searched before
                    c = i * ny + j
                    for m in range(start[c], start[c + 1]):
                        k = members[m]
                        dx = sx[k] - qx
                        dy = sy[k] - qy
                        d = dx * dx + dy * dy
                        if d < best_d or (d == best_d and k < best):
                            best_d = d
                            best = k
            # the nearest unsearched point lies beyond one of the box's inner sides
            bound = np.inf
            if i0 > 0:
                bound = min(bound, qx - (x0 + i0 * cs))
            if i1 < nx - 1:
                bound = min(bound, x0 + (i1 + 1) * cs - qx)
            if j0 > 0:
                bound = min(bound, qy - (y0 + j0 * cs))
            if j1 < ny - 1:
                bound = min(bound, y0 + (j1 + 1) * cs - qy)
            if bound == np.inf or (best >= 0 and best_d <= bound * bound):
                break
            r += 1
        out[q] = best
    return out


def _pielou_from_nearest(nearest: np.ndarray, prob: np.ndarray, n: int) -> float:
    mass = np.bincount(nearest, weights=prob, minlength=n)
    p = mass / mass.sum()
    p = p[p > 0]
    return float(1.0 + np.sum(p * np.log(p)) / np.log(n))


def pielou_balance(x: np.ndarray, y: np.ndarray, prob: np.ndarray | None,
                   sample: np.ndarray) -> float | None:
    """Pielou figure of the units at frame positions `sample` against the frame (x, y) with
    inclusion probabilities `prob` (None: equal). None when the sample has fewer than 2 units."""
    sample = np.asarray(sample, dtype=np.int64)
    n = len(sample)
    if n < 2:
        return None
    x = np.ascontiguousarray(x, dtype=float)
    y = np.ascontiguousarray(y, dtype=float)
    prob = np.full(len(x), n / len(x)) if prob is None else np.asarray(prob, dtype=float)
    nearest = nearest_sample(x, y, x[sample], y[sample])
    return _pielou_from_nearest(nearest, prob, n)


def default_reps(size: int) -> int:
    """Enough SRS draws for a stable mean on small frames, bounded work on large ones."""
    return int(min(100, max(10, 2_000_000 // max(size, 1))))


def srs_balance_mean(x: np.ndarray, y: np.ndarray, prob: np.ndarray | None, n: int, seed: int,
                     reps: int | None = None) -> float | None:
    """Mean Pielou figure of `reps` non-spatial samples of size n on the same frame, drawn with
    the same inclusion probabilities (`prob`, summing to n; None = equal): simple random
    sampling, or systematic πps on a random order when they differ. The yardstick a spatially
    balanced design is compared with. Each draw costs a nearest-point query of the whole frame,
    so the default number of draws falls from 100 on small frames to 10 on large ones."""
    if n < 2:
        return None
    size = len(x)
    reps = default_reps(size) if reps is None else reps
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5B5,)))
    x = np.ascontiguousarray(x, dtype=float)
    y = np.ascontiguousarray(y, dtype=float)
    weights = np.full(size, n / size) if prob is None else np.asarray(prob, dtype=float)
    figures = []
    for _ in range(reps):
        sample = srs_positions(size, n, rng, None if prob is None else weights)
        nearest = nearest_sample(x, y, x[sample], y[sample])
        figures.append(_pielou_from_nearest(nearest, weights, len(sample)))
    return float(np.mean(figures))
