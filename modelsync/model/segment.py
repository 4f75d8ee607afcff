"""Metric points in memory and in the columnar segment stored with each run commit.

Points are numbered run-wide in the order they were logged (their *seq*). The background writer
takes what the training thread buffered as one **block** — one **chunk** per key, each three
columns (steps int64, values float64, wall times float64) — and a commit's ``metrics.seg`` is the
blocks logged since the previous commit on the run. The catalog stores the very same chunks, named
``(run, key, seq of their block)``, so indexing a segment again (``reindex``) gives identical rows.

Segment layout, little-endian::

    magic     8 bytes  b"MSMSEG\\x00\\x01"
    first_seq u64      seq of the segment's first point (points of the run before it)
    n_keys    u32, n_blocks u32
    keys      n_keys x (u16 length, UTF-8 bytes)
    blocks    n_blocks x (seq u64, n_chunks u32, n_chunks x (key index u32, count u32),
                          then each chunk's steps i64[count], values f64[count], times f64[count])
"""

from __future__ import annotations

import functools
import math
import struct
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
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
_wall_clock = time.time
_INT = struct.Struct("<q")
_STEP_MIN, _STEP_MAX = -(2**63), 2**63 - 1
_NO_KEY = object()
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


# A buffered call: one record, (tag, step, wall time, value, ...) packed little-endian as int64,
# int64 and float64s. Its tag is its shape's number (see ``_Shape``) times 2, plus 1 when its step
# is counted (one more than the previous call's) rather than given (its step field).
_HEAD = struct.Struct("<qqd")  # tag, step, wall time
_COUNTED = 1
_NEVER = 2**57  # points waiting that a buffer never reaches (32 bytes each fill 2**62)
_pack_single = struct.Struct("<qqdd").pack
_Columns = dict[str, tuple[list[bytes], list[bytes], list[bytes]]]  # steps, values, times


class _Shape:
    """The names of a call, in order, and the format of its record."""

    __slots__ = ("names", "record")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.record = struct.Struct("<qqd" + "d" * len(names))


class MetricBuffer:
    """The calls logged since the last take, in the order they were made, and the step counter
    (which outlives takes).

    Each call is one record appended to a bytearray in a single operation (``+=``, atomic
    under the GIL), so threads share the buffer without waiting, and ``take`` removes exactly
    the records it copied. Counted steps are numbered when taken, in call order: points follow
    each other in the order of their steps whatever the threads did. ``take``, ``last_step`` and
    a call of a new shape take a lock; other calls never wait.

    When ``full_at`` points are waiting, ``add`` calls ``when_full(points waiting)``, which
    returns how many points waiting should make it call again (a take starts over).

    ``add`` hands every call it does not take by itself to ``fallback(metrics, step, when)``
    (default: ``add_checked``), and so does it after ``divert()`` until a checked call: an
    owner that must check more (a run that may have ended) passes its own.
    """

    def __init__(
        self,
        last_step: int = -1,
        *,
        full_at: int = sys.maxsize,
        when_full: Callable[[int], int] | None = None,
        fallback: Callable[[Mapping[str, object], int | None, float], None] | None = None,
    ) -> None:
        self._log = bytearray()
        # A record of n points is 24 + 8n bytes: 32 per point, less 24 for each point a call
        # has beyond its first; ``_fewer`` adds those up (a hint with threads, reset by take).
        self._fewer = 0
        self._shapes: list[_Shape] = []
        self._numbers: dict[tuple[str, ...], int] = {}
        # The latest call's name and counted tag if it had one point, its names, shape and tag
        # if several: the next call like it takes a short path. Each is read as one object.
        self._single: tuple[object, int] = (_NO_KEY, _COUNTED)
        self._multiple: tuple[tuple[object, ...], _Shape, int] = ((_NO_KEY,), _Shape(()), 0)
        self._counted = last_step  # the step of the last call taken
        self._stepped = (0, last_step)  # the length of log whose steps are known, and the last
        self._lock = threading.Lock()
        self._full_at = min(full_at, _NEVER)
        self._next_full = self._full_at  # points waiting at which to call when_full
        self._full_size = 32 * self._next_full  # the bytes of as many one-point calls
        self._when_full = when_full or _ignore
        self._fallback = fallback or self.add_checked

    def add(
        self, metrics: Mapping[str, object], step: int | None = None, when: float | None = None
    ) -> None:
        """Buffer one call's points at ``step`` (default: the one after the previous call's)
        and wall time ``when`` (default: now); values as ``to_metric_value`` reads them.

        All or nothing: a bad name (TrackingError), value or step (TypeError) buffers none of
        the call. The training loop's usual call, one float under the name of the previous
        one-point call, takes the first branch: no loop, no lock, one append; the rest goes to
        the fallback.
        """
        if when is None:
            when = _wall_clock()
        key, tag = self._single
        try:
            value = metrics.get(key)  # type: ignore[call-overload]
            fits = type(value) is float and len(metrics) == 1
        except (AttributeError, TypeError):  # not a mapping: the fallback says what is wrong
            fits = False
        if fits and (step is None or (type(step) is int and _STEP_MIN <= step <= _STEP_MAX)):
            log = self._log
            if step is None:
                log += _pack_single(tag, 0, when, value)
            else:
                log += _pack_single(tag - _COUNTED, step, when, value)
            if len(log) >= self._full_size:
                self._full()
            return
        if not self._add_known(metrics, step, when):
            self._fallback(metrics, step, when)

    def add_checked(self, metrics: Mapping[str, object], step: int | None, when: float) -> None:
        """``add`` for a call of any names and values, each checked."""
        if step is not None and not (type(step) is int and _STEP_MIN <= step <= _STEP_MAX):
            raise TypeError(f"step must be a 64-bit integer, not {step!r}")
        if self._add_known(metrics, step, when):
            return
        names = tuple(metrics)
        values = tuple(to_metric_value(value) for value in metrics.values())
        for name in names:
            check_metric_key(name)
        if not names:
            return
        shape, tag = self._shape(names)
        if len(names) == 1:
            self._single = (names[0], tag | _COUNTED)
        else:
            self._multiple = (names, shape, tag)
        if step is None:
            self._append(shape.record.pack(tag | _COUNTED, 0, when, *values), names)
        else:
            self._append(shape.record.pack(tag, step, when, *values), names)

    def _add_known(self, metrics: Mapping[str, object], step: int | None, when: float) -> bool:
        """Buffer a call of floats under the names of the latest call of several, in the same
        order, at a checked step; False (nothing buffered) for any other call."""
        known, shape, tag = self._multiple
        try:
            names = tuple(metrics)
            values = tuple(metrics.values())
        except (AttributeError, TypeError):  # not a mapping
            return False
        if names != known or [value for value in values if type(value) is not float]:
            return False
        if step is None:
            self._append(shape.record.pack(tag | _COUNTED, 0, when, *values), names)
        elif type(step) is int and _STEP_MIN <= step <= _STEP_MAX:
            self._append(shape.record.pack(tag, step, when, *values), names)
        else:
            return False
        return True

    def _append(self, record: bytes, names: tuple[str, ...]) -> None:
        log = self._log
        log += record
        self._fewer += 24 * (len(names) - 1)
        if len(log) + self._fewer >= self._full_size:
            self._full()

    def divert(self) -> None:
        """Send the next calls to the fallback, until a checked call of one point or several
        (each kind of call comes back to the short path after one)."""
        self._single = (_NO_KEY, _COUNTED)
        self._multiple = ((_NO_KEY,), _Shape(()), 0)

    def _full(self) -> None:
        waiting = (len(self._log) + self._fewer) // 32
        if waiting >= self._next_full:
            self._next_full = min(self._when_full(waiting), _NEVER)
            self._full_size = 32 * self._next_full

    def _shape(self, names: tuple[str, ...]) -> tuple[_Shape, int]:
        """The shape of calls logging ``names`` (checked names), and its tag."""
        with self._lock:
            number = self._numbers.get(names)
            if number is None:
                number = self._numbers[names] = len(self._shapes)
                self._shapes.append(_Shape(names))
            return self._shapes[number], 2 * number

    @property
    def count(self) -> int:
        """Points waiting."""
        with self._lock:
            return sum(len(names) for _, _, names in self._records(self._log[:]))

    @property
    def last_step(self) -> int:
        """The step of the latest call (the one before the first when there is none)."""
        with self._lock:
            at, step = self._stepped
            log = self._log[at:]
            for tag, given, names in self._records(log):
                step = min(step + 1, _STEP_MAX) if tag & _COUNTED else given
                at += _HEAD.size + 8 * len(names)
            self._stepped = (at, step)
            return step

    def take(self, seq: int) -> MetricBlock | None:
        """What is buffered, as a block whose first point is ``seq`` (None when empty); calls
        made meanwhile stay for the next take."""
        with self._lock:
            log = self._log
            data = log[: len(log)]
            del log[: len(data)]
            self._fewer = 0
            self._next_full = self._full_at
            self._full_size = 32 * self._full_at
            if not data:
                return None
            columns: _Columns = {}
            for run in self._runs(data):
                self._split(run, columns)
            self._stepped = (0, self._counted)
        chunks = tuple(
            MetricChunk(name, seq, b"".join(steps), b"".join(values), b"".join(times))
            for name, (steps, values, times) in columns.items()
        )
        return MetricBlock(seq, chunks)

    def _records(self, data: bytes | bytearray) -> Iterator[tuple[int, int, tuple[str, ...]]]:
        """The tag, step field and names of each record in ``data``."""
        at = 0
        while at < len(data):
            tag, step, _ = _HEAD.unpack_from(data, at)
            names = self._shapes[tag >> 1].names
            yield tag, step, names
            at += _HEAD.size + 8 * len(names)

    def _runs(self, data: bytearray) -> Iterator[memoryview]:
        """``data`` cut into runs of records with the same tag: all of it at once when every
        record has the tag of the first, as in a training loop logging the same names."""
        view = memoryview(data)
        size = _HEAD.size + 8 * len(self._shapes[_INT.unpack_from(data)[0] >> 1].names)
        calls = len(data) // size
        if calls * size == len(data):
            tags = view.cast("q")[:: size // 8].tobytes()
            if tags == data[:8] * calls:
                yield view
                return
        start = at = 0
        tag = None
        for record_tag, _, names in self._records(data):
            if record_tag != tag and at:
                yield view[start:at]
                start = at
            tag = record_tag
            at += _HEAD.size + 8 * len(names)
        yield view[start:at]

    def _split(self, run: memoryview, columns: _Columns) -> None:
        """Add to ``columns`` the points of a run of records with one tag, as strided slices,
        and count their steps on."""
        tag = _INT.unpack_from(run)[0]
        names = self._shapes[tag >> 1].names
        words = run.cast("q")
        stride = 3 + len(names)
        calls = len(words) // stride
        if tag & _COUNTED:
            steps = _counted_steps(self._counted + 1, calls)
            self._counted = min(self._counted + calls, _STEP_MAX)
        else:
            steps = words[1::stride].tobytes()
            self._counted = _INT.unpack_from(run, len(run) - 8 * stride + 8)[0]
        times = words[2::stride].tobytes()
        for at, name in enumerate(names, start=3):
            column = columns.setdefault(name, ([], [], []))
            column[0].append(steps)
            column[1].append(words[at::stride].tobytes())
            column[2].append(times)


def _counted_steps(first: int, count: int) -> bytes:
    """The int64s ``first`` to ``first + count - 1`` (capped at 2**63 - 1), little-endian.

    Where they are below 2**48, as counted steps are, each is written as four 16-bit words by
    strided copies: its low word from a table of 0 to 65535, the others repeated.
    """
    if first < 0 or first + count > 1 << 48 or not _LITTLE_ENDIAN:
        steps = (min(step, _STEP_MAX) for step in range(first, first + count))
        return struct.pack(f"<{count}q", *steps)
    out = bytearray(8 * count)
    words = memoryview(out).cast("H")
    done = 0
    while done < count:
        step = first + done
        low = step & 0xFFFF
        run = min(count - done, 0x10000 - low)
        piece = words[4 * done : 4 * (done + run)]
        piece[0::4] = _low_words()[low : low + run]
        for at in (1, 2):
            word = (step >> 16 * at) & 0xFFFF
            if word:
                piece[at::4] = array("H", [word]) * run
        done += run
    return bytes(out)


@functools.cache
def _low_words() -> memoryview:
    return memoryview(array("H", range(0x10000)))


def _ignore(waiting: int) -> int:
    return _NEVER


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
