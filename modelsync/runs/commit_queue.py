"""Checkpoints committed in the background: ``run.checkpoint(model, wait=False)``.

The training thread captures a checkpoint (copying the tensors that changed since the last one)
and goes on; one writer thread per run hashes, compresses and commits the snapshots in the
order they were taken, and sets each one's labels right after its commit, on that thread, so
that a label is exactly as durable as the commit it points at. At most ``MAX_PENDING``
snapshots wait: taking one more first waits for the oldest, which bounds the memory the copies
hold.

A failure on the writer thread surfaces on the training thread, through the run's ``report``
callable: when the next checkpoint is taken, when the run waits (``Run.wait``, ``Run.finish``),
or when ``PendingCheckpoint.result`` asks for that checkpoint's commit. Each one is reported
once.

The thread is the run's, not its repository's (runs sharing a repository each commit their own
snapshots in their own order): it starts at the run's first background checkpoint and stops in
``close``, called by ``Run.finish`` once the run's last commit is made and before the run closes
a repository it opened.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

MAX_PENDING = 2
"""Snapshots captured but not yet committed; one more waits for the oldest (bounds memory)."""


class PendingCheckpoint:
    """A checkpoint on its way to the repository; ``result()`` gives its commit."""

    def __init__(
        self,
        step: int | None,
        tags: tuple[str, ...],
        future: Future[str | None],
        report: Callable[[PendingCheckpoint, Exception], None],
    ) -> None:
        self.step = step
        self.tags = tags
        self._future = future
        self._report = report
        self._reported = False

    def done(self) -> bool:
        """Whether the writer is done with it (committed, or failed)."""
        return self._future.done()

    def result(self) -> str | None:
        """Wait for the commit and return its id; None when it failed (or the run had ended),
        which is reported once, through the run (a ``TrackingError`` with ``strict``)."""
        try:
            return self._future.result()
        except Exception as exc:  # the writer thread's boundary: whatever it raised
            if not self._reported:
                self._reported = True
                self._report(self, exc)
            return None

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"<PendingCheckpoint step={self.step} tags={list(self.tags)} {state}>"


class CommitQueue:
    """A run's writer thread (started at the first checkpoint) and the checkpoints it owes."""

    def __init__(
        self,
        report: Callable[[PendingCheckpoint, Exception], None],
        thread_name: Callable[[], str],
    ) -> None:
        self._report = report
        self._thread_name = thread_name
        self._executor: ThreadPoolExecutor | None = None
        self._pending: deque[PendingCheckpoint] = deque()

    def make_room(self) -> None:
        """Before capturing a snapshot: wait for the oldest one when ``MAX_PENDING`` are
        queued, and take in those the writer has finished."""
        self._collect(oldest=len(self._pending) >= MAX_PENDING)

    def submit(
        self, write: Callable[[], str | None], step: int | None, tags: tuple[str, ...]
    ) -> PendingCheckpoint:
        """Queue ``write`` (it commits a captured snapshot and labels it)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=self._thread_name()
            )
        pending = PendingCheckpoint(step, tags, self._executor.submit(write), self._report)
        self._pending.append(pending)
        self._collect()
        return pending

    def skip(self, step: int | None, tags: tuple[str, ...]) -> PendingCheckpoint:
        """A checkpoint that is not queued (the run has ended): its commit is None."""
        future: Future[str | None] = Future()
        future.set_result(None)
        return PendingCheckpoint(step, tags, future, self._report)

    def wait(self) -> None:
        """Block until every queued checkpoint is committed or has failed (and is reported)."""
        self._collect(every=True)

    def _collect(self, *, oldest: bool = False, every: bool = False) -> None:
        """Take in the finished checkpoints in order, reporting failures; first wait for the
        oldest (``oldest``) or for all of them (``every``)."""
        while self._pending and (every or oldest or self._pending[0].done()):
            pending = self._pending.popleft()
            oldest = False
            pending.result()

    def close(self) -> None:
        """Stop the writer thread once what it was given is done (nothing is reported)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._pending.clear()
