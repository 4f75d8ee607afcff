"""The background metric writer of a run: buffer in memory, flush in batches, beat the heart.

The training thread only appends to an in-memory buffer (``log``). A daemon thread takes the
buffer as one block every ``interval`` seconds, or sooner once ``flush_points`` are waiting,
and indexes it in the catalog in one ``BEGIN IMMEDIATE`` transaction with the heartbeat. Blocks
stay pending in memory until a commit carries them in its ``metrics.seg`` (``pending_segment``
then ``committed``), so a failing catalog loses nothing: the commit indexes them again. When
more than ``max_points`` are buffered, ``log`` flushes in the caller's thread, which bounds
memory when the writer cannot keep up.

The thread (``modelsync-metrics-<run>``) is the run's, not its repository's: several runs may
share a repository, each flushing its own buffer. ``start`` is called when the run starts and
``stop`` by ``Run.finish``, before the run's last commit and before the run closes a
repository it opened.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping

from ..catalog.db import Catalog
from ..catalog.runs import index_chunks, touch_heartbeat
from ..errors import ModelSyncError
from ..model.segment import MetricBlock, encode_segment
from .buffer import MetricBuffer

FLUSH_INTERVAL = 1.0
FLUSH_POINTS = 50_000
MAX_POINTS = 1_000_000
HEARTBEAT_INTERVAL = 10.0


class MetricWriter:
    def __init__(
        self,
        catalog: Catalog,
        run: str,
        *,
        next_seq: int = 0,
        last_step: int = -1,
        interval: float = FLUSH_INTERVAL,
        flush_points: int = FLUSH_POINTS,
        max_points: int = MAX_POINTS,
        fallback: Callable[[Mapping[str, object], int | None, float], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.run = run
        self.latest: dict[str, float] = {}
        self.error: BaseException | None = None
        self._interval = interval
        self._flush_points = flush_points
        self._max_points = max_points
        self._buffer = MetricBuffer(
            last_step, full_at=flush_points, when_full=self._buffer_full, fallback=fallback
        )
        self._flush_lock = threading.Lock()
        self._next_seq = next_seq
        self._pending: list[MetricBlock] = []
        self._wake = threading.Event()
        self._stopping = False
        self._last_beat = time.monotonic()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ training thread
    def log(self, metrics: Mapping[str, object], step: int | None = None) -> None:
        """Buffer one call's points at ``step`` (the step after the last one when None); what
        the buffer does not take by itself goes to ``fallback``, which may use ``log_checked``.
        Raises what ``MetricBuffer.add_checked`` raises, having buffered nothing."""
        self._buffer.add(metrics, step)

    def log_checked(self, metrics: Mapping[str, object], step: int | None, when: float) -> None:
        """Buffer a call of any names and values, each checked (``MetricBuffer.add_checked``)."""
        self._buffer.add_checked(metrics, step, when)

    def divert(self) -> None:
        """Send the next ``log`` calls to ``fallback`` (``MetricBuffer.divert``)."""
        self._buffer.divert()

    @property
    def last_step(self) -> int:
        return self._buffer.last_step

    def _buffer_full(self, waiting: int) -> int:
        """Wake the thread to flush, or past ``max_points`` flush here; returns the points
        waiting at which the buffer is to call again."""
        if waiting >= self._max_points:
            self.flush()
            return self._flush_points
        self._wake.set()
        return min(waiting + self._flush_points, self._max_points)

    # ------------------------------------------------------------------- flushing
    def flush(self) -> None:
        """Take what is buffered as a block, keep it pending and index it in the catalog."""
        with self._flush_lock:
            block = self._buffer.take(self._next_seq)
            if block is None:
                return
            self._next_seq += block.count
            self._pending.append(block)
            for chunk in block.chunks:
                self.latest[chunk.key] = chunk.last_value
            self._index(block)

    def _index(self, block: MetricBlock | None) -> None:
        """Index ``block`` (if any) and beat the heart, in one transaction."""
        try:
            with self.catalog.write() as conn:
                if block is not None:
                    index_chunks(conn, self.run, block.chunks)
                touch_heartbeat(conn, self.run, time.time())
            self._last_beat = time.monotonic()
        except (sqlite3.Error, OSError, ModelSyncError) as exc:
            self.error = exc
            self._buffer.divert()  # the next log call goes where the error is reported

    def beat(self) -> None:
        self._index(None)

    def pending_segment(self) -> tuple[bytes, int]:
        """Flush, then encode every pending block as a segment; returns it and the block count.

        Call ``committed`` with that count once a commit holds the segment.
        """
        self.flush()
        with self._flush_lock:
            blocks = list(self._pending)
            first = blocks[0].seq if blocks else self._next_seq
            return encode_segment(first, blocks), len(blocks)

    def committed(self, blocks: int) -> None:
        with self._flush_lock:
            del self._pending[:blocks]

    # --------------------------------------------------------------------- thread
    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name=f"modelsync-metrics-{self.run}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its current flush; the caller flushes what remains."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopping:
                return
            self.flush()
            if time.monotonic() - self._last_beat >= HEARTBEAT_INTERVAL:
                self.beat()
