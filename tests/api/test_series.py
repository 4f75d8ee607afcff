"""Series for charts: columns joined in order, step ranges, and min-max downsampling (bounded
size, order kept, extremes kept, gaps only where a whole bucket is NaN)."""

from __future__ import annotations

import math
from array import array

import numpy as np

from modelsync.runs.series import Series, json_values, minmax_downsample


def series(values: list[float]) -> Series:
    steps = array("q", range(len(values))).tobytes()
    return Series.from_columns(
        [steps] if values else [], [array("d", values).tobytes()] if values else []
    )


def test_columns_are_joined_in_order() -> None:
    steps = [array("q", [1, 2]).tobytes(), array("q", [3]).tobytes()]
    values = [array("d", [0.5, 0.25]).tobytes(), array("d", [0.125]).tobytes()]
    joined = Series.from_columns(steps, values)
    assert joined.steps.tolist() == [1, 2, 3]
    assert joined.values.tolist() == [0.5, 0.25, 0.125]


def test_a_short_series_is_returned_whole() -> None:
    s = series([3.0, 1.0, 2.0])
    assert minmax_downsample(s, 10) is s


def test_the_result_fits_the_budget_and_keeps_logging_order() -> None:
    rng = np.random.default_rng(0)
    s = series(rng.normal(size=100_003).tolist())
    out = minmax_downsample(s, 2000)
    assert len(out) <= 2000
    assert np.all(np.diff(out.steps) > 0)


def test_every_bucket_keeps_its_minimum_and_maximum() -> None:
    values = [0.0] * 1000
    values[123], values[777] = 99.0, -42.0
    out = minmax_downsample(series(values), 20)
    assert 123 in out.steps.tolist() and 777 in out.steps.tolist()
    assert out.values.max() == 99.0 and out.values.min() == -42.0


def test_nan_only_shows_where_a_whole_bucket_is_nan() -> None:
    values = [float("nan")] * 100 + [float(i) for i in range(100)] + [math.nan, 5.0] * 50
    out = minmax_downsample(series(values), 10)
    assert np.isnan(out.values[0])
    assert np.count_nonzero(np.isnan(out.values)) <= 2


def test_between_selects_a_step_range() -> None:
    s = series([float(i) for i in range(10)])
    assert s.between(3, 5).steps.tolist() == [3, 4, 5]
    assert s.between(None, 1).steps.tolist() == [0, 1]
    assert s.between(8, None).steps.tolist() == [8, 9]


def test_an_empty_series_stays_empty() -> None:
    empty = series([])
    assert len(minmax_downsample(empty, 10)) == 0
    assert json_values(empty.values) == []


def test_json_values_turns_non_finite_into_null() -> None:
    values = np.array([1.0, math.nan, math.inf, -math.inf, 2.5])
    assert json_values(values) == [1.0, None, None, None, 2.5]
