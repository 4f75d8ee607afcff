"""Which run a repeated training call records into: the one it names goes on, or a new one.

Adapters give a fit a run name, or a revision to resume from; these two rules turn that into
``start_run`` calls, so that every adapter continues and forks runs the same way.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import InvalidRefName, UnknownRun
from ..model.layout import run_name
from .run import Run
from .start import start_run


def resume_or_start(name: str | None, **options: Any) -> Run:
    """The run ``name`` continued when it exists, else a new run of that name (a generated
    one when ``name`` is None). ``options`` are ``start_run``'s."""
    if name is not None:
        with contextlib.suppress(UnknownRun):
            return start_run(resume=name, **options)
    return start_run(name=name, **options)


def resume_or_fork(revision: str, name: str | None = None, **options: Any) -> Run:
    """The run ``revision`` names (``foo`` or ``runs/foo``) continued on its branch, unless
    ``name`` names another run; for any other revision (``runs/foo@best``, a commit id), or a
    different ``name``, a new run forked from that commit (a taken ``name`` gets a suffix:
    ``name-2``). ``options`` are ``start_run``'s."""
    continued = run_name(revision)
    if name in (None, continued):
        try:
            return start_run(resume=continued, **options)
        except (UnknownRun, InvalidRefName):
            pass  # not a run's name: a revision to fork from
    return start_run(name, fork=revision, unique_name=True, **options)
