"""ModelSync: version control for machine-learning training."""

# The checkpoint package is imported before the function ``checkpoint`` is bound below, so that
# ``modelsync.checkpoint`` stays the function (``from modelsync.checkpoint import ...`` still
# reaches the package).
from . import checkpoint as _checkpoint_package  # noqa: F401
from .decorator import track
from .errors import ModelSyncError
from .metadata import (
    DatasetInfo,
    Environment,
    MetricPoint,
    MetricSummary,
    ModelInfo,
    Params,
    RunInfo,
)
from .repo import Repo
from .seeding import seed_everything
from .tracking import Run, active_run, checkpoint, dataset, log, log_params, start_run

__version__ = "0.1.0"

__all__ = [
    "DatasetInfo",
    "Environment",
    "MetricPoint",
    "MetricSummary",
    "ModelInfo",
    "ModelSyncError",
    "Params",
    "Repo",
    "Run",
    "RunInfo",
    "__version__",
    "active_run",
    "checkpoint",
    "dataset",
    "log",
    "log_params",
    "seed_everything",
    "start_run",
    "track",
]
