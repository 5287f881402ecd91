"""Inclusion probabilities and stratum allocation, and the error every sampling check raises."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from georeg.errors import FieldError, InvalidInput


class SamplingError(InvalidInput):
    """A sampling request that cannot be met; `errors` say which field and why (zh-CN)."""

    code = "invalid_sampling"
    title = "抽样参数有误"

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message, [FieldError(field, code, message)])


def inclusion_probabilities(weights: np.ndarray | None, n: int, size: int | None = None,
                            legacy: np.ndarray | None = None) -> np.ndarray:
    """First-order inclusion probabilities for a sample of `n` from one stratum.

    Proportional to `weights` (all > 0; None = equal), capped at 1 iteratively as spsurvey's
    grtspts_ip does: units at or above 1 are set to 1 and the rest rescaled to the remaining
    sample size, until nothing exceeds 1. Legacy units are must-sample (probability 1) and count
    in `n` (spsurvey's grtspts_ipleg). The result sums to `n` up to rounding.
    """
    if weights is None:
        if size is None:
            raise ValueError("size is required without weights")
        w = np.ones(size)
    else:
        w = np.asarray(weights, dtype=float)
    p = np.zeros(len(w))
    fixed = np.zeros(len(w), dtype=bool) if legacy is None else np.array(legacy, dtype=bool)
    if fixed.sum() > n:
        raise ValueError("more legacy units than n")
    p[fixed] = 1.0
    while True:
        free = ~fixed
        left = n - int(fixed.sum())
        if left <= 0 or not free.any():
            p[free] = 0.0
            break
        p[free] = left * w[free] / w[free].sum()
        over = free & (p >= 1.0)
        if not over.any():
            break
        fixed |= over
        p[over] = 1.0
    return p


def largest_remainder(total: int, shares: np.ndarray, caps: np.ndarray,
                      priority: np.ndarray | None = None) -> np.ndarray:
    """Split `total` into integers proportional to `shares`, none above its cap.

    Hamilton's method: floors first, then the largest remainders get one more (ties to the
    larger `priority`, default the share, then the earlier position). Quotas above a cap are
    cut to the cap and the excess shared out again among the others. Raises ValueError when
    total > sum(caps).
    """
    shares = np.asarray(shares, dtype=float)
    caps = np.asarray(caps, dtype=np.int64)
    prio = shares if priority is None else np.asarray(priority, dtype=float)
    if total > caps.sum():
        raise ValueError("total exceeds the caps")
    out = np.zeros(len(shares), dtype=np.int64)
    open_ = caps > 0
    left = total
    while left > 0:
        s = np.where(open_, shares, 0.0)
        if s.sum() <= 0:  # only zero shares remain open: spread evenly among them
            s = open_.astype(float)
        quota = left * s / s.sum()
        add = np.minimum(np.floor(quota).astype(np.int64), caps - out)
        rest = left - int(add.sum())
        if rest > 0:
            remainder = np.where(open_ & (out + add < caps), quota - np.floor(quota), -1.0)
            rank = np.lexsort((np.arange(len(s)), -prio, -remainder))
            for k in rank[:rest]:
                if remainder[k] >= 0:
                    add[k] += 1
        out += add
        left = total - int(out.sum())
        open_ = out < caps
        if left > 0 and not open_.any():
            raise ValueError("total exceeds the caps")
    return out


def allocate(keys: Sequence[Any], sizes: Sequence[int], n: int | Mapping[Any, int],
             allocation: str | Mapping[Any, int], over: int,
             legacy_counts: Sequence[int] | None = None,
             labels: Mapping[Any, str] | None = None) -> tuple[list[int], list[int]]:
    """Base sample size and replacements per stratum, in the order of `keys`.

    `n` an int is a total split by `allocation` ("proportional" to stratum size, "equal", or a
    mapping stratum -> n that must add up to `n`); `n` a mapping gives the numbers directly.
    Replacements (`over`, a total) are spread in proportion to the base sizes, each stratum
    holding at most its size, and only over strata with base units that are not legacy units
    (a replacement stands in for one of those; elsewhere its probability would be 0).
    Raises SamplingError with a zh-CN message on what cannot be met.
    """
    sizes_a = np.asarray(sizes, dtype=np.int64)
    total_frame = int(sizes_a.sum())

    def name(k: Any) -> str:
        return str((labels or {}).get(k, k))

    if isinstance(over, bool) or not isinstance(over, int | np.integer) or over < 0:
        raise SamplingError("over", "invalid", "替补数须为不小于 0 的整数")
    given: Mapping[Any, int] | None = None
    if isinstance(n, Mapping):
        given = n
    elif isinstance(allocation, Mapping):
        given = allocation
    else:
        _check_count(n)
        if n > total_frame:
            raise SamplingError("n", "larger_than_frame",
                                f"样本量 {n} 大于抽样框的单位数 {total_frame}")
    if given is not None:
        unknown = [k for k in given if k not in set(keys)]
        if unknown:
            raise SamplingError("allocation", "unknown_stratum",
                                f"分配中的层不在抽样框内：{'、'.join(map(str, unknown[:5]))}")
        base = np.array([given.get(k, 0) for k in keys], dtype=object)
        for k, v in zip(keys, base, strict=True):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise SamplingError("allocation", "invalid",
                                    f"层“{name(k)}”的样本量须为不小于 0 的整数")
        base = base.astype(np.int64)
        if not isinstance(n, Mapping):
            if int(base.sum()) != n:
                raise SamplingError("allocation", "sum_mismatch",
                                    f"各层样本量之和 {int(base.sum())} 不等于样本量 {n}")
        elif base.sum() <= 0:
            raise SamplingError("n", "not_positive", "样本量须为正整数")
        for k, v, size in zip(keys, base, sizes_a, strict=True):
            if v > size:
                raise SamplingError("n", "larger_than_stratum",
                                    f"层“{name(k)}”的样本量 {v} 大于该层的单位数 {size}")
    elif allocation == "proportional":
        base = largest_remainder(int(n), sizes_a.astype(float), sizes_a)
    elif allocation == "equal":
        # equal shares; a remainder goes to the larger strata first
        base = largest_remainder(int(n), np.ones(len(keys)), sizes_a, priority=sizes_a)
    else:
        raise SamplingError("allocation", "invalid",
                            "分配方式须为 proportional、equal 或各层样本量")
    if legacy_counts is not None:
        for k, v, lc in zip(keys, base, legacy_counts, strict=True):
            if lc > v:
                raise SamplingError("legacy", "too_many",
                                    f"层“{name(k)}”的必抽单位 {lc} 个，多于该层样本量 {v}")
    if int(base.sum()) + over > total_frame:
        raise SamplingError("over", "larger_than_frame",
                            f"样本量加替补数 {int(base.sum()) + over} 大于抽样框的单位数 "
                            f"{total_frame}")
    free = base - np.asarray(legacy_counts if legacy_counts is not None else [0] * len(keys))
    room = np.where(free > 0, sizes_a - base, 0)
    if over > room.sum():
        raise SamplingError("over", "too_many",
                            f"替补数 {over} 超出可安排的 {int(room.sum())} 个：替补只安排在"
                            "有非必抽样本的层，且不超过该层剩余的单位数")
    extra = largest_remainder(over, base.astype(float), room) if over else np.zeros_like(base)
    return [int(v) for v in base], [int(v) for v in extra]


def _check_count(n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise SamplingError("n", "invalid", "样本量须为正整数")
    if n <= 0:
        raise SamplingError("n", "not_positive", "样本量须为正整数")
