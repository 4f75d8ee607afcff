"""The thread that finishes tracked fits, so that ``fit`` returns before its model is stored.

Serialising a fitted model with skops costs a large share of the fit itself for tree ensembles
(a random forest of 200 trees takes 0.4 s to serialise after a 1 s fit), and scoring it on its
training data a few percent. A tracked fit therefore starts its run in the caller's thread, and
queues the rest (the scores, on private copies of the data, when ``_fit`` allows; the model
file, search results, the final commit) here: one thread per process, one fit at a time, in
order. Interpreter exit waits for the queue, like any executor.

Problems the tracking code can foresee are reported by the run itself (a ``TrackingWarning``,
listed in the run's ``problems``). Anything else a queued task raises is kept and warned about
from the caller's thread by the next ``flush`` (or the next tracked fit): a warning filter set
to ``error`` cannot turn it into an exception inside this thread where nobody would see it.
"""

from __future__ import annotations

import atexit
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from modelsync.errors import TrackingWarning


class Background:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[str | None]] = []
        self._failures: list[BaseException] = []

    def submit(self, task: Callable[[], str | None]) -> Future[str | None]:
        """Queue ``task`` (it returns the commit it made); the future never raises."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="modelsync-sklearn"
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
        except BaseException as exc:
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
            warn_failure(exc, stacklevel + 1)

    def flush(self) -> None:
        self.wait()
        self.report_failures(stacklevel=3)

    def _forget_after_fork(self) -> None:
        """A forked child has no copy of the thread: it starts with an empty queue of its own."""
        self._lock = threading.Lock()
        self._executor = None
        self._pending = []
        self._failures = []


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


background = Background()
os.register_at_fork(after_in_child=background._forget_after_fork)
atexit.register(background.flush)


def flush() -> None:
    """Wait until every fit tracked in this process so far is committed.

    ``load`` and ``Tracked.commit_`` call it; call it yourself before another process reads
    the repository. Failures of the background work are warned about here.
    """
    background.flush()
