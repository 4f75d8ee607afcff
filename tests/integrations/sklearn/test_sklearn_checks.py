"""scikit-learn's own estimator checks, run on ``Tracked`` wrapping real estimators.

Every fit in these checks is a tracked fit into a fresh repository. No check is skipped or
expected to fail. Two adjustments, both about wrapping rather than tracking:

- The random forest and k-means get ``random_state=0``: the checks seed an estimator through
  ``set_random_state``, which sets a top-level ``random_state`` param only; a wrapper has
  none, so the wrapped estimator would stay unseeded and two fits would differ (true of any
  meta-estimator, ``Pipeline`` included).
- ``parametrize_with_checks`` picks the clustering checks by ``isinstance(est, ClusterMixin)``
  and the sample-weight checks by ``sample_weight`` in ``fit``'s signature; ``Tracked`` is
  neither (it takes ``**fit_params``), so ``test_checks_chosen_by_type_or_signature`` runs
  those checks explicitly. The sample-weight equivalence checks are left out there because
  the plain random forest and k-means fail them too.

The skips pytest reports come from scikit-learn's checks themselves, exactly as for the plain
estimators: the array-API checks skip without ``array_api_strict``, cupy, dpnp or
``SCIPY_ARRAY_API=1``, and one check skips a random forest for having no
``decision_function``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_all_zero_sample_weights_error,
    check_clusterer_compute_labels_predict,
    check_clustering,
    check_sample_weights_list,
    check_sample_weights_not_an_array,
    check_sample_weights_not_overwritten,
    check_sample_weights_pandas_series,
    check_sample_weights_shape,
    parametrize_with_checks,
)

from modelsync import Repo
from modelsync.integrations.sklearn import Tracked, flush
from modelsync.runs.read import list_runs

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def tracking_repo(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Repo]:
    """Each check tracks into its own repository (the cwd); git state is not captured."""
    monkeypatch.setenv("MODELSYNC_CAPTURE_EXCLUDE", "git,git_diff,gpu")
    yield repo
    flush()


def wrapped_estimators() -> list[Tracked]:
    return [
        Tracked(LogisticRegression()),
        Tracked(RandomForestClassifier(n_estimators=5, random_state=0)),
        Tracked(Ridge()),
        Tracked(KMeans(n_clusters=3, random_state=0)),
        Tracked(StandardScaler()),
    ]


@parametrize_with_checks(wrapped_estimators())
def test_scikit_learn_estimator_checks(
    estimator: Tracked, check: Callable[[BaseEstimator], None], repo: Repo
) -> None:
    check(estimator)
    flush()
    runs = list_runs(repo)
    assert all(run.status in ("finished", "failed") for run in runs)
    assert not [problem for run in runs for problem in run.problems]


SAMPLE_WEIGHT_CHECKS = [
    check_sample_weights_pandas_series,
    check_sample_weights_not_an_array,
    check_sample_weights_list,
    check_sample_weights_shape,
    check_sample_weights_not_overwritten,
    check_all_zero_sample_weights_error,
]
CLUSTERING_CHECKS = [
    check_clusterer_compute_labels_predict,
    check_clustering,
    partial(check_clustering, readonly_memmap=True),
]


def _checks_chosen_by_type_or_signature() -> list[Any]:
    kmeans = Tracked(KMeans(n_clusters=3, random_state=0))
    pairs = [
        (estimator, check) for estimator in wrapped_estimators() for check in SAMPLE_WEIGHT_CHECKS
    ]
    pairs += [(kmeans, check) for check in CLUSTERING_CHECKS]
    return [
        pytest.param(estimator, check, id=f"{estimator.estimator!r}-{_name(check)}")
        for estimator, check in pairs
    ]


def _name(check: Callable[..., None]) -> str:
    func = check.func if isinstance(check, partial) else check
    extra = ",".join(f"{k}={v}" for k, v in getattr(check, "keywords", {}).items())
    return f"{func.__name__}({extra})" if extra else func.__name__


@pytest.mark.parametrize(("estimator", "check"), _checks_chosen_by_type_or_signature())
def test_checks_chosen_by_type_or_signature(
    estimator: Tracked, check: Callable[[str, BaseEstimator], None]
) -> None:
    check("Tracked", estimator)
