"""GRTS (generalized random tessellation stratified) selection, as spsurvey 5.x does it.

spsurvey 5.x (grts_stratum, for a point frame without a minimum distance) does, per stratum:

1. inclusion probabilities for n_base + n_over (grtspts_ip: equal, or ∝ an auxiliary variable,
   capped at 1 iteratively), legacy sites set to 1 and the others rescaled (grtspts_ipleg);
2. `get_address(x, y, rand = TRUE)` (Chauvet & Le Gleut's tessellation): x and y are each
   rescaled to the integers 0 … 2^31 - 1 (so the bounding box becomes a square address space),
   and every unit gets a 31-level base-4 address, one level per bit: the quadrant of level l
   is (x bit, y bit), and the quadrants are relabelled with ONE random permutation of 0:3 per
   level (`sapply(1:32, function(i) sample(0:3))`), shared by every cell of that level, not
   drawn afresh per cell as in spsurvey 4.x's `ranho`. Units are sorted by address. The
   tessellation is refined to the full 31 levels, i.e. until no cell holds more than one
   distinct location, so no cell's total inclusion probability exceeds 1 (spsurvey 4.x stopped
   refining at the first level where every cell's total probability was ≤ 1; the order of
   cells is the same up to that level, and the deeper levels only order units inside them);
3. the ordered pivotal method (Deville & Tillé 1998; spsurvey's `UPpivotal`, from the R
   package sampling) along that order: the first two undecided units fight, the loser's
   probability goes to the winner, and the next unit in order takes the decided one's place;
4. the selected units, still in address order, in reverse hierarchical order (`rho`): the
   positions 0 … m-1 are visited in base-4 digit-reversed order, so every prefix of the list
   is spread over the whole address sequence, hence over the land;
5. n_over: spsurvey selects n_base + n_over units at the probabilities for n_base + n_over, and
   after rho takes legacy sites plus the first n_base - L others as the base and the following
   n_over as replacements ("Over"), reporting every site's probability as the n_base + n_over
   one times n_base / (n_base + n_over). We do the same; the probability we report for a
   non-legacy unit is π_i(n + over) · (n - L) / (n + over - L), legacy units 1, which sums to n.
   With over = 0 it is exact; with replacements it is the probability spsurvey states (a unit
   chosen in step 3 lands in the first n - L of the rho order with about that chance).

One deliberate difference: units at the same address (the same location, to 2^-31 of the
extent) are ordered at random, where R's `order` keeps the frame's order; so the sample does
not depend on the row order of the frame.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from georeg.sampling.srs import split_base

LEVELS = 31  # bits per axis, as get_address (2^31 - 1 is R's largest integer)
EPS = 1e-6  # UPpivotal's


def _rescale(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    top = 2.0**LEVELS - 1
    if hi <= lo:
        return np.zeros(len(v), dtype=np.int64)
    return np.trunc(np.clip((v - lo) / (hi - lo), 0.0, 1.0) * top).astype(np.int64)


def address_order(x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                  bbox: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Positions of the units sorted by a randomised hierarchical address (step 2 above).

    `bbox` (xmin, ymin, xmax, ymax) fixes the address space; default the units' own extent."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(x) == 0:
        return np.empty(0, dtype=np.int64)
    if bbox is None:
        bbox = (float(x.min()), float(y.min()), float(x.max()), float(y.max()))
    xi = _rescale(x, bbox[0], bbox[2])
    yi = _rescale(y, bbox[1], bbox[3])
    perms = np.array([rng.permutation(4) for _ in range(LEVELS)], dtype=np.int64)
    key = _address_keys(xi, yi, perms)
    order = np.argsort(key)  # fast, but in no defined order among equal keys, so:
    ranked = key[order]
    if (ranked[1:] == ranked[:-1]).any():  # same address: random order, drawn here
        order = np.lexsort((rng.random(len(key)), key))
    return order


@njit(cache=True)
def _address_keys(xi: np.ndarray, yi: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """The 31 base-4 digits of each address packed into an int64, most significant first."""
    key = np.zeros(len(xi), dtype=np.int64)
    for k in range(len(xi)):
        a = np.int64(0)
        for level in range(LEVELS):
            bit = LEVELS - 1 - level
            # quadrant a (x 0, y 0), b (0, 1), c (1, 0), d (1, 1), as get_address labels them
            quadrant = ((xi[k] >> bit) & 1) * 2 + ((yi[k] >> bit) & 1)
            a = a * 4 + perms[level, quadrant]
        key[k] = a
    return key


@njit(cache=True)
def _fight(a: float, b: float, u: float) -> tuple[float, float]:
    if a + b > 1.0:
        if u < (1.0 - b) / (2.0 - a - b):
            return 1.0, a + b - 1.0
        return a + b - 1.0, 1.0
    if u < b / (a + b):
        return 0.0, a + b
    return a + b, 0.0


@njit(cache=True)
def ordered_pivotal(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """spsurvey's UPpivotal on probabilities `p` in their order; `u` holds len(p) + 1 uniforms.
    Returns a 0/1 float array (a leftover fraction, from a non-integer sum, is rounded by
    a last uniform draw so the result is still unbiased)."""
    n = len(p)
    s = np.zeros(n)
    if n == 0:
        return s
    if n == 1:
        s[0] = 1.0 if u[0] < p[0] else 0.0
        return s
    t = 0
    a = p[0]
    b = p[1]
    i = 0
    j = 1
    k = 2
    while k < n:
        if EPS <= a <= 1.0 - EPS and EPS <= b <= 1.0 - EPS:
            a, b = _fight(a, b, u[t])
            t += 1
        if (a < EPS or a > 1.0 - EPS) and k < n:
            s[i] = a
            a = p[k]
            i = k
            k += 1
        if (b < EPS or b > 1.0 - EPS) and k < n:
            s[j] = b
            b = p[k]
            j = k
            k += 1
    if EPS <= a <= 1.0 - EPS and EPS <= b <= 1.0 - EPS:
        a, b = _fight(a, b, u[t])
        t += 1
    s[i] = a
    s[j] = b
    for m in range(n):
        if s[m] > 1.0 - EPS:
            s[m] = 1.0
        elif s[m] < EPS:
            s[m] = 0.0
        else:
            s[m] = 1.0 if u[t] < s[m] else 0.0
    return s


def rho_order(m: int) -> np.ndarray:
    """spsurvey's `rho`: the reverse hierarchical order of positions 0 … m-1."""
    if m <= 0:
        return np.empty(0, dtype=np.int64)
    nlev = 0  # max(1, trunc(log4(m))), in integers
    while 4 ** (nlev + 1) <= m:
        nlev += 1
    nlev = max(1, nlev)
    if m != 4**nlev:
        nlev += 1
    r = np.arange(4**nlev, dtype=np.int64)
    rev = np.zeros_like(r)
    for _ in range(nlev):  # base-4 digit reversal
        rev = rev * 4 + r % 4
        r //= 4
    idx = rev * m // 4**nlev
    _, first = np.unique(idx, return_index=True)
    return idx[np.sort(first)]


def select_stratum(x: np.ndarray, y: np.ndarray, prob: np.ndarray, n: int,
                   legacy: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """GRTS on one stratum. `prob`: inclusion probabilities for n + over (legacy units 1).
    Returns stratum positions in the order of use and their is-base flags."""
    order = address_order(x, y, rng)
    u = rng.random(len(order) + 1)
    chosen = order[ordered_pivotal(prob[order], u) == 1.0]
    ordered = chosen[rho_order(len(chosen))]
    return split_base(ordered, n, legacy)
