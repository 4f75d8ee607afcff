"""``ModelSyncCallback``: a fit becomes a run, each checkpoint a commit written in background."""

from __future__ import annotations

import math
import traceback
import warnings
from typing import Any, Literal

import modelsync
from modelsync import adapters
from modelsync.errors import TRACKING_ERRORS, TrackingError, TrackingWarning, UsageError

from ._compat import TrainerFn, dump_checkpoint, pl, state_key, validates_on_a_timer
from ._logger import ModelSyncLogger
from ._runs import RunSettings, fit_params, open_run


class ModelSyncCallback(pl.Callback):
    """Versions a fit: ``Trainer(callbacks=[ModelSyncCallback()])``.

    When the fit starts, global rank 0 starts the run ``runs/<run_name>`` in ``repo`` (default:
    the repository around the working directory) and records the module's and datamodule's
    hyperparameters, the trainer's settings and the parameter counts. What the module logs
    reaches the run at Lightning's logging steps and epoch ends, with Lightning's step numbers.

    Every ``every_n_epochs`` epochs (at the end of validation when it runs at each epoch end,
    else at the end of the training epoch), and every ``every_n_train_steps`` steps, the
    checkpoint ``trainer.save_checkpoint`` would write (``save_weights_only``: weights and
    loops only) is committed. The tensors that changed are copied to CPU at that point;
    hashing and writing happen on the run's writer thread (``async_write``; see
    ``Run.checkpoint(wait=False)``) while training goes on. The latest commit is tagged
    ``last``; with ``monitor`` (a logged metric, better when lower with ``mode="min"``), the
    best one ``best``: ``runs/<name>@best``. The fit's end waits for the writer and finishes
    the run; an exception marks it ``failed`` (``interrupted`` for Ctrl-C), keeping its commits.

    ``resume`` continues the run it names (``"runs/foo"``) with new commits; any other
    revision (``"runs/foo@best"``), or a ``run_name`` of its own, forks a new run from that
    commit. Restore the training state from it with ``trainer.fit(model,
    ckpt_path=callback.ckpt_path)``.

    Tracking never breaks training: a problem (no repository, a failed write) is a
    ``TrackingWarning`` and the fit goes on; ``strict=True`` raises instead. With several
    processes (DDP), rank 0 commits and every rank learns the run's name (``run_name``) when
    the fit starts and its last and best commits when training ends. For ``ddp_spawn``, give
    ``repo`` as a path: the callback is pickled into each worker process, and the copy in the
    launching process learns nothing.
    """

    def __init__(
        self,
        repo: adapters.RepoLike = None,
        run_name: str | None = None,
        monitor: str | None = None,
        mode: Literal["min", "max"] = "min",
        every_n_epochs: int = 1,
        every_n_train_steps: int | None = None,
        save_weights_only: bool = False,
        async_write: bool = True,
        strict: bool = False,
        resume: str | None = None,
    ) -> None:
        if mode not in ("min", "max"):
            raise UsageError(f"mode must be 'min' or 'max', not {mode!r}")
        if every_n_epochs < 0 or (every_n_train_steps or 0) < 0:
            raise UsageError("every_n_epochs and every_n_train_steps must not be negative")
        self.settings = RunSettings(repo, run_name, resume, strict)
        self.monitor = monitor
        self.mode = mode
        self.every_n_epochs = every_n_epochs
        self.every_n_train_steps = every_n_train_steps
        self.save_weights_only = save_weights_only
        self.async_write = async_write
        self.run: modelsync.Run | None = None
        self.run_name: str | None = None
        self.last_commit: str | None = None
        self.best_commit: str | None = None
        self.best_score: float | None = None
        self._last_step_saved: int | None = None
        self._logger: ModelSyncLogger | None = None
        self._adds_logger = False
        self._restored: dict[str, Any] = {}
        # Lightning reads the key at every hook call (to name it for its profiler).
        self._state_key = state_key(self, monitor=monitor, mode=mode)

    @property
    def state_key(self) -> str:
        return self._state_key

    @property
    def ckpt_path(self) -> str | None:
        """The checkpoint ``resume`` names, as a ``.ckpt`` file for ``trainer.fit``."""
        if self.settings.resume is None:
            return None
        return str(modelsync.checkpoint_path(self.settings.resume, repo=self.settings.repo))

    # ------------------------------------------------------------------ start
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.state.fn != TrainerFn.FITTING or _fast_dev_run(trainer):
            return
        self._reset()
        failure = self._start(trainer, pl_module) if trainer.is_global_zero else None
        # Every rank takes part in the broadcast, whatever happened on rank 0: none may hang.
        self.run_name = trainer.strategy.broadcast(self.run.name if self.run else None)
        if self.run_name is None and self.settings.strict:
            raise TrackingError("the run could not start on global rank 0") from failure

    def _reset(self) -> None:
        self.run = self._logger = None
        self.run_name = self.last_commit = self.best_commit = None
        self.best_score = self._last_step_saved = None
        self._adds_logger = False

    def _start(self, trainer: pl.Trainer, module: pl.LightningModule) -> BaseException | None:
        logger = next((x for x in trainer.loggers if isinstance(x, ModelSyncLogger)), None)
        settings = self.settings if logger is None else self.settings.or_else(logger.settings)
        entrypoint = f"{type(module).__module__}.{type(module).__qualname__}.fit"
        try:
            self.run = open_run(settings, entrypoint)
        except TRACKING_ERRORS as exc:
            if not settings.strict:
                warnings.warn(f"this fit is not tracked: {exc}", TrackingWarning, stacklevel=2)
            return exc
        self._adds_logger = logger is None
        self._logger = ModelSyncLogger() if logger is None else logger
        self._logger.join(self.run)
        return None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.run is None:
            return
        restored, self._restored = self._restored, {}
        if (restored.get("run"), restored.get("monitor"), restored.get("mode")) == (
            self.run.name,
            self.monitor,
            self.mode,
        ):
            self.best_score = restored.get("best_score")
        self.run.log_params(fit_params(trainer, pl_module))
        if self._adds_logger and self._logger is not None:
            trainer.loggers = [*trainer.loggers, self._logger]
        if self.settings.resume is not None and trainer.ckpt_path is None:
            warnings.warn(
                f"run {self.run.name!r} starts from {self.settings.resume!r}, but the trainer "
                "restored no checkpoint: pass ckpt_path=callback.ckpt_path to trainer.fit",
                UserWarning,
                stacklevel=2,
            )

    # -------------------------------------------------------------- snapshots
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        every = self.every_n_train_steps
        if every and trainer.global_step % every == 0 and not self._should_skip(trainer):
            self._snapshot(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._epoch_due(trainer) and _saves_on_train_epoch_end(trainer):
            self._snapshot(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._epoch_due(trainer) and not _saves_on_train_epoch_end(trainer):
            self._snapshot(trainer)

    def _epoch_due(self, trainer: pl.Trainer) -> bool:
        every = self.every_n_epochs
        due = every >= 1 and (trainer.current_epoch + 1) % every == 0
        return due and not self._should_skip(trainer)

    def _should_skip(self, trainer: pl.Trainer) -> bool:
        """The same answer on every rank: whether this point takes no snapshot."""
        return (
            self.run_name is None
            or _fast_dev_run(trainer)
            or trainer.state.fn != TrainerFn.FITTING
            or trainer.sanity_checking
            or self._last_step_saved == trainer.global_step
        )

    def _snapshot(self, trainer: pl.Trainer) -> None:
        checkpoint = dump_checkpoint(trainer, self.save_weights_only)
        self._last_step_saved = trainer.global_step
        run = self.run
        if run is None:
            return
        tags = ["last", "best"] if self._improves(self._score(trainer)) else ["last"]
        try:
            run.checkpoint(checkpoint, tags=tags, wait=not self.async_write)
        except TRACKING_ERRORS as exc:
            message = f"the checkpoint at step {trainer.global_step} is not stored: {exc}"
            run.report_problem(message, exc)
        self._learn_commits(run)

    def _improves(self, score: float | None) -> bool:
        """Whether ``score`` beats the best so far (it becomes the best score)."""
        if score is None:
            return False
        best = self.best_score
        if best is not None and not (score < best if self.mode == "min" else score > best):
            return False
        self.best_score = score
        return True

    def _learn_commits(self, run: modelsync.Run) -> None:
        """The run's last and best commits, as far as the writer has made them."""
        self.last_commit, self.best_commit = run.tagged("last"), run.tagged("best")

    def _score(self, trainer: pl.Trainer) -> float | None:
        if self.monitor is None:
            return None
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            warnings.warn(
                f"ModelSyncCallback(monitor={self.monitor!r}): the module logged no such metric "
                f"by step {trainer.global_step}; logged: {sorted(trainer.callback_metrics)}",
                UserWarning,
                stacklevel=2,
            )
            return None
        score = float(value)
        return None if math.isnan(score) else score

    # -------------------------------------------------------------------- end
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.run_name is None:
            return
        failure = None
        if self.run is not None:
            try:
                self.run.wait()
            except TrackingError as exc:
                failure = exc
            self._learn_commits(self.run)
        # Every rank takes part, so every rank ends the fit knowing the run's commits.
        self.last_commit, self.best_commit = trainer.strategy.broadcast(
            (self.last_commit, self.best_commit)
        )
        if failure is not None:
            raise failure

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            self._end(trainer, "finished")

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        status: modelsync.RunStatus = (
            "failed" if isinstance(exception, Exception) else "interrupted"
        )
        try:
            self._end(trainer, status, "".join(traceback.format_exception(exception)))
        except TRACKING_ERRORS as problem:
            exception.add_note(f"modelsync: {problem}")

    def _end(
        self, trainer: pl.Trainer, status: modelsync.RunStatus, error: str | None = None
    ) -> None:
        """Finish the run, which waits for its writer (once: teardown follows on_exception)."""
        if self._adds_logger:
            trainer.loggers = [x for x in trainer.loggers if x is not self._logger]
        run, self.run = self.run, None
        if run is None:
            return
        if self._logger is not None:
            self._logger.leave()
        run.finish(status, error=error)

    # ---------------------------------------------------------------- resuming
    def state_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_name,
            "monitor": self.monitor,
            "mode": self.mode,
            "best_score": self.best_score,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Kept until the fit starts: the best score carries over when the run continues."""
        self._restored = dict(state_dict)


def _fast_dev_run(trainer: pl.Trainer) -> bool:
    """Lightning's quick check of the code: it saves nothing, and neither does the callback."""
    return bool(getattr(trainer, "fast_dev_run", False))


def _saves_on_train_epoch_end(trainer: pl.Trainer) -> bool:
    """Whether an epoch's snapshot is taken at the end of training rather than of validation
    (the rule of Lightning's ``ModelCheckpoint``: after validation when it runs at epoch end)."""
    if validates_on_a_timer(trainer):
        return False
    if trainer.check_val_every_n_epoch != 1:
        return False
    batches = trainer.num_val_batches
    if (sum(batches) if isinstance(batches, list) else batches) == 0:
        return True
    return trainer.val_check_interval == 1.0
