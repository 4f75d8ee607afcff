"""ModelSync: version control for machine-learning training.

The public API below is imported on first use (PEP 562): ``import modelsync`` and the
``modelsync`` command load only what they touch, so a command that lists runs does not pay for
tracking, checkpoints or the environment capture.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
    from .checkpoint.pointer import CheckpointPointer
    from .errors import ModelSyncError
    from .model.metadata import (
        DatasetInfo,
        Environment,
        MetricPoint,
        MetricSummary,
        ModelInfo,
        Params,
        RunInfo,
        RunStatus,
    )
    from .repo.repository import Repo
    from .runs.background import background
    from .runs.commit_queue import PendingCheckpoint
    from .runs.decorator import track
    from .runs.nesting import in_tracked_call, tracked_call
    from .runs.read import RepoLike, opened
    from .runs.resume import resume_or_fork, resume_or_start
    from .runs.run import Run, active_run, checkpoint, dataset, log, log_params, start_run
    from .runs.seeding import seed_everything

__version__ = "0.1.0"

__all__ = [
    "CheckpointPointer",
    "DatasetInfo",
    "Environment",
    "MetricPoint",
    "MetricSummary",
    "ModelInfo",
    "ModelSyncError",
    "Params",
    "PendingCheckpoint",
    "Repo",
    "RepoLike",
    "Run",
    "RunInfo",
    "RunStatus",
    "__version__",
    "active_run",
    "background",
    "checkpoint",
    "checkpoint_path",
    "dataset",
    "in_tracked_call",
    "load_checkpoint",
    "log",
    "log_params",
    "opened",
    "resume_or_fork",
    "resume_or_start",
    "save_checkpoint",
    "seed_everything",
    "start_run",
    "track",
    "tracked_call",
]

_EXPORTED_FROM = {
    **dict.fromkeys(("checkpoint_path", "load_checkpoint", "save_checkpoint"), "checkpoint"),
    "track": "runs.decorator",
    "ModelSyncError": "errors",
    **dict.fromkeys(
        (
            "DatasetInfo",
            "Environment",
            "MetricPoint",
            "MetricSummary",
            "ModelInfo",
            "Params",
            "RunInfo",
            "RunStatus",
        ),
        "model.metadata",
    ),
    "Repo": "repo.repository",
    "CheckpointPointer": "checkpoint.pointer",
    "PendingCheckpoint": "runs.commit_queue",
    "background": "runs.background",
    **dict.fromkeys(("in_tracked_call", "tracked_call"), "runs.nesting"),
    **dict.fromkeys(("RepoLike", "opened"), "runs.read"),
    **dict.fromkeys(("resume_or_fork", "resume_or_start"), "runs.resume"),
    "seed_everything": "runs.seeding",
    **dict.fromkeys(
        ("Run", "active_run", "checkpoint", "dataset", "log", "log_params", "start_run"),
        "runs.run",
    ),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTED_FROM.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """``modelsync.checkpoint`` is the function: importing the subpackage of that name (which
    binds it on its parent) must not replace it. ``from modelsync.checkpoint import ...`` reads
    the subpackage from ``sys.modules`` and is unaffected."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "checkpoint" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
