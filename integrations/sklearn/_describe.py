"""scikit-learn objects described for a run: class paths, JSON-safe params, fingerprintable data."""

from __future__ import annotations

import numbers
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse

MAX_ARRAY_ITEMS = 100
CLASS_KEY = "estimator_class"

_class_paths: dict[type, str] = {}


def class_path(cls: type) -> str:
    """``sklearn.linear_model.LogisticRegression``: the shortest module path that exports it."""
    path = _class_paths.get(cls)
    if path is None:
        path = _class_paths[cls] = _shortest_path(cls)
    return path


def _shortest_path(cls: type) -> str:
    parts = cls.__module__.split(".")
    for end in range(1, len(parts) + 1):
        module_name = ".".join(parts[:end])
        # a module's parent packages are imported before it: this imports nothing
        if getattr(sys.modules.get(module_name), cls.__qualname__, None) is cls:
            return f"{module_name}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def json_value(value: Any) -> Any:
    """A parameter value as JSON data: numbers, strings, lists and dicts as themselves; an
    estimator as its one-line repr (its own params are listed beside it); a class or function
    by its import path; a small array as a list; anything else as its repr."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic):
        return json_value(value.item())
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((json_value(item) for item in value), key=repr)
    if isinstance(value, np.ndarray) and value.size <= MAX_ARRAY_ITEMS:
        return json_value(value.tolist())
    if isinstance(value, type):
        return class_path(value)
    if hasattr(value, "get_params"):
        return " ".join(repr(value).split())  # one line, even for a pipeline
    if callable(value) and hasattr(value, "__qualname__") and hasattr(value, "__module__"):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def estimator_params(estimator: Any) -> dict[str, Any]:
    """The estimator's class and ``get_params(deep=True)``, JSON-safe, keyed as scikit-learn
    keys them (``C``, ``clf__C``), so a key can be passed back to ``set_params``."""
    params = {key: json_value(value) for key, value in estimator.get_params(deep=True).items()}
    return {CLASS_KEY: class_path(type(estimator)), **params}


def as_dataset(data: Any) -> Any | None:
    """``data`` in a form ``modelsync.dataset`` fingerprints, or None when it has no such form
    (a scalar, a generator, a ragged list, an object that is not array-like)."""
    if data is None or np.isscalar(data):
        return None
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame | pandas.Series):
        return data
    if scipy.sparse.issparse(data):
        return data
    if isinstance(data, np.ndarray):
        return data if data.ndim else None
    if isinstance(data, list | tuple) or hasattr(data, "__array__"):
        try:
            array = np.asarray(data)
        except (ValueError, TypeError):
            return None
        return array if array.ndim else None
    return None


def fit_inputs(
    X: Any, y: Any, fit_params: Mapping[str, Any], eval_sets: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The data a fit reads, by dataset name, and its other fit params (for the run's params)."""
    inputs: dict[str, Any] = {"X": X, "y": y}
    others: dict[str, Any] = {}
    for key, value in fit_params.items():
        if as_dataset(value) is not None:
            inputs[key] = value
        else:
            others[key] = json_value(value)
    for name, (eval_X, eval_y) in (eval_sets or {}).items():
        inputs[f"{name}.X"] = eval_X
        inputs[f"{name}.y"] = eval_y
    return inputs, others


def copy_size(data: Any) -> int | None:
    """Bytes a private copy of ``data`` takes, for the kinds ``private_copy`` copies (numpy
    arrays, pandas frames and series, CSR/CSC matrices, None); None for any other kind."""
    if data is None:
        return 0
    if isinstance(data, np.ndarray):
        return int(data.nbytes)
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return int(data.memory_usage(index=True, deep=False).sum())
    if pandas is not None and isinstance(data, pandas.Series):
        return int(data.memory_usage(index=True, deep=False))
    if scipy.sparse.issparse(data) and data.format in ("csr", "csc"):
        return int(data.data.nbytes + data.indices.nbytes + data.indptr.nbytes)
    return None


def private_copy(data: Any) -> Any:
    """A copy of ``data`` (of a kind ``copy_size`` sizes) that no later change to it reaches."""
    if data is None:
        return None
    if isinstance(data, np.ndarray):
        return data.copy(order="K")
    return data.copy()  # pandas copies deeply by default, as scipy does
