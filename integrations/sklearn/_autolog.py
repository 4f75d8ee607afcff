"""``autolog()``: track every top-level scikit-learn fit without changing the code that fits.

It patches ``fit``, ``fit_transform`` and ``fit_predict`` on every scikit-learn class that
defines one (estimators, their bases and mixins; ``available_if`` methods keep their check).
A patched call is tracked as ``Tracked`` tracks a fit, on the caller's own estimator, unless a
tracked fit is already running in the process: the fits a meta-estimator (a pipeline, a search,
a forest) makes of its parts are not runs of their own. joblib's worker processes never see the
patches, so a search with ``n_jobs=2`` is recorded once, by the process that called ``fit``.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
from types import FunctionType
from typing import Any

from sklearn.utils import all_estimators
from sklearn.utils.metaestimators import available_if

from modelsync import adapters

from ._fit import FitCall, track_fit
from ._models import LogModel
from ._settings import Settings

FIT_METHODS = ("fit", "fit_transform", "fit_predict")

_lock = threading.Lock()
_originals: dict[tuple[type, str], Any] = {}
_settings: Settings | None = None


def autolog(
    *,
    repo: str | os.PathLike[str] | None = None,
    log_model: LogModel = True,
    strict: bool = False,
    disable: bool = False,
) -> None:
    """Track each top-level fit of a scikit-learn estimator, like ``mlflow.sklearn.autolog``.

    ``repo``, ``log_model`` and ``strict`` are those of ``Tracked``; each fit is a new run.
    ``autolog(disable=True)`` removes the patches. Calling it again changes the options.
    """
    global _settings
    settings = Settings(repo=repo, log_model=log_model, strict=strict, copy_model=True)
    with _lock:
        if disable:
            _settings = None
            for (cls, name), original in _originals.items():
                setattr(cls, name, original)
            _originals.clear()
            return
        _settings = settings
        if not _originals:
            _patch_all()


def _patch_all() -> None:
    for _, estimator_class in all_estimators():
        for cls in estimator_class.__mro__:
            if not cls.__module__.startswith("sklearn."):
                continue
            for name in FIT_METHODS:
                if (cls, name) in _originals or name not in cls.__dict__:
                    continue
                original = cls.__dict__[name]
                patched = _patched(original, name)
                if patched is not None:
                    _originals[(cls, name)] = original
                    setattr(cls, name, patched)


def _patched(attribute: Any, method: str) -> Any:
    if isinstance(attribute, FunctionType):
        return _tracking(attribute, method)
    check = getattr(attribute, "check", None)
    fn = getattr(attribute, "fn", None)
    if callable(check) and isinstance(fn, FunctionType):  # an ``available_if`` method
        return available_if(check)(_tracking(fn, method))
    return None


def _tracking(original: FunctionType, method: str) -> FunctionType:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def tracked(self: Any, *args: Any, **kwargs: Any) -> Any:
        settings = _settings
        if settings is None or adapters.in_tracked_call():
            return original(self, *args, **kwargs)
        try:
            X, y, fit_params = _fit_arguments(signature, self, args, kwargs)
        except TypeError:  # the call does not bind: the estimator's own error says why
            return original(self, *args, **kwargs)
        call = FitCall(self, method, lambda: original(self, *args, **kwargs), X, y, fit_params)
        result, _ = track_fit(call, settings, caller_depth=2)
        return result

    return tracked  # type: ignore[return-value]


def _fit_arguments(
    signature: inspect.Signature, estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, Any, dict[str, Any]]:
    """``X`` (the first argument, whatever its name), ``y`` and the other fit params."""
    bound = signature.bind(estimator, *args, **kwargs)
    names = list(signature.parameters)
    X = bound.arguments.get(names[1]) if len(names) > 1 else None
    y = None
    fit_params: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if name in names[:2] or kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if name in ("y", "Y"):
            y = value
        elif kind is inspect.Parameter.VAR_KEYWORD:
            fit_params.update(value)
        else:
            fit_params[name] = value
    return X, y, fit_params
