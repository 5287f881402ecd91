"""Timing rows and a plain-text table, shared by the benchmarks (`python -m bench`)."""

from __future__ import annotations

import sys
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO


@dataclass
class Row:
    step: str
    seconds: float = 0.0
    rows: int | None = None

    @property
    def rate(self) -> float | None:
        if self.rows is None or self.seconds <= 0:
            return None
        return self.rows / self.seconds


class Recorder:
    """A progress factory shaped like cli.step that also keeps a Row per step.

    Code under test may set `.rows` on what the context manager yields.
    """

    def __init__(self, *, echo: TextIO | None = sys.stderr) -> None:
        self.rows: list[Row] = []
        self._echo = echo

    @contextmanager
    def __call__(self, label: str) -> Iterator[Row]:
        row = Row(label)
        if self._echo:
            print(f"… {label}", file=self._echo, flush=True)
        started = time.perf_counter()
        try:
            yield row
        finally:
            row.seconds = time.perf_counter() - started
            self.rows.append(row)
            if self._echo:
                print(f"✓ {label}（{row.seconds:.1f} 秒）", file=self._echo, flush=True)


def _width(text: str) -> int:
    # Chinese characters take two terminal columns.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, *, right: bool = False) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def print_table(title: str, rows: list[Row], *, total: Row | None = None,
                file: TextIO = sys.stdout) -> None:
    """Step, seconds, rows, rows/s; a total row, if given, under a rule."""
    header = ("步骤", "秒", "行数", "行/秒")

    def cells(r: Row) -> tuple[str, str, str, str]:
        rate = r.rate
        return (r.step, f"{r.seconds:.1f}", "" if r.rows is None else f"{r.rows:,}",
                "" if rate is None else f"{rate:,.0f}")

    body = [cells(r) for r in rows]
    foot = [cells(total)] if total else []
    widths = [max(_width(c[i]) for c in [header, *body, *foot]) for i in range(4)]

    def line(c: tuple[str, ...]) -> str:
        return "  ".join(_pad(v, widths[i], right=i > 0) for i, v in enumerate(c))

    rule = "-" * (sum(widths) + 2 * 3)
    print(f"\n{title}", file=file)
    print(line(header), file=file)
    print(rule, file=file)
    for c in body:
        print(line(c), file=file)
    if foot:
        print(rule, file=file)
        print(line(foot[0]), file=file)
