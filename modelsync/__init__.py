"""ModelSync: version control for machine-learning training."""

from .errors import ModelSyncError
from .repo import Repo

__version__ = "0.1.0"

__all__ = ["ModelSyncError", "Repo", "__version__"]
