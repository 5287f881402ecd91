"""Sampling core on a 200,000-unit frame: `select` with each method, n = 200 + 20 replacements.

The frame is built like the issue's test frame, scaled up: 200,000 points in a 100 x 80 km
rectangle, two thirds uniform and one third in twenty Gaussian clusters (sigma 2 km), with
risk weights 1, 1.5 or 2 (unequal inclusion probabilities). The first call per method loads
(or compiles, on a fresh checkout) the numba code and is timed apart. No database.
"""

from __future__ import annotations

import sys

import numpy as np

from bench.report import Recorder, Row, print_table
from georeg.sampling import METHODS, select, srs_balance_mean

SIZE = 200_000
N = 200
OVER = 20
TARGETS = {"grts": 1.0, "lpm": 3.0, "srs": 1.0}  # seconds, after warm-up


def frame(size: int = SIZE, seed: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = size // 3
    cx = rng.uniform(10_000, 90_000, 20)
    cy = rng.uniform(10_000, 70_000, 20)
    c = rng.integers(0, 20, k)
    x = np.clip(np.r_[rng.uniform(0, 100_000, size - k), rng.normal(cx[c], 2_000)], 0, 100_000)
    y = np.clip(np.r_[rng.uniform(0, 80_000, size - k), rng.normal(cy[c], 2_000)], 0, 80_000)
    weights = rng.choice([1.0, 1.5, 2.0], size, p=[0.8, 0.15, 0.05])
    return x, y, weights


def run(recorder: Recorder, *, size: int = SIZE, n: int = N, over: int = OVER,
        repeats: int = 3) -> dict[str, float]:
    """Time `select` per method (median of `repeats` runs after a warm-up) into `recorder`;
    print the balance figures; return {method: median seconds}."""
    x, y, weights = frame(size)
    small = slice(0, 1000)
    with recorder("预热：载入（或首次编译）numba 代码"):
        for method in METHODS:
            select(x[small], y[small], 10, method=method, seed=0, weights=weights[small], over=2)
    medians: dict[str, float] = {}
    balance: dict[str, float | None] = {}
    for method in METHODS:
        rows: list[Row] = []
        for seed in range(repeats):
            with recorder(f"{method}：{size:,} 个单位中抽 {n} + {over}（种子 {seed}）") as row:
                selection = select(x, y, n, method=method, seed=seed, weights=weights,
                                   over=over)
                row.rows = size
            rows.append(row)
            balance[f"{method}#{seed}"] = selection.balance
        medians[method] = float(np.median([r.seconds for r in rows]))
    with recorder("同一抽样框简单随机抽样的平均均衡度（10 次）") as row:
        srs_mean = srs_balance_mean(x, y, selection.frame_probability, n, seed=1, reps=10)
        row.rows = size
    for method in METHODS:
        figures = [v for k, v in balance.items() if k.startswith(method) and v is not None]
        print(f"{method}：中位数 {medians[method]:.3f} 秒（目标 ≤ {TARGETS[method]:.0f} 秒），"
              f"基本样本的 Pielou 均衡度 {np.mean(figures):.4f}")
    print(f"简单随机抽样的平均 Pielou 均衡度：{srs_mean:.4f}")
    return medians


if __name__ == "__main__":
    progress = Recorder()
    result = run(progress)
    print_table("空间均衡抽样：20 万单位的抽样框", progress.rows)
    sys.exit(0 if all(result[m] <= TARGETS[m] for m in result) else 1)
