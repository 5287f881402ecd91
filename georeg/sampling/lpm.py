"""The local pivotal method LPM2 (Grafström, Lundström & Schelin 2012, Biometrics 68:514-520).

Repeatedly: pick an undecided unit i at random, find its nearest undecided neighbour j (ties
at random), and let them fight as in the pivotal method: the loser's probability goes to the
winner, so at least one of them is decided (0 or 1). Neighbours thus repel each other and the
sample spreads further than GRTS's, whose pivotal fights follow a one-dimensional order.

Naively each nearest-neighbour search scans all undecided units, O(N²) in all. Here a k-d
tree (built once, median splits, leaves of ≤ 8 units) keeps a count of undecided units per
node; a decided unit is taken out by decrementing the counts on its leaf-to-root path, and the
search skips empty subtrees and those farther than the best distance so far. The loops are
compiled with numba (cached on disk), so a 200,000-unit frame takes well under a second.

Replacements (over > 0): LPM2 first selects n + over units with the probabilities for
n + over (legacy units 1). Which of them form the base is a second LPM2 on just those units,
legacy ones at 1 and the others at (n - L) / (n + over - L): the base is then itself a
well-spread subsample, and since LPM2 keeps every unit's inclusion probability, a frame unit is
a base unit with probability exactly π_i(n + over) · (n - L) / (n + over - L) — the figure we
report. The base and the replacements are each listed in reverse hierarchical (GRTS rho) order
over a random address of the frame's extent, so the replacements used first, and any prefix of
the base, are spread out as well.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from georeg.sampling.grts import address_order, rho_order

EPS = 1e-9
LEAF = 8


@njit(cache=True)
def _select_kth(idx: np.ndarray, coord: np.ndarray, lo: int, hi: int, k: int) -> None:
    """Reorder idx[lo:hi] so idx[k] holds the unit with the k-th smallest coord, smaller ones
    before it and larger ones after (Hoare's quickselect, median-of-three pivot)."""
    left = lo
    right = hi - 1
    while right > left:
        mid = (left + right) // 2
        a = coord[idx[left]]
        b = coord[idx[mid]]
        c = coord[idx[right]]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
        pivot = max(a, b)
        i = left
        j = right
        while i <= j:
            while coord[idx[i]] < pivot:
                i += 1
            while coord[idx[j]] > pivot:
                j -= 1
            if i <= j:
                t = idx[i]
                idx[i] = idx[j]
                idx[j] = t
                i += 1
                j -= 1
        if k <= j:
            right = j
        elif k >= i:
            left = i
        else:
            return


@njit(cache=True)
def _build(x: np.ndarray, y: np.ndarray, alive: np.ndarray):  # returns the tree's arrays
    n = len(x)
    idx = np.arange(n)
    cap = 4 * (n // (LEAF // 2 + 1) + 2)
    lo = np.zeros(cap, np.int64)
    hi = np.zeros(cap, np.int64)
    left = np.full(cap, -1, np.int64)
    right = np.full(cap, -1, np.int64)
    parent = np.full(cap, -1, np.int64)
    box = np.zeros((cap, 4))
    count = np.zeros(cap, np.int64)
    leaf_of = np.zeros(n, np.int64)
    stack = np.zeros(cap, np.int64)
    nodes = 1
    lo[0] = 0
    hi[0] = n
    top = 1
    stack[0] = 0
    while top > 0:
        top -= 1
        node = stack[top]
        a = lo[node]
        b = hi[node]
        x0 = np.inf
        x1 = -np.inf
        y0 = np.inf
        y1 = -np.inf
        for q in range(a, b):
            p = idx[q]
            x0 = min(x0, x[p])
            x1 = max(x1, x[p])
            y0 = min(y0, y[p])
            y1 = max(y1, y[p])
        box[node, 0] = x0
        box[node, 1] = x1
        box[node, 2] = y0
        box[node, 3] = y1
        if b - a <= LEAF:
            for q in range(a, b):
                leaf_of[idx[q]] = node
            continue
        mid = (a + b) // 2
        _select_kth(idx, x if x1 - x0 >= y1 - y0 else y, a, b, mid)
        for lo_, hi_ in ((a, mid), (mid, b)):
            child = nodes
            nodes += 1
            lo[child] = lo_
            hi[child] = hi_
            parent[child] = node
            if lo_ == a:
                left[node] = child
            else:
                right[node] = child
            stack[top] = child
            top += 1
    for p in range(n):
        if alive[p]:
            node = leaf_of[p]
            while node != -1:
                count[node] += 1
                node = parent[node]
    return idx, lo, hi, left, right, parent, box, count, leaf_of


@njit(cache=True)
def _remove(p: int, alive: np.ndarray, count: np.ndarray, parent: np.ndarray,
            leaf_of: np.ndarray) -> None:
    alive[p] = False
    node = leaf_of[p]
    while node != -1:
        count[node] -= 1
        node = parent[node]


@njit(cache=True)
def _box_d2(box: np.ndarray, node: int, qx: float, qy: float) -> float:
    dx = max(box[node, 0] - qx, 0.0, qx - box[node, 1])
    dy = max(box[node, 2] - qy, 0.0, qy - box[node, 3])
    return dx * dx + dy * dy


@njit(cache=True)
def _splitmix(state: np.ndarray) -> float:
    """A uniform in [0, 1) from a splitmix64 stream (only for breaking distance ties)."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _nearest(i: int, x: np.ndarray, y: np.ndarray, alive: np.ndarray, idx: np.ndarray,
             lo: np.ndarray, hi: np.ndarray, left: np.ndarray, right: np.ndarray,
             box: np.ndarray, count: np.ndarray, stack: np.ndarray,
             state: np.ndarray) -> int:
    qx = x[i]
    qy = y[i]
    best = -1
    best_d = np.inf
    ties = 0
    top = 1
    stack[0] = 0
    while top > 0:
        top -= 1
        node = stack[top]
        if count[node] == 0 or _box_d2(box, node, qx, qy) > best_d:
            continue
        if left[node] == -1:
            for q in range(lo[node], hi[node]):
                p = idx[q]
                if p == i or not alive[p]:
                    continue
                dx = x[p] - qx
                dy = y[p] - qy
                d = dx * dx + dy * dy
                if d < best_d:
                    best_d = d
                    best = p
                    ties = 1
                elif d == best_d:
                    ties += 1
                    if _splitmix(state) * ties < 1.0:
                        best = p
            continue
        a = left[node]
        b = right[node]
        if _box_d2(box, a, qx, qy) <= _box_d2(box, b, qx, qy):
            a, b = b, a
        stack[top] = a  # the farther child, searched last
        stack[top + 1] = b
        top += 2
    return best


@njit(cache=True)
def lpm2(x: np.ndarray, y: np.ndarray, prob: np.ndarray, u: np.ndarray,
         seed: np.uint64) -> np.ndarray:
    """LPM2 on probabilities `prob`; `u` holds 2·len(prob) + 1 uniforms. Returns 0/1 floats."""
    n = len(prob)
    p = prob.copy()
    alive = np.zeros(n, np.bool_)
    undecided = np.zeros(n, np.int64)
    where = np.full(n, -1, np.int64)
    m = 0
    for k in range(n):
        if p[k] <= EPS:
            p[k] = 0.0
        elif p[k] >= 1.0 - EPS:
            p[k] = 1.0
        else:
            alive[k] = True
            undecided[m] = k
            where[k] = m
            m += 1
    if m == 0:
        return p
    idx, lo, hi, left, right, parent, box, count, leaf_of = _build(x, y, alive)
    stack = np.zeros(4 * 64 + 2 * len(lo), np.int64)
    state = np.zeros(1, np.uint64)
    state[0] = seed
    t = 0
    while m > 1:
        i = undecided[min(int(u[t] * m), m - 1)]
        t += 1
        j = _nearest(i, x, y, alive, idx, lo, hi, left, right, box, count, stack, state)
        a = p[i]
        b = p[j]
        if a + b > 1.0:
            if u[t] < (1.0 - b) / (2.0 - a - b):
                a, b = 1.0, a + b - 1.0
            else:
                a, b = a + b - 1.0, 1.0
        elif u[t] < b / (a + b):
            a, b = 0.0, a + b
        else:
            a, b = a + b, 0.0
        t += 1
        p[i] = a
        p[j] = b
        for k in (i, j):
            v = p[k]
            if v <= EPS or v >= 1.0 - EPS:
                p[k] = 0.0 if v <= EPS else 1.0
                _remove(k, alive, count, parent, leaf_of)
                last = undecided[m - 1]  # swap-remove from the undecided list
                undecided[where[k]] = last
                where[last] = where[k]
                where[k] = -1
                m -= 1
    if m == 1:  # a fraction left only when the sum is not an integer: round it at random
        k = undecided[0]
        p[k] = 1.0 if u[t] < p[k] else 0.0
    return p


def lpm2_select(x: np.ndarray, y: np.ndarray, prob: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Positions chosen by LPM2 with inclusion probabilities `prob`, in frame order."""
    if len(prob) == 0:
        return np.empty(0, dtype=np.int64)
    u = rng.random(2 * len(prob) + 1)
    seed = np.uint64(rng.integers(0, 2**63))
    x = np.ascontiguousarray(x, dtype=float)
    y = np.ascontiguousarray(y, dtype=float)
    s = lpm2(x, y, np.ascontiguousarray(prob, dtype=float), u, seed)
    return np.flatnonzero(s == 1.0)


def select_stratum(x: np.ndarray, y: np.ndarray, prob: np.ndarray, n: int,
                   legacy: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """LPM2 on one stratum (see the module docstring for the replacements). `prob`: the
    inclusion probabilities for n + over (legacy units 1). Returns stratum positions in the
    order of use and their is-base flags."""
    chosen = lpm2_select(x, y, prob, rng)
    leg = legacy[chosen]
    n_free = n - int(leg.sum())
    extra = len(chosen) - n
    if extra > 0:
        second = np.where(leg, 1.0, n_free / (len(chosen) - int(leg.sum())))
        in_base = np.zeros(len(chosen), dtype=bool)
        in_base[lpm2_select(x[chosen], y[chosen], second, rng)] = True
    else:
        in_base = np.ones(len(chosen), dtype=bool)
    bbox = (float(x.min()), float(y.min()), float(x.max()), float(y.max()))
    parts = []
    for part in (chosen[in_base], chosen[~in_base]):
        by_address = part[address_order(x[part], y[part], rng, bbox)]
        parts.append(by_address[rho_order(len(by_address))])
    flags = np.concatenate([np.ones(len(parts[0]), bool), np.zeros(len(parts[1]), bool)])
    return np.concatenate(parts), flags
