"""One tracked fit: a run started before the estimator is fitted and finished after it.

Before the fit, in the caller's thread: the run starts (``running``, with the estimator's class
and params and the environment) and the data is fingerprinted, before the fit can change it.
Right after the fit, still in the caller's thread, private copies are taken of the data the
training and evaluation scores read (so they score the data as the fit saw it, whatever the
caller does with it next). Then, on the background thread (``adapters.background``): the
scores (under the caller's scikit-learn config), the model file, any search results and the
final commit (``_finish``, which also says when the scores are taken in the caller's thread).

A fit tracked here marks the whole process as inside a tracked call while the estimator fits
(``adapters.tracked_call``), so ``autolog`` leaves alone the fits a meta-estimator makes of its
clones (in this thread, or in the threads of a joblib pool working for it).
"""

from __future__ import annotations

import contextvars
import multiprocessing
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

import modelsync
from modelsync import adapters
from modelsync.adapters import background
from modelsync.errors import TRACKING_ERRORS, TrackingWarning

from ._describe import as_dataset, class_path, estimator_params, fit_inputs
from ._finish import Finisher
from ._settings import Settings


def flush() -> None:
    """Wait until every fit tracked in this process so far is committed.

    ``load`` and ``Tracked.commit_`` call it; call it yourself before another process reads
    the repository. Failures of the background work are warned about here.
    """
    background.flush()


class FitRecord:
    """Where a tracked fit was recorded: its run and, once written, the commit of its model."""

    def __init__(self, run_name: str | None, commit: str | Future[str | None] | None) -> None:
        self.run_name = run_name
        self._commit = commit

    @property
    def commit(self) -> str | None:
        """The fit's last commit (waits for the background work); None if it was not tracked."""
        if isinstance(self._commit, Future):
            self._commit = self._commit.result()
            background.report_failures(stacklevel=3)
        return self._commit

    def __getstate__(self) -> dict[str, Any]:
        return {"run_name": self.run_name, "commit": self.commit}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.run_name = state["run_name"]
        self._commit = state["commit"]

    def __repr__(self) -> str:
        return f"FitRecord(run_name={self.run_name!r}, commit={self._commit!r})"


@dataclass(frozen=True)
class FitCall:
    """A call of a fitting method (``fit``, ``fit_transform``, ``fit_predict``): the estimator,
    the method's name, the call itself, and the data and params it passes."""

    estimator: Any
    method: str
    call: Callable[[], Any]
    X: Any
    y: Any
    fit_params: Mapping[str, Any]


@dataclass
class _Fitted:
    result: Any
    record: FitRecord
    finisher: Finisher | None = None


def track_fit(fit: FitCall, settings: Settings, *, caller_depth: int) -> tuple[Any, FitRecord]:
    """Make ``fit`` a tracked fit; returns its result and where it is recorded.
    ``caller_depth``: the frames between this function and the user's code, for warnings."""
    background.report_failures(stacklevel=caller_depth + 1)
    # the run is the active run of this fit only: a nested tracked fit sees it as its parent,
    # the caller's context is left as it was, and the finisher re-enters it on another thread
    context = contextvars.copy_context()
    fitted = context.run(_fit, fit, settings, caller_depth + 2)
    finisher = fitted.finisher
    if finisher is None:
        return fitted.result, fitted.record
    future = background.submit(lambda: context.run(finisher.finish))
    return fitted.result, FitRecord(fitted.record.run_name, future)


def _fit(fit: FitCall, settings: Settings, stacklevel: int) -> _Fitted:
    inputs, other_params = fit_inputs(fit.X, fit.y, fit.fit_params, settings.eval_sets)
    started = _start(fit, inputs, other_params, settings, stacklevel + 1)
    with adapters.tracked_call():
        begin = time.perf_counter()
        try:
            result = fit.call()
        except BaseException as exc:
            if started is not None:
                _end_failed(started, exc)
            raise
        seconds = time.perf_counter() - begin
    if started is None:
        return _Fitted(result, FitRecord(None, None))
    finisher = Finisher(started, fit.estimator, seconds, fit.method, settings)
    in_worker = multiprocessing.parent_process() is not None
    try:
        finisher.choose_scorer()
        detached = not (settings.strict or in_worker) and finisher.detach()
        if not (detached and finisher.defer_scores(inputs)):
            finisher.score(finisher.model, inputs)
    except BaseException as exc:
        _end_failed(started, exc)
        raise
    if not detached:
        return _Fitted(result, FitRecord(started.name, finisher.finish_here(stacklevel + 1)))
    return _Fitted(result, FitRecord(started.name, None), finisher)


def _start(
    fit: FitCall,
    inputs: dict[str, Any],
    other_params: dict[str, Any],
    settings: Settings,
    stacklevel: int,
) -> modelsync.Run | None:
    """The started run, its inputs recorded; None when tracking could not start (after a
    warning; with ``strict`` it raises)."""
    params = estimator_params(fit.estimator)
    if other_params:
        params["fit_params"] = other_params
    entrypoint = f"{class_path(type(fit.estimator))}.{fit.method}"
    try:
        run = _open_run(settings, params, entrypoint)
    except TRACKING_ERRORS as exc:
        if settings.strict:
            raise
        warnings.warn(
            f"{entrypoint}() is not tracked: {exc}", TrackingWarning, stacklevel=stacklevel
        )
        return None
    try:
        for name, data in inputs.items():
            dataset = as_dataset(data)
            if dataset is not None:
                run.dataset(dataset, name=name)
    except TRACKING_ERRORS as exc:
        if settings.strict:
            _end_failed(run, exc)
            raise
        message = f"run {run.name!r}: the inputs of this fit are not all recorded: {exc}"
        run.report_problem(message, exc, stacklevel=stacklevel)
    return run


def _open_run(settings: Settings, params: dict[str, Any], entrypoint: str) -> modelsync.Run:
    """A new run, or the next fit of the run ``settings.run_name`` when it exists."""
    if settings.run_name is not None:
        background.wait()  # the run's previous fit may still be committing: it comes first
    repo = modelsync.Repo.open(settings.repo)
    try:
        return adapters.resume_or_start(
            settings.run_name,
            repo=repo,
            params=params,
            strict=settings.strict,
            entrypoint=entrypoint,
        )
    except BaseException:
        repo.close()
        raise


def _end_failed(run: modelsync.Run, exc: BaseException) -> None:
    """Commit the fit's failure; the fit's own exception is the one its caller sees."""
    status: Literal["failed", "interrupted"] = (
        "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    )
    try:
        run.finish(status, error="".join(traceback.format_exception(exc)))
    except TRACKING_ERRORS:
        pass
    finally:
        run.repo.close()
