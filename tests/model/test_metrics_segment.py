"""Metric points in memory and in the columnar segment each run commit carries."""

from __future__ import annotations

import math
import struct
import sys
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from modelsync.errors import TrackingError
from modelsync.model.segment import (
    MalformedSegment,
    MetricBlock,
    decode_segment,
    encode_segment,
    to_metric_value,
)
from modelsync.runs.buffer import MetricBuffer


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1.0),
        (2.5, 2.5),
        (True, 1.0),
        (Decimal("0.25"), 0.25),
        (Fraction(1, 4), 0.25),
        (np.float32(1.5), 1.5),
        (np.int64(7), 7.0),
        (np.float64(2.0), 2.0),
        (np.array(3.0), 3.0),
        (np.array([4.0]), 4.0),
        (torch.tensor(5.0), 5.0),
        (torch.tensor([6], dtype=torch.int32), 6.0),
        (torch.tensor(0.5, dtype=torch.bfloat16), 0.5),
    ],
)
def test_python_numpy_and_torch_scalars_are_metric_values(value: object, expected: float) -> None:
    assert to_metric_value(value) == expected


def test_nan_and_infinities_are_kept() -> None:
    assert math.isnan(to_metric_value(float("nan")))
    assert math.isnan(to_metric_value(np.float32("nan")))
    assert to_metric_value(torch.tensor(float("inf"))) == math.inf
    assert to_metric_value(-math.inf) == -math.inf


@pytest.mark.parametrize(
    "value",
    ["1.0", b"1", None, 1j, 10**400, object(), np.array([1.0, 2.0]), torch.zeros(3), [1.0]],
)
def test_non_numbers_are_refused_with_their_type(value: object) -> None:
    with pytest.raises(TypeError, match=r"not a (single )?number"):
        to_metric_value(value)


def test_buffer_splits_points_into_one_column_set_per_key() -> None:
    buffer = MetricBuffer()
    buffer.add({"loss": 1.0, "acc": 0.5}, when=10.0)
    buffer.add({"loss": 0.5}, when=11.0)
    block = buffer.take(seq=7)
    assert block is not None
    assert block.seq == 7 and block.count == 3
    chunks = {chunk.key: chunk for chunk in block.chunks}
    assert list(chunks["loss"].step_column()) == [0, 1]
    assert list(chunks["loss"].value_column()) == [1.0, 0.5]
    assert list(chunks["loss"].time_column()) == [10.0, 11.0]
    assert list(chunks["acc"].value_column()) == [0.5]


def test_a_call_with_a_bad_value_buffers_nothing() -> None:
    buffer = MetricBuffer()
    buffer.add({"loss": 1.0})
    with pytest.raises(TypeError):
        buffer.add({"loss": 0.5, "acc": 0.9, "label": "cat"})
    assert buffer.last_step == 0
    block = buffer.take(0)
    assert block is not None and block.count == 1
    assert [c.key for c in block.chunks if c.count] == ["loss"]


def test_a_call_with_a_bad_name_buffers_nothing() -> None:
    buffer = MetricBuffer()
    with pytest.raises(TrackingError, match="invalid metric name"):
        buffer.add({"loss": 1.0, "": 2.0})
    with pytest.raises(TrackingError, match="must be strings"):
        buffer.add({"loss": 1.0, 3: 2.0})  # type: ignore[dict-item]
    assert buffer.count == 0 and buffer.last_step == -1
    assert buffer.take(0) is None


def test_an_empty_buffer_makes_no_block() -> None:
    assert MetricBuffer().take(0) is None


def test_the_step_counts_itself_across_takes_and_an_explicit_step_sets_it() -> None:
    buffer = MetricBuffer(last_step=4)
    buffer.add({"x": 1.0})
    buffer.take(0)
    buffer.add({"x": 2.0})
    buffer.add({"x": 3.0}, step=10)
    buffer.add({"x": 4.0})
    buffer.add({})
    block = buffer.take(1)
    assert block is not None
    assert list(block.chunks[0].step_column()) == [6, 10, 11]
    assert buffer.last_step == 11


@pytest.mark.parametrize("first", [-10, -1, 65_530, 2**32 - 3, 2**48 - 5, 2**63 - 3])
def test_a_training_loop_counts_its_steps_exactly_across_word_boundaries(first: int) -> None:
    buffer = MetricBuffer(last_step=first)
    for i in range(70_000):
        buffer.add({"loss": float(i)})
    buffer.add({"loss": 0.5, "acc": 1.0}, step=7)
    block = buffer.take(0)
    assert block is not None
    loss = block.chunks[0]
    assert list(loss.step_column()) == [min(first + 1 + i, 2**63 - 1) for i in range(70_000)] + [7]
    assert list(loss.value_column()) == [float(i) for i in range(70_000)] + [0.5]


calls = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(["a", "b", "c"]), st.floats(allow_nan=False), max_size=3),
        st.none() | st.integers(-(2**63), 2**63 - 1),
        st.booleans(),
    ),
    max_size=40,
)


@given(first=st.sampled_from([-1, -10, 65_530, 2**32 - 3, 2**48 - 5, 2**63 - 3]), calls=calls)
def test_taken_points_are_the_calls_points_in_order_with_their_steps(
    first: int, calls: list[tuple[dict[str, float], int | None, bool]]
) -> None:
    buffer = MetricBuffer(last_step=first)
    expected: dict[str, list[tuple[int, float]]] = {}
    taken: dict[str, list[tuple[int, float]]] = {}
    last = first

    def take() -> None:
        block = buffer.take(0)
        for chunk in block.chunks if block is not None else ():
            taken.setdefault(chunk.key, []).extend(
                zip(chunk.step_column(), chunk.value_column(), strict=True)
            )

    for metrics, step, take_after in calls:
        buffer.add(metrics, step)
        if metrics:
            last = min(last + 1, 2**63 - 1) if step is None else step
            for key, value in metrics.items():
                expected.setdefault(key, []).append((last, value))
        assert buffer.last_step == last
        if take_after:
            take()
    take()
    assert taken == expected


def _block(seq: int, points: list[tuple[str, int, float]]) -> MetricBlock:
    buffer = MetricBuffer()
    for key, step, value in points:
        buffer.add({key: value}, step, when=1000.0 + step)
    block = buffer.take(seq)
    assert block is not None
    return block


keys = st.sampled_from(["loss", "acc", "val/loss", "λ", "a" * 250])
points = st.lists(
    st.tuples(keys, st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True)),
    min_size=1,
    max_size=30,
)


@given(first_seq=st.integers(0, 2**40), groups=st.lists(points, max_size=5))
def test_segments_round_trip_blocks_exactly(
    first_seq: int, groups: list[list[tuple[str, int, float]]]
) -> None:
    blocks = []
    seq = first_seq
    for group in groups:
        block = _block(seq, group)
        blocks.append(block)
        seq += block.count
    segment = decode_segment(encode_segment(first_seq, blocks))
    assert segment.first_seq == first_seq
    assert segment.end_seq == seq
    assert segment.blocks == tuple(blocks)


def test_an_empty_segment_still_says_where_the_next_point_goes() -> None:
    segment = decode_segment(encode_segment(42, []))
    assert segment.count == 0 and segment.end_seq == 42


def test_blocks_out_of_sequence_are_refused() -> None:
    block = _block(5, [("loss", 0, 1.0)])
    with pytest.raises(ValueError, match="expected 0"):
        encode_segment(0, [block])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda data: b"NOTASEG!" + data[8:],
        lambda data: data[:-3],
        lambda data: data + b"\x00",
        lambda data: data[:10],
    ],
)
def test_malformed_segments_are_reported(mangle: object) -> None:
    data = encode_segment(0, [_block(0, [("loss", 0, 1.0), ("acc", 0, 0.5)])])
    with pytest.raises(MalformedSegment):
        decode_segment(mangle(data))  # type: ignore[operator]


def test_segment_columns_are_little_endian_int64_and_float64() -> None:
    data = encode_segment(0, [_block(0, [("k", 3, 0.25)])])
    # header (24) + key table (2 + 1) + block header (12) + chunk header (8), then the columns
    step, value, when = struct.unpack_from("<qdd", data, 24 + 3 + 12 + 8)
    assert (step, value, when) == (3, 0.25, 1003.0)


@pytest.mark.parametrize("with_numpy", [True, False])
def test_chunk_summary_ignores_nan_for_min_and_max(
    with_numpy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not with_numpy:
        monkeypatch.setitem(sys.modules, "numpy", None)
    block = _block(0, [("x", 0, 3.0), ("x", 1, math.nan), ("x", 2, -1.0), ("x", 3, math.nan)])
    summary = block.chunks[0].summary()
    assert (summary.count, summary.min, summary.max, summary.last_step) == (4, -1.0, 3.0, 3)
    assert math.isnan(summary.last_value)
    only_nan = _block(0, [("y", 0, math.nan)]).chunks[0].summary()
    assert (only_nan.min, only_nan.max) == (None, None)
    with_inf = _block(0, [("z", 0, math.inf), ("z", 1, -math.inf)]).chunks[0].summary()
    assert (with_inf.min, with_inf.max) == (-math.inf, math.inf)
