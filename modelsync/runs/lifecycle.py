"""What tracking does when its process forks or exits: the process hooks, all registered here.

``install`` registers them once per process, when its first run starts (``start_run``), never
at import: importing modelsync (a read command, a notebook that only reads a repository)
registers nothing. A process forked after that inherits them.

- After a fork, in the child: the active-run registry takes the child's pid, so that the
  parent's open runs are not active there (``active.adopt_process``), and the background queue
  starts empty, its thread having stayed in the parent (``BackgroundWork.forget_after_fork``).
- At interpreter exit: this process's open runs end, newest first (``finished``, or ``failed``
  / ``interrupted`` after an uncaught exception), so that nothing logged is lost; then the
  background queue is flushed, warning about work that failed.

The background queue holds the work of runs (an adapter queues the end of a run there), so its
hooks are needed from the first run on.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

from ..errors import ModelSyncError
from . import active
from .background import background
from .run import ended_by

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Register the process hooks, unless this process (or the one it was forked from) has."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    active.adopt_process()  # a fork since modelsync was imported went unseen until now
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=active.adopt_process)
        os.register_at_fork(after_in_child=background.forget_after_fork)
    # at exit, the handlers run in the reverse order: the runs end first
    atexit.register(background.flush)
    atexit.register(_finish_open_runs)


def _finish_open_runs() -> None:
    """End this process's open runs: nothing logged is lost."""
    failure = getattr(sys, "last_value", None)
    for run in reversed(active.open_runs()):
        try:
            if failure is None:
                run.finish("finished")
            else:
                status, error = ended_by(failure)
                run.finish(status, error=error)
        except ModelSyncError as exc:
            sys.stderr.write(f"modelsync: run {run.name!r} could not record its end: {exc}\n")
