"""The metric buffer: the training thread's side of ``run.log``, the logging hot path.

Each ``log`` call is packed into one record appended to a bytearray, with no lock and, for the
training loop's usual call, no loop. The background writer (``runs.writer``) ``take``s what is
buffered as one ``MetricBlock`` of the segment format (``model.segment``): one chunk per key,
its points numbered run-wide (their *seq*) from the block's first.

Two tricks pay for themselves here, measured with ``benchmarks/bench_metrics.py`` (points per
second through ``log_metrics`` until ``finish``, one and ten metrics a call):

- packed records (``_Shape.record``, ``_pack_single``): against a plain list of call tuples split
  into columns at take, 2.5x the points/s with one metric a call and 1.3x with ten;
- ``_one_tag_throughout``: a take of calls that all logged the same names is cut into columns by
  strided slices without looking at each record, 1.35x the points/s with one metric a call.
"""

from __future__ import annotations

import struct
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Mapping

from ..model.segment import MetricBlock, MetricChunk, check_metric_key, to_metric_value

_wall_clock = time.time
_INT = struct.Struct("<q")
_STEP_MIN, _STEP_MAX = -(2**63), 2**63 - 1
_NO_KEY = object()
_LITTLE_ENDIAN = sys.byteorder == "little"

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
        if _one_tag_throughout(view, size):
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


def _one_tag_throughout(records: memoryview, size: int) -> bool:
    """Whether ``records`` is whole records of ``size`` bytes that all have the first's tag.

    One strided copy of the tags and one comparison, instead of a Python loop over the records:
    a training loop logs the same names call after call, so a take nearly always finds this and
    splits everything at once (``bench_metrics``, one metric a call: 1.35x the points/s).
    """
    calls = len(records) // size
    if calls * size != len(records):
        return False
    return records.cast("q")[:: size // 8].tobytes() == records[:8].tobytes() * calls


def _counted_steps(first: int, count: int) -> bytes:
    """The int64s ``first`` to ``first + count - 1`` (capped at 2**63 - 1), little-endian."""
    steps = array("q", range(first, min(first + count, _STEP_MAX + 1)))
    steps.extend(array("q", [_STEP_MAX]) * (count - len(steps)))
    if not _LITTLE_ENDIAN:
        steps.byteswap()
    return steps.tobytes()


def _ignore(waiting: int) -> int:
    return _NEVER
