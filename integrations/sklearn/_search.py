"""Hyper-parameter searches (``GridSearchCV``, ``RandomizedSearchCV``, any estimator with
``cv_results_``): the results table, the best candidate, and one child run per candidate.

Everything here runs in the process that called ``fit``, from ``cv_results_`` after the search
is done, so candidates evaluated in joblib workers are recorded exactly once.

The table is ``files/cv_results.json``: ``{"columns": [...], "data": {column: [value, ...]}}``,
one value per candidate, JSON-safe (a masked parameter is ``null``). ``load_cv_results`` reads it.
Each candidate becomes the run ``<search run>-candidate-<i>``, a child of the search's run, with
the base estimator's params updated by the candidate's, and its ``mean_*``, ``std_*`` and
``rank_*`` columns as metrics; the best one is labelled ``best`` (``<child>@best``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

import modelsync
from modelsync import adapters
from modelsync.adapters import background
from modelsync.errors import UsageError

from ._describe import estimator_params, json_value
from ._models import FILES

TABLE_FILE = "cv_results.json"
CANDIDATE_METRIC_PREFIXES = ("mean_", "std_", "rank_")
# children share the search's environment; git state and GPUs are recorded once, on the search
CHILD_CAPTURE_EXCLUDE = ("git", "git_diff", "gpu")


def is_search(model: Any) -> bool:
    results = getattr(model, "cv_results_", None)
    return isinstance(results, dict) and "params" in results


def results_table(cv_results: dict[str, Any]) -> bytes:
    data = {column: _column(values) for column, values in cv_results.items()}
    return json.dumps({"columns": list(data), "data": data}, sort_keys=False).encode("utf-8")


def _column(values: Any) -> list[Any]:
    if isinstance(values, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(values)
        return [
            None if masked else json_value(v) for v, masked in zip(values.data, mask, strict=True)
        ]
    return [json_value(value) for value in values]


def search_metrics(search: Any) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for attribute in ("best_score_", "best_index_"):
        value = getattr(search, attribute, None)
        if isinstance(value, int | float | np.number):
            metrics[attribute.rstrip("_")] = float(value)
    return metrics


def record_search(run: modelsync.Run, search: Any) -> None:
    """Store the table and best params on ``run``; start and finish one child run per candidate."""
    results = search.cv_results_
    run.save(results_table(results), name=TABLE_FILE)
    best_params = getattr(search, "best_params_", None)
    if isinstance(best_params, dict):
        run.log_params({"best_params": {key: json_value(v) for key, v in best_params.items()}})
    base = getattr(search, "estimator", None)
    base_params = estimator_params(base) if hasattr(base, "get_params") else {}
    best = getattr(search, "best_index_", None)
    count = len(results["params"])
    width = len(str(count - 1))
    for index, candidate in enumerate(results["params"]):
        params = {**base_params, **{key: json_value(v) for key, v in candidate.items()}}
        is_best = index == best
        child = modelsync.start_run(
            name=f"{run.name}-candidate-{index:0{width}d}",
            repo=run.repo,
            params=params,
            tags=["best"] if is_best else None,
            parent=run,
            strict=run.strict,
            capture_exclude=CHILD_CAPTURE_EXCLUDE,
            unique_name=True,
        )
        with child:
            child.log_metrics(_candidate_metrics(results, index), step=0)
        if is_best:
            child.tag("best")


def _candidate_metrics(results: dict[str, Any], index: int) -> dict[str, float]:
    metrics = {}
    for column, values in results.items():
        if column.startswith(CANDIDATE_METRIC_PREFIXES) and isinstance(values, np.ndarray):
            value = values[index]
            if isinstance(value, int | float | np.number) and not isinstance(value, bool):
                metrics[column] = float(value)
    return metrics


def load_cv_results(rev: str, repo: adapters.RepoLike = None) -> dict[str, list[Any]]:
    """The ``cv_results_`` a tracked search stored at ``rev``, as ``{column: [values]}``.

    ``pandas.DataFrame(load_cv_results(rev))`` gives the usual table.
    """
    background.flush()
    with adapters.opened(repo) as repository:
        files = repository.commit_files(repository.resolve(rev))
        entry = files.get(FILES + TABLE_FILE)
        if entry is None:
            raise UsageError(f"{rev!r} holds no search results ({FILES}{TABLE_FILE})")
        raw = repository.read_file_bytes(entry) or b"{}"
    table = json.loads(raw)
    return {column: table["data"][column] for column in table["columns"]}
