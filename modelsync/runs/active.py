"""The active run: what ``modelsync.log``, ``log_params``, ``checkpoint`` and ``dataset`` act on,
so that code deep inside training needs no handle on its run.

Each context (thread, asyncio task) has its own active run: ``start_run`` makes the run it
starts the active run of the caller's context (``activate``), and the run's end gives the
context back the run that was active before it (``deactivate``): a run started inside a run is
its child, and ends back into it. A thread started without that context finds the newest run
still open in this process.

The open runs are those of this process: a run inherited through ``fork`` stays the parent's
and is never active in the child (``lifecycle`` calls ``adopt_process`` there). A run leaves
the registry the moment it starts to finish, before its last commit.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

from ..errors import TrackingError
from .datasets import fingerprint

if TYPE_CHECKING:
    from ..model.metadata import DatasetInfo
    from .commit_queue import PendingCheckpoint
    from .run import Run

_active: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "modelsync_active_run", default=None
)
_suppressed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "modelsync_tracking_suppressed", default=False
)
_open_runs: dict[Run, int] = {}
"""Each open run, oldest first, with the pid of the process that started it."""
_tokens: dict[Run, contextvars.Token[Run | None]] = {}
"""What gives each open run's context back the run active before it."""
_open_lock = threading.Lock()
_pid = os.getpid()  # this process's: kept right across fork, cheaper than asking each call


def adopt_process() -> None:
    """Make the registry this process's: the runs a parent process opened are not active in a
    child forked from it."""
    global _pid
    _pid = os.getpid()


def activate(run: Run) -> None:
    """Make ``run`` the active run of the current context, and an open run of this process."""
    with _open_lock:
        _open_runs[run] = os.getpid()
        _tokens[run] = _active.set(run)


def deactivate(run: Run) -> None:
    """``run`` is ending: it is no longer open, and the context it was started in gets back the
    run active before it."""
    with _open_lock:
        _open_runs.pop(run, None)
        token = _tokens.pop(run, None)
    if token is None:
        return
    try:
        _active.reset(token)
    except ValueError:  # it ends in another context than the one it started in
        if _active.get() is run:
            _active.set(None)


def context_run() -> Run | None:
    """The run last made active in the current context (it may have ended since)."""
    return _active.get()


def open_runs() -> list[Run]:
    """This process's open runs, oldest first."""
    pid = os.getpid()
    with _open_lock:
        return [run for run, opened_in in _open_runs.items() if opened_in == pid]


def active_run() -> Run | None:
    """The run that module-level ``log``/``checkpoint`` act on, or None.

    The current context's run, else (for threads started without it) the newest run still
    open in this process. A run inherited through ``fork`` belongs to the parent: not active.
    """
    run = _active.get()
    if run is not None and _open_runs.get(run) == _pid:
        return run
    with _open_lock:
        for candidate, opened_in in reversed(_open_runs.items()):
            if opened_in == _pid:
                return candidate
    return None


def _require_active(what: str) -> Run | None:
    run = active_run()
    if run is None and not _suppressed.get():
        raise TrackingError(
            f"modelsync.{what}() needs an active run: call modelsync.start_run() first, "
            "or decorate the training function with @modelsync.track"
        )
    return run


def log(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """``log_metrics`` on the active run."""
    run = _active.get()
    if run is None or _open_runs.get(run) != _pid:  # else what active_run() would say
        run = _require_active("log")
        if run is None:
            return
    run.log_metrics(metrics, step)


def log_params(params: Mapping[str, Any]) -> None:
    """``log_params`` on the active run."""
    run = _require_active("log_params")
    if run is not None:
        run.log_params(params)


@overload
def checkpoint(
    model_or_state: Any,
    step: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    *,
    epoch: int | None = None,
    message: str | None = None,
    tags: Collection[str] = (),
    wait: Literal[True] = True,
) -> str | None: ...


@overload
def checkpoint(
    model_or_state: Any,
    step: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    *,
    epoch: int | None = None,
    message: str | None = None,
    tags: Collection[str] = (),
    wait: bool,
) -> str | PendingCheckpoint | None: ...


def checkpoint(
    model_or_state: Any,
    step: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    *,
    epoch: int | None = None,
    message: str | None = None,
    tags: Collection[str] = (),
    wait: bool = True,
) -> str | PendingCheckpoint | None:
    """``checkpoint`` on the active run; returns the commit id (``wait=False``: a
    ``PendingCheckpoint``)."""
    run = _require_active("checkpoint")
    if run is None:
        return None
    return run.checkpoint(
        model_or_state, step, metrics, epoch=epoch, message=message, tags=tags, wait=wait
    )


def dataset(obj: Any, name: str | None = None) -> DatasetInfo:
    """Fingerprint ``obj`` and record it as an input of the active run."""
    run = _require_active("dataset")
    if run is None:
        return fingerprint(obj, name)
    return run.dataset(obj, name)


def suppressed_tracking() -> contextvars.Token[bool]:
    """Make module-level calls no-ops in this context (tracking failed to start, not strict)."""
    return _suppressed.set(True)


def restore_tracking(token: contextvars.Token[bool]) -> None:
    _suppressed.reset(token)
