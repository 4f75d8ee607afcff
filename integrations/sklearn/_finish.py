"""What is recorded after a tracked fit: its scores, the model, search results, the final commit.

The ``Finisher`` runs on the background thread (``adapters.background``) when it can, so that
``fit`` returns before the model is stored; the scores it takes there read private copies of
the data, taken right after the fit.

The scores are taken in the caller's thread instead, right after the fit, when the data is of a
kind not copied (lists, ...), when the copies waiting in all would pass the background's
``max_held_bytes``, and when a warning filter in force makes warnings errors (as test suites
do): warning filters are process-wide, so on the background thread a scoring warning would meet
the filters in force when it is scored, which may no longer be the caller's (a
``catch_warnings`` block around ``fit`` ends first), and an error there would cost the run its
score. Elsewhere a scoring warning is at worst shown (or not) differently. Everything is
finished in the caller's thread with ``strict=True`` (tracking errors must raise from ``fit``)
and in worker processes (which may be ended as soon as they have returned their result).
"""

from __future__ import annotations

import pickle
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import sklearn
from sklearn.metrics import check_scoring

import modelsync
from modelsync.adapters import background
from modelsync.errors import TRACKING_ERRORS

from ._describe import copy_size, private_copy
from ._models import MANIFEST, ModelNotSerialisable, manifest, serialise
from ._search import is_search, record_search, search_metrics
from ._settings import Settings

TRAIN = "train"


def _warnings_may_be_errors() -> bool:
    """Whether a warning filter turns some warnings into errors, even one that others before it
    hide for now (a ``catch_warnings`` block ignoring warnings around ``fit`` ends first)."""
    return any(entry[0] == "error" for entry in warnings.filters)


@dataclass
class Finisher:
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
            background.warn_failure(exc, stacklevel)
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
                background.release(self.deferred_bytes)
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
        self.run.report_problem(f"run {self.run.name!r}: {message}", cause)

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
        if not background.reserve(total):
            return False
        try:
            self.deferred = {name: private_copy(value) for name, value in data.items()}
        except BaseException:
            background.release(total)
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
