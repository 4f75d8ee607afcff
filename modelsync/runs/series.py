"""Metric series for charts: read from the catalog, cut to a step range, downsampled.

Only the step and value columns are read (the catalog's chunk blobs, joined with numpy); wall
times stay on disk.

Min-max bucketing: the points are split into equal runs of consecutive points and each run keeps
its smallest and its largest value, in their original order. Spikes and dips survive (an average
would smooth them away) and a line drawn through the result looks like the full series at chart
resolution. Work is linear in the series' length, in numpy.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Steps = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Series:
    steps: Steps
    values: Values

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def from_columns(cls, steps: Iterable[bytes], values: Iterable[bytes]) -> Series:
        """A series from little-endian int64 step and float64 value column bytes, in order."""
        step_parts = [np.frombuffer(part, dtype="<i8") for part in steps]
        value_parts = [np.frombuffer(part, dtype="<f8") for part in values]
        if not step_parts:
            return cls(np.empty(0, np.int64), np.empty(0, np.float64))
        return cls(
            np.concatenate(step_parts).astype(np.int64, copy=False),
            np.concatenate(value_parts).astype(np.float64, copy=False),
        )

    @classmethod
    def load(cls, conn: sqlite3.Connection, run: str, key: str) -> Series:
        """The whole series of ``key`` in ``run`` as the catalog indexed it (empty if none)."""
        rows = conn.execute(
            "SELECT steps, vals FROM metric_chunks WHERE run = ? AND key = ? ORDER BY seq",
            (run, key),
        ).fetchall()
        return cls.from_columns((row[0] for row in rows), (row[1] for row in rows))

    def between(self, step_min: int | None, step_max: int | None) -> Series:
        """The points whose step lies in ``[step_min, step_max]`` (an open end is unbounded)."""
        if step_min is None and step_max is None:
            return self
        keep = np.ones(len(self), dtype=bool)
        if step_min is not None:
            keep &= self.steps >= step_min
        if step_max is not None:
            keep &= self.steps <= step_max
        return Series(self.steps[keep], self.values[keep])


def minmax_downsample(series: Series, points: int) -> Series:
    """At most ``points`` points of ``series``: per bucket, its minimum and its maximum.

    NaN never wins a bucket unless the bucket holds nothing else, so a NaN shows as a gap only
    where the whole bucket is NaN.
    """
    n = len(series)
    if n <= points:
        return series
    buckets = max(1, points // 2)
    size = math.ceil(n / buckets)
    padded = np.full(buckets * size, np.nan)
    padded[:n] = series.values
    rows = padded.reshape(buckets, size)
    missing = np.isnan(rows)
    lowest = np.where(missing, np.inf, rows).argmin(axis=1)
    highest = np.where(missing, -np.inf, rows).argmax(axis=1)
    offsets = np.arange(buckets) * size
    picked = np.unique(np.concatenate((offsets + lowest, offsets + highest)))
    picked = picked[picked < n]
    return Series(series.steps[picked], series.values[picked])


def json_values(values: Values) -> list[float | None]:
    """Values for JSON: NaN and infinities become null (a gap in the chart)."""
    finite = np.isfinite(values)
    if finite.all():
        return values.tolist()  # type: ignore[no-any-return]
    out: list[float | None] = values.tolist()
    for index in np.flatnonzero(~finite).tolist():
        out[index] = None
    return out
