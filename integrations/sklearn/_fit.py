"""One tracked fit: a run started before the estimator is fitted and finished after it.

Before the fit, in the caller's thread: the run starts (``running``, with the estimator's class
and params and the environment) and the data is fingerprinted, before the fit can change it.
Right after the fit, still in the caller's thread, private copies are taken of the data the
training and evaluation scores read (so they score the data as the fit saw it, whatever the
caller does with it next). Then, on the background thread (see ``_background``): the scores
(under the caller's scikit-learn config), the model file, any search results and the final
commit.

The scores are taken in the caller's thread instead, right after the fit, when the data is of a
kind not copied (lists, ...), when the copies waiting in all would pass ``DEFERRED_DATA_BYTES``,
and when a warning filter in force makes warnings errors (as test suites do): warning filters
are process-wide, so on the background thread a scoring warning would meet the filters in force
when it is scored, which may no longer be the caller's (a ``catch_warnings`` block around
``fit`` ends first), and an error there would cost the run its score. Elsewhere a scoring
warning is at worst shown (or not) differently. Everything is finished in the caller's thread
with ``strict=True`` (tracking errors must raise from ``fit``) and in worker processes (which
may be ended as soon as they have returned their result).

A fit tracked here marks the whole process as inside a tracked fit while the estimator fits, so
``autolog`` leaves alone the fits a meta-estimator makes of its clones (in this thread, or in
the threads of a joblib pool working for it).
"""

from __future__ import annotations

import contextlib
import contextvars
import multiprocessing
import os
import pickle
import sqlite3
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import sklearn
from sklearn.metrics import check_scoring

import modelsync
from modelsync.errors import ModelSyncError, TrackingError, TrackingWarning, UnknownRun

from ._background import background, warn_failure
from ._describe import (
    as_dataset,
    class_path,
    copy_size,
    estimator_params,
    fit_inputs,
    private_copy,
)
from ._models import (
    MANIFEST,
    LogModel,
    ModelNotSerialisable,
    check_log_model,
    manifest,
    serialise,
)
from ._search import is_search, record_search, search_metrics

RepoPath: TypeAlias = "str | os.PathLike[str] | None"
TRACKING_ERRORS = (ModelSyncError, OSError, sqlite3.Error)
TRAIN = "train"
# the data copied for scores taken on the background thread, all fits waiting together
DEFERRED_DATA_BYTES = 256 << 20

_depth = 0
_depth_lock = threading.Lock()
_deferred_bytes = 0
_deferred_lock = threading.Lock()


def in_tracked_fit() -> bool:
    """Whether a tracked fit is running in this process (a fit now is one of its parts)."""
    return _depth > 0


def _reserve(nbytes: int) -> bool:
    """Count ``nbytes`` more of deferred data; False (counting nothing) past the limit."""
    global _deferred_bytes
    with _deferred_lock:
        if _deferred_bytes + nbytes > DEFERRED_DATA_BYTES:
            return False
        _deferred_bytes += nbytes
        return True


def _release(nbytes: int) -> None:
    global _deferred_bytes
    with _deferred_lock:
        _deferred_bytes -= nbytes


def _warnings_may_be_errors() -> bool:
    """Whether a warning filter turns some warnings into errors, even one that others before it
    hide for now (a ``catch_warnings`` block ignoring warnings around ``fit`` ends first)."""
    return any(entry[0] == "error" for entry in warnings.filters)


@contextlib.contextmanager
def _fitting() -> Iterator[None]:
    global _depth
    with _depth_lock:
        _depth += 1
    try:
        yield
    finally:
        with _depth_lock:
            _depth -= 1


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
    finisher: _Finisher | None = None


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
    with _fitting():
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
    finisher = _Finisher(started, fit.estimator, seconds, fit.method, settings)
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
        _report(run, f"the inputs of this fit are not all recorded: {exc}", stacklevel)
    return run


def _open_run(settings: Settings, params: dict[str, Any], entrypoint: str) -> modelsync.Run:
    """A new run, or the next fit of the run ``settings.run_name`` when it exists."""
    if settings.run_name is not None:
        background.wait()  # the run's previous fit may still be committing: it comes first
    repo = modelsync.Repo.open(settings.repo)
    try:
        options: dict[str, Any] = {
            "repo": repo,
            "params": params,
            "strict": settings.strict,
            "entrypoint": entrypoint,
        }
        if settings.run_name is not None:
            with contextlib.suppress(UnknownRun):
                return modelsync.start_run(resume=settings.run_name, **options)
        return modelsync.start_run(name=settings.run_name, **options)
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


def _report(run: modelsync.Run, message: str, stacklevel: int = 2) -> None:
    """A tracking problem that did not stop the fit: listed in the run, and warned about."""
    run.info.problems.append(message)
    warnings.warn(f"run {run.name!r}: {message}", TrackingWarning, stacklevel=stacklevel + 1)


@dataclass
class _Finisher:
    """What is recorded after the fit: scores, the model, search results, the final commit."""

    run: modelsync.Run
    model: Any
    seconds: float
    method: str
    settings: Settings
    metrics: dict[str, float] = field(default_factory=dict)
    snapshot: bytes | None = field(default=None, repr=False)
    scorer: Any = None
    # private copies of the data to score on the finishing thread, their size, and the
    # caller's scikit-learn config (thread-local) to score under
    deferred: dict[str, Any] | None = field(default=None, repr=False)
    deferred_bytes: int = 0
    config: dict[str, Any] = field(default_factory=dict, repr=False)

    def detach(self) -> bool:
        """Prepare to finish on another thread; False when only this thread can finish."""
        if not self.settings.copy_model:
            return True
        try:
            self.snapshot = pickle.dumps(self.model, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an unpicklable model (a lambda inside): finish it here instead
            return False
        return True

    def finish_here(self, stacklevel: int) -> str | None:
        """``finish`` in the fitting thread: with ``strict`` its errors raise, else they warn."""
        try:
            return self.finish()
        except Exception as exc:
            if self.settings.strict:
                raise
            warn_failure(exc, stacklevel)
            return None

    def finish(self) -> str | None:
        """Record everything and commit the final status; returns the commit id."""
        failure: BaseException | None = None
        try:
            self._record()
        except BaseException as exc:
            failure = exc
        try:
            status: Literal["failed", "finished"] = (
                "failed" if failure is not None and self.settings.strict else "finished"
            )
            error = None if failure is None else "".join(traceback.format_exception(failure))
            commit = self.run.finish(status, error=error if status == "failed" else None)
        finally:
            self.run.repo.close()
        if failure is not None:
            raise failure
        return commit

    def _record(self) -> None:
        # our own pickle, made in this process a moment ago from the fitted model
        model = self.model if self.snapshot is None else pickle.loads(self.snapshot)
        if self.deferred is not None:
            try:
                with sklearn.config_context(**self.config):
                    self.score(model, self.deferred)
            finally:
                self.deferred = None
                _release(self.deferred_bytes)
        metrics = {"fit_time": self.seconds, **self.metrics}
        if is_search(model):
            metrics.update(search_metrics(model))
        self._step("metrics are not recorded", lambda: self.run.log_metrics(metrics))
        self._step("the model is not stored", lambda: self._save_model(model))
        if is_search(model):
            self._step(
                "the search results are not recorded", lambda: record_search(self.run, model)
            )

    def _step(self, what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except (ModelNotSerialisable, *TRACKING_ERRORS) as exc:
            self._problem(f"{what}: {exc}", exc)

    def _problem(self, message: str, cause: BaseException | None = None) -> None:
        if self.settings.strict:
            raise TrackingError(f"run {self.run.name!r}: {message}") from cause
        _report(self.run, message)

    def _save_model(self, model: Any) -> None:
        """The model file and its manifest; a manifest naming no file when there is none, so
        that a later fit of a named run never appears to have the model of an earlier one."""
        file_name = None
        try:
            if self.settings.log_model is not False:
                file_name, data = serialise(model, self.settings.log_model)
                self.run.save(data, name=file_name)
        finally:
            self.run.save(manifest(model, file_name, self.method), name=MANIFEST)

    def choose_scorer(self) -> None:
        """The scorer of the fitted model, if it is scored (a search that did not refit has no
        model to score; an estimator without ``score`` is scored only with ``scoring``)."""
        model = self.model
        if is_search(model) and getattr(model, "refit", True) is False:
            return
        try:
            self.scorer = check_scoring(model, scoring=self.settings.scoring, allow_none=True)
        except (ValueError, TypeError) as exc:
            self._problem(f"no scores: {exc}", exc)

    def defer_scores(self, inputs: dict[str, Any]) -> bool:
        """Keep private copies of the data the scores read, to score on the finishing thread;
        False when the scores must be taken now (see the module's docstring)."""
        if self.scorer is None:
            return True
        if _warnings_may_be_errors():
            return False
        data = {key: inputs[key] for pair in self._scored_sets().values() for key in pair}
        total = 0
        for value in data.values():
            size = copy_size(value)
            if size is None:
                return False
            total += size
        if not _reserve(total):
            return False
        try:
            self.deferred = {name: private_copy(value) for name, value in data.items()}
        except BaseException:
            _release(total)
            raise
        self.deferred_bytes = total
        self.config = sklearn.get_config()
        return True

    def _scored_sets(self) -> dict[str, tuple[str, str]]:
        """Each scored set, and the keys of its ``X`` and ``y`` among the fit's inputs."""
        sets = {TRAIN: ("X", "y")}
        for name in self.settings.eval_sets or {}:
            sets[name] = (f"{name}.X", f"{name}.y")
        return sets

    def score(self, model: Any, inputs: dict[str, Any]) -> None:
        """``<set>_<score>`` metrics of ``model`` for the training data and each evaluation set."""
        scorer = self.scorer
        if scorer is None:
            return
        scoring = self.settings.scoring
        score_name = scoring if isinstance(scoring, str) else "score"
        for set_name, (X, y) in self._scored_sets().items():
            try:
                value = scorer(model, inputs[X], inputs[y])
            except Exception as exc:  # a scorer raises whatever its metric raises
                self._problem(f"{set_name} scores are not recorded: {exc}", exc)
                continue
            values = value if isinstance(value, dict) else {score_name: value}
            self.metrics.update({f"{set_name}_{key}": float(v) for key, v in values.items()})
