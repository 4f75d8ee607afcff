"""Long metric series cut down for a chart, on the server, keeping their shape.

Min-max bucketing: the points are split into equal runs of consecutive points and each run keeps
its smallest and its largest value, in their original order. Spikes and dips survive (an average
would smooth them away) and a line drawn through the result looks like the full series at chart
resolution. Work is linear in the series' length, in numpy.
"""

from __future__ import annotations

import math
from array import array
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
    def from_arrays(cls, steps: array[int], values: array[float]) -> Series:
        """A series over ``array('q')`` steps and ``array('d')`` values, without copying."""
        return cls(np.frombuffer(steps, dtype=np.int64), np.frombuffer(values, dtype=np.float64))

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
