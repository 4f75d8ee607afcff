"""Work finished after the call that queued it returns: ``modelsync.background``.

Storing what a training call produced can cost a large share of the call itself (serialising a
random forest of 200 trees with skops takes 0.4 s after a 1 s fit; scoring it on its training
data a few percent). An adapter therefore starts its run in the caller's thread and queues the
rest (scores, the model file, the final commit) here: one thread per process, one task at a
time, in order. Interpreter exit waits for the queue, like any executor; a forked child starts
with an empty queue of its own.

Queued work may hold private copies of the caller's data (to score them as the call saw
them). ``reserve`` counts those bytes against ``max_held_bytes``, all queued tasks together,
and refuses past it: the caller then does that work itself, before returning.

Problems a task can foresee are reported by its run (``Run.report_problem``). Anything else a
task raises is kept and warned about from a caller's thread by the next ``report_failures``
or ``flush``: a warning filter set to ``error`` cannot turn it into an exception inside this
thread, where nobody would see it.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ..errors import TrackingWarning

MAX_HELD_BYTES = 256 << 20
"""The data copies queued tasks may hold, all together."""


class BackgroundWork:
    """The process's queue of tracking work that finishes after the call that queued it."""

    def __init__(self, max_held_bytes: int = MAX_HELD_BYTES) -> None:
        self.max_held_bytes = max_held_bytes
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[str | None]] = []
        self._failures: list[BaseException] = []
        self._held = 0

    def submit(self, task: Callable[[], str | None]) -> Future[str | None]:
        """Queue ``task`` (it returns the commit it made); the future never raises. While the
        interpreter exits (no new threads), the task runs here and now."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="modelsync-background"
                )
            try:
                future = self._executor.submit(self._guarded, task)
            except RuntimeError:  # the interpreter is exiting: no new threads
                pass
            else:
                self._pending = [f for f in self._pending if not f.done()]
                self._pending.append(future)
                return future
        done: Future[str | None] = Future()
        done.set_result(self._guarded(task))
        return done

    def _guarded(self, task: Callable[[], str | None]) -> str | None:
        try:
            return task()
        except BaseException as exc:  # kept for a caller's thread to warn about
            with self._lock:
                self._failures.append(exc)
            return None

    def wait(self) -> None:
        """Block until every task queued so far is done."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result()

    def report_failures(self, stacklevel: int = 2) -> None:
        """Warn, in the caller's thread, about tasks that failed since the last report."""
        with self._lock:
            failures, self._failures = self._failures, []
        for exc in failures:
            self.warn_failure(exc, stacklevel + 1)

    def flush(self, stacklevel: int = 2) -> None:
        """Wait for every task queued so far, then warn about those that failed."""
        self.wait()
        self.report_failures(stacklevel + 1)

    def reserve(self, nbytes: int) -> bool:
        """Count ``nbytes`` more of data held by queued work; False (counting nothing) when
        that would pass ``max_held_bytes``."""
        with self._lock:
            if self._held + nbytes > self.max_held_bytes:
                return False
            self._held += nbytes
            return True

    def release(self, nbytes: int) -> None:
        """Stop counting ``nbytes`` a task held (it is done with them)."""
        with self._lock:
            self._held -= nbytes

    @staticmethod
    def warn_failure(exc: BaseException, stacklevel: int = 2) -> None:
        """Warn about an unforeseen failure of tracking work (a warning raised as an error by a
        warning filter is warned again as itself, so the filter decides once more)."""
        if isinstance(exc, Warning):
            warnings.warn(exc, stacklevel=stacklevel + 1)
        else:
            warnings.warn(
                f"modelsync could not finish recording a fit: {type(exc).__name__}: {exc}",
                TrackingWarning,
                stacklevel=stacklevel + 1,
            )

    def forget_after_fork(self) -> None:
        """A forked child has no copy of the thread: it starts with an empty queue."""
        self._lock = threading.Lock()
        self._executor = None
        self._pending = []
        self._failures = []
        self._held = 0


background = BackgroundWork()
"""The one queue of this process (``lifecycle`` flushes it at exit and empties it after fork)."""
