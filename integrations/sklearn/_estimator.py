"""``Tracked``: a meta-estimator that fits a clone of its estimator as a tracked fit."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import Tags, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._fit import FitCall, FitRecord, track_fit
from ._models import LogModel
from ._settings import Settings

Method = TypeVar("Method", bound=Callable[..., Any])


def _if_estimator_has(attr: str) -> Callable[[Method], Method]:
    """``available_if``: the method exists when the wrapped estimator (the fitted one, before
    fit the template) has ``attr``."""

    def check(self: Tracked) -> bool:
        delegate = self.__dict__.get("estimator_", self.estimator)
        getattr(delegate, attr)  # raises the delegate's own AttributeError
        return True

    return cast(Callable[[Method], Method], available_if(check))


class Tracked(MetaEstimatorMixin, BaseEstimator):  # type: ignore[misc]
    """Wrap an estimator so that each ``fit`` becomes a commit of a ModelSync run.

    ``Tracked`` behaves as the estimator it wraps (classifier, regressor, clusterer or
    transformer: its tags, methods and fitted attributes are the wrapped estimator's), inside
    a ``Pipeline``, ``cross_val_score`` or a search as well. Each fit clones ``estimator`` into
    ``estimator_`` and commits, on the run's branch: the class and ``get_params(deep=True)``,
    fingerprints of ``X``, ``y`` and the other array fit params, the fit time, the training
    score and the ``scoring`` metrics on ``eval_sets``, the environment (Python and library
    versions) and the fitted model written with skops. A search (``GridSearchCV``, ...) also
    commits its ``cv_results_`` table, best params and score, and one child run per candidate.

    Parameters
    ----------
    estimator : estimator object
        The estimator to fit; it is cloned, never changed.
    repo : str or path, default=None
        The repository; default: ``$MODELSYNC_DIR``, else the one holding the current directory
        (of the process that fits: name it when joblib workers fit this estimator).
    run_name : str, default=None
        The run to commit to; a later fit with the same name adds a commit to the same run.
        Default: a new run with a generated name per fit.
    log_model : bool or {"skops", "joblib"}, default=True
        Store the fitted model (skops). ``"joblib"`` lets a model skops cannot write be stored
        as a joblib pickle instead; ``False`` stores none.
    eval_sets : dict of name -> (X, y), default=None
        Data to score the fitted model on; metrics are ``<name>_<score>``.
    scoring : str, callable, list or dict, default=None
        What to score, as ``scoring`` in ``cross_validate``; default: the estimator's ``score``.
    strict : bool, default=False
        Raise tracking errors from ``fit``. By default a tracking failure is a
        ``TrackingWarning`` (and is listed in the run), and the fit succeeds regardless.

    Attributes
    ----------
    estimator_ : estimator object
        The fitted clone of ``estimator``.
    run_name_ : str or None
        The run of the last fit; None when it could not be tracked.
    commit_ : str or None
        The commit holding the last fit's model (waits for the background recording).
    """

    def __init__(
        self,
        estimator: Any,
        repo: str | os.PathLike[str] | None = None,
        run_name: str | None = None,
        log_model: LogModel = True,
        eval_sets: Mapping[str, tuple[Any, Any]] | None = None,
        scoring: Any = None,
        strict: bool = False,
    ) -> None:
        self.estimator = estimator
        self.repo = repo
        self.run_name = run_name
        self.log_model = log_model
        self.eval_sets = eval_sets
        self.scoring = scoring
        self.strict = strict

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> Tracked:
        """Fit a clone of ``estimator`` as a tracked fit; returns ``self``."""
        self._tracked_fit("fit", X, y, fit_params)
        return self

    @_if_estimator_has("fit_transform")
    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        return self._tracked_fit("fit_transform", X, y, fit_params)

    @_if_estimator_has("fit_predict")
    def fit_predict(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        return self._tracked_fit("fit_predict", X, y, fit_params)

    def _tracked_fit(self, method: str, X: Any, y: Any, fit_params: dict[str, Any]) -> Any:
        settings = self._settings()
        estimator = clone(self.estimator)
        fit = getattr(estimator, method)
        call = FitCall(estimator, method, lambda: fit(X, y, **fit_params), X, y, fit_params)
        result, record = track_fit(call, settings, caller_depth=3)
        self.estimator_ = estimator
        self.run_name_ = record.run_name
        self._record = record
        return result

    def _settings(self) -> Settings:
        """The tracking options, checked (at fit time, as scikit-learn checks parameters)."""
        return Settings(
            repo=self.repo,
            run_name=self.run_name,
            log_model=self.log_model,
            eval_sets=_checked_eval_sets(self.eval_sets),
            scoring=self.scoring,
            strict=self.strict,
        )

    # --------------------------------------------------------------- delegation
    def __sklearn_is_fitted__(self) -> bool:
        return "estimator_" in self.__dict__

    def __sklearn_tags__(self) -> Tags:
        return copy.deepcopy(get_tags(self.estimator))

    def __getattr__(self, name: str) -> Any:
        """Fitted attributes of the wrapped estimator (``coef_``, ``labels_``, ``cv_results_``)."""
        fitted = self.__dict__.get("estimator_")
        if fitted is not None and name.endswith("_") and not name.startswith("_"):
            return getattr(fitted, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def commit_(self) -> str | None:
        check_is_fitted(self)
        record: FitRecord = self.__dict__["_record"]
        return record.commit

    @_if_estimator_has("predict")
    def predict(self, X: Any, **params: Any) -> Any:
        check_is_fitted(self)
        return self.estimator_.predict(X, **params)

    @_if_estimator_has("predict_proba")
    def predict_proba(self, X: Any, **params: Any) -> Any:
        check_is_fitted(self)
        return self.estimator_.predict_proba(X, **params)

    @_if_estimator_has("predict_log_proba")
    def predict_log_proba(self, X: Any, **params: Any) -> Any:
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(X, **params)

    @_if_estimator_has("decision_function")
    def decision_function(self, X: Any, **params: Any) -> Any:
        check_is_fitted(self)
        return self.estimator_.decision_function(X, **params)

    @_if_estimator_has("score_samples")
    def score_samples(self, X: Any, **params: Any) -> Any:
        check_is_fitted(self)
        return self.estimator_.score_samples(X, **params)

    @_if_estimator_has("transform")
    def transform(self, X: Any, **params: Any) -> Any:
        check_is_fitted(self)
        return self.estimator_.transform(X, **params)

    @_if_estimator_has("inverse_transform")
    def inverse_transform(self, X: Any, **params: Any) -> Any:
        check_is_fitted(self)
        return self.estimator_.inverse_transform(X, **params)

    @_if_estimator_has("score")
    def score(self, X: Any, y: Any = None, **params: Any) -> Any:
        check_is_fitted(self)
        return self.estimator_.score(X, y, **params)

    @_if_estimator_has("get_feature_names_out")
    def get_feature_names_out(self, input_features: Any = None) -> Any:
        check_is_fitted(self)
        return self.estimator_.get_feature_names_out(input_features)

    @_if_estimator_has("set_output")
    def set_output(self, *, transform: str | None = None) -> Tracked:
        """Set the output container of ``transform`` (as the wrapped estimator's)."""
        self.estimator.set_output(transform=transform)
        if "estimator_" in self.__dict__:
            self.estimator_.set_output(transform=transform)
        return self


def _checked_eval_sets(eval_sets: Any) -> dict[str, tuple[Any, Any]] | None:
    if eval_sets is None:
        return None
    if not isinstance(eval_sets, Mapping):
        raise ValueError(
            f"eval_sets must be a dict of name -> (X, y), not {type(eval_sets).__name__}"
        )
    checked = {}
    for name, pair in eval_sets.items():
        if not isinstance(name, str) or not name.isidentifier() or name == "train":
            raise ValueError(
                f"eval_sets names become metric names: use identifiers other than 'train', "
                f"not {name!r}"
            )
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValueError(f"eval_sets[{name!r}] must be an (X, y) pair")
        checked[name] = (pair[0], pair[1])
    return checked
