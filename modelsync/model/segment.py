"""The columnar metric segment stored with each run commit (``metrics.seg``), and its parts.

Points are numbered run-wide in the order they were logged (their *seq*). The background writer
takes what the training thread buffered (``runs.buffer``) as one **block** — one **chunk** per
key, each three columns (steps int64, values float64, wall times float64) — and a commit's
``metrics.seg`` is the blocks logged since the previous commit on the run. The catalog stores the
very same chunks, named ``(run, key, seq of their block)``, so indexing a segment again
(``reindex``) gives identical rows.

Segment layout, little-endian::

    magic     8 bytes  b"MSMSEG\\x00\\x01"
    first_seq u64      seq of the segment's first point (points of the run before it)
    n_keys    u32, n_blocks u32
    keys      n_keys x (u16 length, UTF-8 bytes)
    blocks    n_blocks x (seq u64, n_chunks u32, n_chunks x (key index u32, count u32),
                          then each chunk's steps i64[count], values f64[count], times f64[count])
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import TrackingError
from ..util.optional import loaded

MAGIC = b"MSMSEG\x00\x01"
MAX_KEY_LENGTH = 250

_HEADER = struct.Struct("<8sQII")
_KEY_LENGTH = struct.Struct("<H")
_BLOCK_HEADER = struct.Struct("<QI")
_CHUNK_HEADER = struct.Struct("<II")
_FLOAT = struct.Struct("<d")
_INT = struct.Struct("<q")
_LITTLE_ENDIAN = sys.byteorder == "little"


class MalformedSegment(ValueError):
    """Bytes that are not a metric segment."""


def _from_le(typecode: str, data: bytes | memoryview) -> array[Any]:
    column = array(typecode)
    column.frombytes(data)
    if not _LITTLE_ENDIAN:
        column.byteswap()
    return column


def check_metric_key(key: object) -> str:
    if not isinstance(key, str):
        raise TrackingError(f"metric names must be strings, not {type(key).__name__} ({key!r})")
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise TrackingError(
            f"invalid metric name {key!r}: use 1 to {MAX_KEY_LENGTH} printable characters"
        )
    return key


def to_metric_value(value: object) -> float:
    """A logged value as a float: Python, numpy and torch scalars; NaN and inf are kept."""
    if type(value) is float:
        return value
    if isinstance(value, str | bytes | bytearray) or value is None:
        raise TypeError(f"{type(value).__name__} {value!r:.60} is not a number")
    item = getattr(value, "item", None)
    if callable(item):
        count = _element_count(value)
        if count is not None and count != 1:
            raise TypeError(f"an array of {count} elements is not a single number")
        value = item()
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"{type(value).__name__} {value!r:.60} is not a number") from exc


def _element_count(value: object) -> int | None:
    """Elements of a numpy array (``size``) or torch tensor (``numel()``); None otherwise."""
    numel = getattr(value, "numel", None)
    if callable(numel):
        return int(numel())
    size = getattr(value, "size", None)
    return size if isinstance(size, int) else None


@dataclass(frozen=True)
class MetricChunk:
    """The points of one key within one block, as little-endian column bytes."""

    key: str
    seq: int
    steps: bytes
    values: bytes
    times: bytes

    @property
    def count(self) -> int:
        return len(self.steps) // 8

    @property
    def last_value(self) -> float:
        value: float = _FLOAT.unpack_from(self.values, len(self.values) - 8)[0]
        return value

    def step_column(self) -> array[int]:
        return _from_le("q", self.steps)

    def value_column(self) -> array[float]:
        return _from_le("d", self.values)

    def time_column(self) -> array[float]:
        return _from_le("d", self.times)

    def summary(self) -> ChunkSummary:
        low, high = _value_range(self.values)
        end = len(self.steps) - 8
        return ChunkSummary(
            count=self.count,
            last_step=_INT.unpack_from(self.steps, end)[0],
            last_value=self.last_value,
            last_time=_FLOAT.unpack_from(self.times, end)[0],
            min=low,
            max=high,
        )


def _value_range(values: bytes) -> tuple[float | None, float | None]:
    """Smallest and largest value, NaN ignored: with numpy when the program has loaded it."""
    numpy = loaded("numpy")
    if numpy is not None:
        column = numpy.frombuffer(values, dtype="<f8")
        finite = column[~numpy.isnan(column)]
        if not finite.size:
            return None, None
        return float(finite.min()), float(finite.max())
    column = _from_le("d", values)
    # min and max skip a NaN (every comparison with it is false) unless it comes first.
    low, high = min(column), max(column)
    if low == low and high == high:
        return low, high
    plain = [value for value in column if not math.isnan(value)]
    return (min(plain), max(plain)) if plain else (None, None)


@dataclass(frozen=True)
class ChunkSummary:
    count: int
    last_step: int
    last_value: float
    last_time: float
    min: float | None
    max: float | None


@dataclass(frozen=True)
class MetricBlock:
    """What one flush of the writer took: its points numbered from ``seq`` on, one chunk a key."""

    seq: int
    chunks: tuple[MetricChunk, ...]

    @property
    def count(self) -> int:
        return sum(chunk.count for chunk in self.chunks)


@dataclass(frozen=True)
class Segment:
    first_seq: int
    blocks: tuple[MetricBlock, ...]

    @property
    def count(self) -> int:
        return sum(block.count for block in self.blocks)

    @property
    def end_seq(self) -> int:
        """The seq the run's next point gets."""
        return self.first_seq + self.count

    def chunks(self) -> Iterator[MetricChunk]:
        for block in self.blocks:
            yield from block.chunks


def encode_segment(first_seq: int, blocks: Iterable[MetricBlock]) -> bytes:
    blocks = list(blocks)
    keys: dict[str, int] = {}
    for block in blocks:
        for chunk in block.chunks:
            keys.setdefault(chunk.key, len(keys))
    parts = [_HEADER.pack(MAGIC, first_seq, len(keys), len(blocks))]
    for key in keys:
        raw = key.encode("utf-8")
        parts += (_KEY_LENGTH.pack(len(raw)), raw)
    seq = first_seq
    for block in blocks:
        if block.seq != seq:
            raise ValueError(f"metric block starts at point {block.seq}, expected {seq}")
        parts.append(_BLOCK_HEADER.pack(block.seq, len(block.chunks)))
        parts += (_CHUNK_HEADER.pack(keys[chunk.key], chunk.count) for chunk in block.chunks)
        for chunk in block.chunks:
            parts += (chunk.steps, chunk.values, chunk.times)
        seq += block.count
    return b"".join(parts)


def decode_segment(data: bytes) -> Segment:
    try:
        return _decode(memoryview(data))
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise MalformedSegment(f"truncated or malformed metric segment: {exc}") from exc


def _decode(view: memoryview) -> Segment:
    magic, first_seq, n_keys, n_blocks = _HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise MalformedSegment("not a metric segment (bad magic)")
    offset = _HEADER.size
    keys = []
    for _ in range(n_keys):
        (length,) = _KEY_LENGTH.unpack_from(view, offset)
        offset += _KEY_LENGTH.size
        keys.append(bytes(view[offset : offset + length]).decode("utf-8"))
        offset += length
    blocks = []
    expected = first_seq
    for _ in range(n_blocks):
        seq, n_chunks = _BLOCK_HEADER.unpack_from(view, offset)
        if seq != expected:
            raise MalformedSegment(f"metric block starts at point {seq}, expected {expected}")
        offset += _BLOCK_HEADER.size
        headers = [_CHUNK_HEADER.unpack_from(view, offset + i * 8) for i in range(n_chunks)]
        offset += n_chunks * _CHUNK_HEADER.size
        chunks = []
        for key_index, count in headers:
            width = 8 * count
            end = offset + 3 * width
            if end > len(view):
                raise MalformedSegment("metric segment is truncated")
            steps = bytes(view[offset : offset + width])
            values = bytes(view[offset + width : offset + 2 * width])
            times = bytes(view[offset + 2 * width : end])
            chunks.append(MetricChunk(keys[key_index], seq, steps, values, times))
            offset = end
        block = MetricBlock(seq, tuple(chunks))
        blocks.append(block)
        expected += block.count
    if offset != len(view):
        raise MalformedSegment("trailing bytes after the metric segment")
    return Segment(first_seq, tuple(blocks))
