"""The options of a tracked fit (``Tracked``'s or ``autolog``'s), checked at fit time."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from ._models import LogModel, check_log_model

RepoPath: TypeAlias = "str | os.PathLike[str] | None"


@dataclass(frozen=True)
class Settings:
    """How fits are tracked: the options of ``Tracked`` or of ``autolog``."""

    repo: RepoPath = None
    run_name: str | None = None
    log_model: LogModel = True
    eval_sets: Mapping[str, tuple[Any, Any]] | None = None
    scoring: Any = None
    strict: bool = False
    # autolog tracks the caller's own estimator, which may be refitted or changed as soon as
    # fit returns: the background work reads a copy
    copy_model: bool = False

    def __post_init__(self) -> None:
        """Check the options (when fitting, as scikit-learn checks parameters)."""
        if self.repo is not None and not isinstance(self.repo, str | os.PathLike):
            raise ValueError(f"repo must be a path or None, not {type(self.repo).__name__}")
        if self.run_name is not None and not isinstance(self.run_name, str):
            raise ValueError(f"run_name must be a string or None, not {self.run_name!r}")
        if not isinstance(self.strict, bool):
            raise ValueError(f"strict must be True or False, not {self.strict!r}")
        check_log_model(self.log_model)
