"""``ModelSyncLogger``: Lightning's logger interface onto a ModelSync run."""

from __future__ import annotations

import warnings
from argparse import Namespace
from typing import Any

import modelsync
from modelsync import adapters
from modelsync.errors import TRACKING_ERRORS, TrackingWarning

from ._compat import Logger, rank_zero_only
from ._runs import RunSettings, open_run

ENTRYPOINT = "lightning"


class ModelSyncLogger(Logger):
    """Records what the module logs (``self.log``) and its hyperparameters into a run.

    For tracking alone: ``Trainer(logger=ModelSyncLogger())``. The run starts on global rank 0
    the first time Lightning needs it (its ``version``, its hyperparameters or metrics) and
    ends with ``finalize``; logging after that (``trainer.test`` after ``fit``) continues it.
    ``repo``, ``run_name``, ``resume`` and ``strict`` mean what they mean for
    ``ModelSyncCallback``. Beside a ``ModelSyncCallback`` the logger records into the
    callback's run, which the callback starts with its settings (those it leaves unset come
    from the logger) and which records the hyperparameters itself.

    ``experiment`` is the run (None until it starts, and on other ranks). Metrics are buffered
    and indexed in the background, so the ``save`` Lightning calls after each log does nothing.
    """

    def __init__(
        self,
        repo: adapters.RepoLike = None,
        run_name: str | None = None,
        resume: str | None = None,
        strict: bool = False,
    ) -> None:
        super().__init__()
        self.settings = RunSettings(repo, run_name, resume, strict)
        self._run: modelsync.Run | None = None
        self._owns_run = False
        self._last_run: str | None = None
        self._failed = False

    @property
    def name(self) -> str:
        return "modelsync"

    @property
    def version(self) -> str | None:
        """The run's name (None where no run records: ranks other than 0)."""
        if self._run is None and self._last_run is not None:
            return self._last_run
        run = self.run
        return None if run is None else run.name

    @property
    def experiment(self) -> modelsync.Run | None:
        return self._run

    @property
    def run(self) -> modelsync.Run | None:
        """The run recorded into; on global rank 0 it starts (or continues) at first use."""
        if self._run is None and _global_rank() == 0 and not self._failed:
            self._start()
        return self._run

    def _start(self) -> None:
        settings = self.settings
        if self._last_run is not None:
            settings = RunSettings(settings.repo, resume=self._last_run, strict=settings.strict)
        try:
            self._run = open_run(settings, ENTRYPOINT)
        except TRACKING_ERRORS as exc:
            if settings.strict:
                raise
            self._failed = True
            warnings.warn(f"ModelSyncLogger records nothing: {exc}", TrackingWarning, stacklevel=4)
            return
        self._owns_run = True
        self._last_run = self._run.name

    def join(self, run: modelsync.Run) -> None:
        """Record into ``run``, which its owner (a ``ModelSyncCallback``) ends; a run this
        logger had started itself is finished first."""
        if self._run is not None and self._owns_run:
            self._run.finish("finished")
        self._run, self._owns_run, self._last_run = run, False, run.name

    def leave(self) -> None:
        """Stop recording into a joined run; logging later continues it as this logger's own."""
        if not self._owns_run:
            self._run = None

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        if self._run is not None and not self._owns_run:
            return
        run = self.run
        if run is not None:
            run.log_params(vars(params) if isinstance(params, Namespace) else params)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        run = self.run
        if run is not None:
            run.log_metrics(metrics, step)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """End the run this logger started: ``failed`` when Lightning says so, else finished."""
        run, owned = self._run, self._owns_run
        if run is None or not owned:
            return
        self._run = None
        run.finish("failed" if status == "failed" else "finished")


def _global_rank() -> int:
    """This process's global rank, as Lightning set it (0 outside distributed training)."""
    return int(getattr(rank_zero_only, "rank", 0))
