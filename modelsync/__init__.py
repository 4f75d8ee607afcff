"""ModelSync: version control for machine-learning training.

The public API below is imported on first use (PEP 562): ``import modelsync`` and the
``modelsync`` command load only what they touch, so a command that lists runs does not pay for
tracking, checkpoints or the environment capture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .util.lazy import lazy_attributes

if TYPE_CHECKING:
    from .checkpoints import checkpoint_path, load_checkpoint, save_checkpoint
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
    from .runs.active import active_run, checkpoint, dataset, log, log_params
    from .runs.commit_queue import PendingCheckpoint
    from .runs.decorator import track
    from .runs.run import Run
    from .runs.seeding import seed_everything
    from .runs.start import start_run

__version__ = "0.1.0"

__all__ = [
    "DatasetInfo",
    "Environment",
    "MetricPoint",
    "MetricSummary",
    "ModelInfo",
    "ModelSyncError",
    "Params",
    "PendingCheckpoint",
    "Repo",
    "Run",
    "RunInfo",
    "RunStatus",
    "__version__",
    "active_run",
    "checkpoint",
    "checkpoint_path",
    "dataset",
    "load_checkpoint",
    "log",
    "log_params",
    "save_checkpoint",
    "seed_everything",
    "start_run",
    "track",
]

_EXPORTED_FROM = {
    **dict.fromkeys(("checkpoint_path", "load_checkpoint", "save_checkpoint"), "checkpoints"),
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
    "PendingCheckpoint": "runs.commit_queue",
    "seed_everything": "runs.seeding",
    "Run": "runs.run",
    "start_run": "runs.start",
    **dict.fromkeys(("active_run", "checkpoint", "dataset", "log", "log_params"), "runs.active"),
}


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTED_FROM, globals(), __all__)
