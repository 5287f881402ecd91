"""`select`: one sampling design over a frame of points — checks, strata, dispatch per method."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from georeg.sampling import grts, lpm, srs
from georeg.sampling.balance import pielou_balance
from georeg.sampling.probabilities import SamplingError, allocate, inclusion_probabilities

Method = Literal["grts", "lpm", "srs"]
StratumSelect = Callable[
    [np.ndarray, np.ndarray, np.ndarray, int, np.ndarray, np.random.Generator],
    tuple[np.ndarray, np.ndarray]]
METHODS: dict[str, StratumSelect] = {"grts": grts.select_stratum, "lpm": lpm.select_stratum,
                                     "srs": srs.select_stratum}
METHOD_LABELS = {"grts": "GRTS 广义随机镶嵌分层抽样", "lpm": "局部枢轴法 LPM2",
                 "srs": "简单随机抽样"}


@dataclass(frozen=True)
class Selection:
    order: np.ndarray                  # int64 frame positions, base units first, then the
                                       # replacements in the order they should be used
    is_base: np.ndarray                # bool, aligned with `order`
    inclusion_probability: np.ndarray  # float, aligned with `order`
    frame_probability: np.ndarray      # float, one per frame unit; sums to n (per stratum)
    stratum_sizes: dict[Any, tuple[int, int]]  # stratum -> (frame units, allocated n)
    balance: float | None              # Pielou figure of the base sample (None if n < 2)


def _float_array(v: Any, size: int | None, field: str, what: str) -> np.ndarray:
    try:
        a = np.asarray(v, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise SamplingError(field, "not_numeric", f"{what}须为数值") from None
    if size is not None and len(a) != size:
        raise SamplingError(field, "length_mismatch",
                            f"{what}的个数（{len(a)}）与单位数（{size}）不符")
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a))[0])
        raise SamplingError(field, "not_finite", f"第 {bad + 1} 个单位的{what}不是有限数值")
    return a


def _strata(strata: Any, size: int) -> tuple[list[Hashable], np.ndarray]:
    """Stratum keys in a stable order (sorted when comparable) and each unit's stratum index."""
    if strata is None:
        return [None], np.zeros(size, dtype=np.int64)
    labels = np.asarray(strata)
    if labels.ndim != 1 or len(labels) != size:
        raise SamplingError("strata", "length_mismatch", "分层标签的个数与单位数不符")
    if labels.dtype != object:
        keys_a, codes = np.unique(labels, return_inverse=True)
        return [k.item() if hasattr(k, "item") else k for k in keys_a], codes.astype(np.int64)
    index: dict[Hashable, int] = {}
    codes = np.empty(size, dtype=np.int64)
    for pos, label in enumerate(labels.tolist()):
        codes[pos] = index.setdefault(label, len(index))
    keys = list(index)
    try:
        ranked = sorted(range(len(keys)), key=lambda k: keys[k])
    except TypeError:
        ranked = sorted(range(len(keys)), key=lambda k: (type(keys[k]).__name__, str(keys[k])))
    remap = np.empty(len(keys), dtype=np.int64)
    remap[ranked] = np.arange(len(keys))
    return [keys[k] for k in ranked], remap[codes]


def select(x: np.ndarray, y: np.ndarray, n: int | Mapping[Any, int], *,
           method: Method = "grts", seed: int,
           weights: np.ndarray | None = None,
           strata: np.ndarray | None = None,
           allocation: Literal["proportional", "equal"] | Mapping[Any, int] = "proportional",
           legacy: np.ndarray | None = None,
           over: int = 0) -> Selection:
    """Select a sample of `n` (plus `over` replacements) from the frame of points (x, y) in metres.

    Inclusion probabilities are ∝ `weights` (> 0; None: equal), capped at 1 iteratively, with
    `legacy` units at 1 (they count in n), within each stratum. `n` an int is allocated to the
    strata by `allocation` (proportional to size, equal, or a mapping stratum -> n); a mapping
    gives the numbers per stratum directly. `over` replacements in total are spread over the
    strata in proportion to their n. Each stratum draws from its own stream derived from
    `seed` (numpy PCG64), so the same inputs and seed give the same sample.

    Method "grts" follows spsurvey 5.x (georeg/sampling/grts.py), "lpm" is Grafström's LPM2
    (lpm.py), "srs" simple random sampling or systematic πps on a random order (srs.py).
    Replacements belong to their stratum: a base unit that cannot be sampled is replaced by the
    next unused replacement of the same stratum.
    """
    if method not in METHODS:
        raise SamplingError("method", "invalid", "抽样方法须为 grts、lpm 或 srs")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise SamplingError("seed", "invalid", "随机种子须为不小于 0 的整数")
    xa = _float_array(x, None, "x", "x 坐标")
    size = len(xa)
    ya = _float_array(y, size, "y", "y 坐标")
    if size == 0:
        raise SamplingError("frame", "empty", "抽样框为空：没有可抽取的单位")
    w = None
    if weights is not None:
        w = _float_array(weights, size, "weights", "权重")
        if (w <= 0).any():
            bad = int(np.flatnonzero(w <= 0)[0])
            raise SamplingError("weights", "not_positive",
                                f"权重须大于 0：第 {bad + 1} 个单位的权重为 {w[bad]:g}")
    leg = np.zeros(size, dtype=bool)
    if legacy is not None:
        leg = np.asarray(legacy).reshape(-1)
        if len(leg) != size:
            raise SamplingError("legacy", "length_mismatch", "必抽标记的个数与单位数不符")
        leg = leg.astype(bool)
    keys, codes = _strata(strata, size)
    members = [np.flatnonzero(codes == h) for h in range(len(keys))] if len(keys) > 1 \
        else [np.arange(size)]
    sizes = [len(m) for m in members]
    n_h, over_h = allocate(keys, sizes, n, allocation, over,
                           legacy_counts=[int(leg[m].sum()) for m in members])

    frame_prob = np.zeros(size)
    base_parts: list[np.ndarray] = []
    repl_parts: list[np.ndarray] = []
    streams = np.random.SeedSequence(int(seed)).spawn(len(keys))
    for h, pos in enumerate(members):
        nb, no = n_h[h], over_h[h]
        if nb + no == 0:
            continue
        rng = np.random.Generator(np.random.PCG64(streams[h]))
        lg = leg[pos]
        prob = inclusion_probabilities(None if w is None else w[pos], nb + no, len(pos), lg)
        n_leg = int(lg.sum())
        share = (nb - n_leg) / (nb + no - n_leg) if no else 1.0
        frame_prob[pos] = np.where(lg, 1.0, prob * share)
        local, flags = METHODS[method](xa[pos], ya[pos], prob, nb, lg, rng)
        base_parts.append(pos[local[flags]])
        repl_parts.append(pos[local[~flags]])
    base = np.concatenate(base_parts) if base_parts else np.empty(0, np.int64)
    repl = np.concatenate(repl_parts) if repl_parts else np.empty(0, np.int64)
    order = np.concatenate([base, repl]).astype(np.int64)
    is_base = np.concatenate([np.ones(len(base), bool), np.zeros(len(repl), bool)])
    return Selection(
        order=order,
        is_base=is_base,
        inclusion_probability=frame_prob[order],
        frame_probability=frame_prob,
        stratum_sizes={k: (sizes[h], n_h[h]) for h, k in enumerate(keys)},
        balance=pielou_balance(xa, ya, frame_prob, base),
    )
