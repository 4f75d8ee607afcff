"""Whether a tracked call is running in this process: ``modelsync.tracked_call()``.

An adapter that tracks calls it did not ask for (``autolog`` patching every ``fit``) tracks a
call only when none is running: the fits a meta-estimator (a pipeline, a search, a forest)
makes of its parts are parts of the tracked fit, not runs of their own. The count is kept for
the whole process, not per thread or context, because the threads of a pool working for the
tracked call (joblib's) do not inherit the caller's context.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0
_lock = threading.Lock()


@contextmanager
def tracked_call() -> Iterator[None]:
    """Mark the process as inside a tracked call for the duration of the block."""
    global _depth
    with _lock:
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1


def in_tracked_call() -> bool:
    """Whether a tracked call is running in this process (a call now is one of its parts)."""
    return _depth > 0
