"""Simple random sampling, and its unequal-probability form.

Equal probabilities: a random permutation, the first n. Unequal probabilities (weights, capped
units, legacy units): systematic πps on a random order (Goodman & Kish 1950). The units are
shuffled, laid end to end on a line with lengths π_i, and a random start u ∈ [0, 1) plus the
integers picks the n units whose segment holds a point. Each unit's inclusion probability is
exactly π_i, the sample size exactly n, and the random order leaves no spatial structure.
Units with π = 1 (legacy, capped) are taken first, so rounding can never drop them.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-9


def systematic_pps(prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Frame positions of a fixed-size sample with inclusion probabilities `prob` (sum integer),
    in random order."""
    prob = np.asarray(prob, dtype=float)
    sure = np.flatnonzero(prob >= 1.0 - EPS)
    rest = np.flatnonzero((prob > EPS) & (prob < 1.0 - EPS))
    k = round(float(prob[rest].sum()))
    picked = np.empty(0, dtype=np.int64)
    if k > 0:
        shuffled = rng.permutation(rest)
        ends = np.cumsum(prob[shuffled])
        ends *= k / ends[-1]  # absorb rounding so the last segment ends exactly at k
        points = rng.random() + np.arange(k)
        picked = shuffled[np.searchsorted(ends, points, side="right")]
    chosen = np.concatenate([sure, picked])
    return rng.permutation(chosen)


def select_stratum(x: np.ndarray, y: np.ndarray, prob: np.ndarray, n: int,
                   legacy: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw sum(prob) units; the base is the legacy units plus the first n - L others of
    the random order, the replacements follow in that order. Returns (positions, is_base)."""
    del x, y  # no spatial structure on purpose
    chosen = systematic_pps(prob, rng)
    return split_base(chosen, n, legacy)


def split_base(ordered: np.ndarray, n: int, legacy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Base = legacy units + the first n - L non-legacy units of `ordered` (spsurvey: legacy
    sites are always base sites); base first, then the rest, each keeping `ordered`'s order."""
    is_leg = legacy[ordered]
    free_rank = np.cumsum(~is_leg)  # 1-based rank among non-legacy units
    n_free = n - int(is_leg.sum())
    base = is_leg | (~is_leg & (free_rank <= n_free))
    out = np.concatenate([ordered[base], ordered[~base]])
    flags = np.concatenate([np.ones(int(base.sum()), bool), np.zeros(int((~base).sum()), bool)])
    return out, flags


def srs_positions(size: int, n: int, rng: np.random.Generator,
                  prob: np.ndarray | None = None) -> np.ndarray:
    """n positions by SRS (prob None) or systematic πps with `prob` (for comparisons)."""
    if prob is None:
        return rng.choice(size, n, replace=False)
    return systematic_pps(prob, rng)

