"""The scikit-learn adapter: ``Tracked``, ``autolog``, ``load``, with real estimators and data."""

from __future__ import annotations

import contextlib
import json
import pickle
import shutil
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import sklearn
from sklearn.base import BaseEstimator, RegressorMixin, clone, is_classifier, is_regressor
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import modelsync
from modelsync import Repo
from modelsync.adapters import background
from modelsync.errors import ModelSyncError, TrackingError, TrackingWarning, UnsafeLoad
from modelsync.integrations.sklearn import Tracked, autolog, flush, load, load_cv_results
from modelsync.model.metadata import RunInfo
from modelsync.runs.datasets import fingerprint
from modelsync.runs.read import get_datasets, get_environment, get_params, list_runs, metric_series


@pytest.fixture(autouse=True)
def tracking_repo(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Repo]:
    """A fresh repository as the cwd; background work is finished (and its failures reported)
    inside each test; autolog never outlives a test."""
    monkeypatch.setenv("MODELSYNC_CAPTURE_EXCLUDE", "git,git_diff,gpu")
    yield repo
    autolog(disable=True)
    flush()


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


def runs_by_name(repo: Repo) -> dict[str, RunInfo]:
    flush()
    return {run.name: run for run in list_runs(repo)}


def stored_file(repo: Repo, rev: str, name: str) -> bytes:
    entry = repo.commit_files(rev)[name]
    data = repo.read_file_bytes(entry)
    assert data is not None
    return data


# ------------------------------------------------------------------ what a fit commits
def test_fit_commits_params_data_scores_environment_and_model(repo: Repo, iris: Any) -> None:
    X, y = iris
    valid = (X.iloc[::3], y.iloc[::3])
    model = Tracked(LogisticRegression(C=0.5, max_iter=500), eval_sets={"valid": valid})

    assert model.fit(X, y) is model

    run = runs_by_name(repo)[model.run_name_]
    assert run.status == "finished"
    assert run.head == model.commit_
    params = get_params(repo, run.name)
    assert params["estimator_class"] == "sklearn.linear_model.LogisticRegression"
    assert params["C"] == 0.5
    assert params["max_iter"] == 500
    assert run.metrics["train_score"] == pytest.approx(model.score(X, y))
    assert run.metrics["valid_score"] == pytest.approx(model.score(*valid))
    assert run.metrics["fit_time"] > 0
    datasets = get_datasets(repo, run.name)
    assert datasets["X"].shape == [150, 4]
    assert datasets["X"].columns == list(X.columns)
    assert datasets["X"].digest == fingerprint(X).digest
    assert datasets["y"].shape == [150]
    assert datasets["valid.X"].shape == [50, 4]
    environment = get_environment(repo, run.name)
    assert environment is not None and environment.python_version
    assert environment.packages is not None and "scikit-learn" in environment.packages
    manifest = json.loads(stored_file(repo, model.commit_, "files/model.json"))
    assert manifest["format"] == "skops"
    assert manifest["class"] == "sklearn.linear_model.LogisticRegression"
    assert set(manifest["versions"]) >= {"python", "scikit-learn", "skops"}
    assert manifest["feature_names_in"] == list(X.columns)


def test_scoring_and_eval_sets_name_the_metrics(repo: Repo, iris: Any) -> None:
    X, y = iris
    model = Tracked(
        LogisticRegression(max_iter=500),
        eval_sets={"holdout": (X[:40], y[:40])},
        scoring=["accuracy", "f1_macro"],
    ).fit(X, y)

    metrics = runs_by_name(repo)[model.run_name_].metrics
    assert set(metrics) == {
        "fit_time",
        "train_accuracy",
        "train_f1_macro",
        "holdout_accuracy",
        "holdout_f1_macro",
    }
    assert metrics["holdout_accuracy"] == pytest.approx(model.score(X[:40], y[:40]))


@contextlib.contextmanager
def background_held() -> Iterator[None]:
    """Keep the background thread busy: fits tracked meanwhile are finished only afterwards."""
    release = threading.Event()

    def busy() -> None:
        release.wait()

    background.submit(busy)
    try:
        yield
    finally:
        release.set()


def _data_of_kind(X: pd.DataFrame, y: pd.Series, kind: str) -> tuple[Any, Any]:
    if kind == "pandas":
        return X.copy(), y.copy()
    if kind == "sparse":
        return scipy.sparse.csr_matrix(X.to_numpy()), y.to_numpy().copy()
    if kind == "list":
        return X.to_numpy().tolist(), y.to_list()
    return X.to_numpy().copy(), y.to_numpy().copy()


def _scramble(X: Any, y: Any) -> None:
    """Change the caller's data in place: zero features, labels in reverse."""
    if isinstance(X, pd.DataFrame):
        X.iloc[:, :] = 0.0
        y.iloc[:] = y.to_numpy()[::-1]
    elif isinstance(X, list):
        for row in X:
            row[:] = [0.0] * len(row)
        y.reverse()
    else:
        if scipy.sparse.issparse(X):
            X.data[:] = 0.0
        else:
            X[:] = 0.0
        y[:] = y[::-1].copy()


@pytest.mark.parametrize(
    "kind", ["numpy", "pandas", "sparse", "list", "numpy, past the copy limit"]
)
def test_scores_are_of_the_data_as_the_fit_saw_it_whatever_the_caller_does_next(
    kind: str, repo: Repo, iris: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings.resetwarnings()  # no error filter: scores may be left to the background thread
    if kind.endswith("past the copy limit"):
        monkeypatch.setattr(background, "max_held_bytes", 0)
    X, y = _data_of_kind(*iris, kind.partition(",")[0])

    with background_held():
        model = Tracked(LogisticRegression(max_iter=500)).fit(X, y)
        expected = model.score(X, y)
        _scramble(X, y)
        assert model.score(X, y) != pytest.approx(expected)

    assert runs_by_name(repo)[model.run_name_].metrics["train_score"] == pytest.approx(expected)


def test_autolog_scores_the_data_as_the_fit_saw_it(repo: Repo, iris: Any) -> None:
    warnings.resetwarnings()
    X, y = _data_of_kind(*iris, "numpy")
    autolog()

    with background_held():
        model = LogisticRegression(max_iter=500).fit(X, y)
        expected = model.score(X, y)
        _scramble(X, y)

    (run,) = runs_by_name(repo).values()
    assert run.metrics["train_score"] == pytest.approx(expected)


def test_scores_are_taken_under_the_callers_scikit_learn_config(repo: Repo, iris: Any) -> None:
    warnings.resetwarnings()
    X, y = iris
    seen: list[bool] = []

    def scorer(estimator: Any, X: Any, y: Any) -> float:
        seen.append(sklearn.get_config()["assume_finite"])
        return 1.0

    with background_held(), sklearn.config_context(assume_finite=True):
        model = Tracked(LogisticRegression(max_iter=500), scoring=scorer).fit(X, y)

    assert runs_by_name(repo)[model.run_name_].metrics["train_score"] == 1.0
    assert seen == [True]


@pytest.mark.parametrize(
    ("action", "scored_before_fit_returns"), [("error", True), ("default", False)]
)
def test_scores_are_taken_before_fit_returns_when_warnings_may_be_errors(
    action: str, scored_before_fit_returns: bool, repo: Repo, iris: Any
) -> None:
    warnings.resetwarnings()
    warnings.simplefilter(action, UserWarning)
    X, y = iris
    threads: list[threading.Thread] = []

    def scorer(estimator: Any, X: Any, y: Any) -> float:
        threads.append(threading.current_thread())
        return 1.0

    with background_held():
        Tracked(LogisticRegression(max_iter=500), scoring=scorer).fit(X, y)
        assert (threads == [threading.current_thread()]) is scored_before_fit_returns
    flush()
    assert len(threads) == 1


def test_a_warning_ignored_around_the_fit_does_not_stop_its_scores(repo: Repo, iris: Any) -> None:
    X, y = iris
    warnings.simplefilter("error")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # R^2 of a single sample warns that it is undefined
        model = Tracked(Ridge()).fit(X.iloc[:1], y.iloc[:1])

    run = runs_by_name(repo)[model.run_name_]
    assert run.problems == []
    assert np.isnan(run.metrics["train_score"])


def test_a_program_ending_right_after_fit_has_its_fit_fully_committed(repo: Repo) -> None:
    program = (
        "from sklearn.datasets import load_digits\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "from modelsync.integrations.sklearn import Tracked\n"
        "X, y = load_digits(return_X_y=True)\n"
        "Tracked(RandomForestClassifier(20, random_state=0), run_name='last').fit(X, y)\n"
    )

    subprocess.run([sys.executable, "-c", program], check=True, timeout=300)

    run = runs_by_name(repo)["last"]
    assert run.status == "finished" and run.problems == []
    X, y = load_digits(return_X_y=True)
    expected = RandomForestClassifier(20, random_state=0).fit(X, y).score(X, y)
    assert run.metrics["train_score"] == pytest.approx(expected)
    assert "files/model.skops" in repo.commit_files(run.head)


def test_non_array_fit_params_are_params_and_arrays_are_inputs(repo: Repo, iris: Any) -> None:
    X, y = iris
    weights = np.linspace(0.5, 1.5, len(y))
    model = Tracked(Ridge()).fit(X, y, sample_weight=weights)

    assert np.allclose(model.predict(X), Ridge().fit(X, y, sample_weight=weights).predict(X))
    flush()
    assert get_datasets(repo, model.run_name_)["sample_weight"].shape == [150]


# ------------------------------------------------------------------------ round trips
@pytest.mark.parametrize(
    ("estimator", "method"),
    [
        (LogisticRegression(max_iter=500), "predict_proba"),
        (Ridge(alpha=0.3), "predict"),
        (KMeans(n_clusters=3, random_state=0, n_init=2), "predict"),
        (StandardScaler(), "transform"),
        (make_pipeline(StandardScaler(), LogisticRegression()), "decision_function"),
    ],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_load_gives_back_an_estimator_with_equal_outputs(
    iris: Any, estimator: BaseEstimator, method: str
) -> None:
    X, y = iris
    model = Tracked(estimator).fit(X, y)

    loaded = load(model.run_name_)

    assert type(loaded) is type(estimator)
    np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(model, method)(X))


def test_pandas_input_keeps_feature_names(iris: Any) -> None:
    X, y = iris
    model = Tracked(LogisticRegression(max_iter=500)).fit(X, y)

    loaded = load(model.commit_)

    assert list(loaded.feature_names_in_) == list(X.columns)
    assert list(model.feature_names_in_) == list(X.columns)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_types_skops_does_not_trust_are_listed_until_the_caller_trusts_them(iris: Any) -> None:
    X, y = iris
    model = Tracked(RandomForestClassifier(n_estimators=3, random_state=0)).fit(X, y)

    with pytest.raises(UnsafeLoad, match=r"sklearn\.tree\._tree\.Tree"):
        load(model.run_name_)
    loaded = load(model.run_name_, trusted=["sklearn.tree._tree.Tree"])

    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


class _WritesSentinel:
    """Unpickling this runs code: it creates the file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


@pytest.mark.parametrize("file_name", ["model.joblib", "model.skops"])
def test_a_pickle_committed_by_hand_is_never_run_without_trust_pickle(
    repo: Repo, tmp_path: Path, file_name: str
) -> None:
    sentinel = tmp_path / "pwned"
    with modelsync.start_run(name="by-hand", repo=repo) as run:
        run.save(pickle.dumps(_WritesSentinel(sentinel)), name=file_name)

    with pytest.raises(UnsafeLoad):
        load("by-hand")
    assert not sentinel.exists()
    if file_name == "model.joblib":  # the same file does run its code once the caller opts in
        load("by-hand", trust_pickle=True)
        assert sentinel.exists()


def _scaled(X: Any, factor: complex) -> Any:
    return X * factor.real


def test_joblib_stores_what_skops_cannot_only_when_asked(repo: Repo, iris: Any) -> None:
    X, y = iris
    # skops cannot write a complex number; pickle can
    transformer = FunctionTransformer(_scaled, kw_args={"factor": 2 + 0j})

    with pytest.warns(TrackingWarning, match="log_model='joblib'"):
        skipped = Tracked(transformer).fit(X, y)
        flush()
    stored = Tracked(transformer, log_model="joblib").fit(X, y)

    assert "files/model.skops" not in repo.commit_files(skipped.commit_)
    assert "log_model='joblib'" in runs_by_name(repo)[skipped.run_name_].problems[0]
    with pytest.raises(UnsafeLoad, match="trust_pickle=True"):
        load(stored.run_name_)
    loaded = load(stored.run_name_, trust_pickle=True)
    np.testing.assert_array_equal(loaded.transform(X), stored.transform(X))


def test_log_model_false_stores_no_model(repo: Repo, iris: Any) -> None:
    X, y = iris
    model = Tracked(Ridge(), log_model=False).fit(X, y)

    with pytest.raises(ModelSyncError, match="log_model=False"):
        load(model.run_name_)
    assert runs_by_name(repo)[model.run_name_].metrics["train_score"] > 0


def test_a_named_run_gets_one_commit_per_fit(repo: Repo, iris: Any) -> None:
    X, y = iris
    model = Tracked(Ridge(alpha=1.0), run_name="ridge")
    first = model.fit(X, y).commit_
    model.set_params(estimator__alpha=100.0).fit(X, y)

    assert model.run_name_ == "ridge"
    assert list(runs_by_name(repo)) == ["ridge"]
    assert get_params(repo, "ridge")["alpha"] == 100.0
    assert first in {oid for oid, _ in repo.log("ridge")}
    assert load(first).alpha == 1.0
    assert load("ridge").alpha == 100.0


def test_a_later_fit_without_a_model_never_loads_the_earlier_model(iris: Any) -> None:
    X, y = iris
    Tracked(Ridge(), run_name="ridge").fit(X, y)
    Tracked(Ridge(), run_name="ridge", log_model=False).fit(X, y)

    with pytest.raises(ModelSyncError, match="log_model=False"):
        load("ridge")


# ------------------------------------------------------------- behaves as the wrapped one
def test_methods_and_type_follow_the_wrapped_estimator() -> None:
    classifier, regressor = Tracked(LogisticRegression()), Tracked(Ridge())
    transformer, clusterer = Tracked(StandardScaler()), Tracked(KMeans(n_clusters=2))

    assert is_classifier(classifier) and not is_regressor(classifier)
    assert is_regressor(regressor)
    assert hasattr(classifier, "predict_proba") and not hasattr(regressor, "predict_proba")
    assert hasattr(transformer, "transform") and not hasattr(transformer, "predict")
    assert hasattr(clusterer, "fit_predict") and not hasattr(classifier, "fit_transform")


def test_params_are_nested_and_clone_keeps_them() -> None:
    model = Tracked(LogisticRegression(C=2.0), run_name="x")
    model.set_params(estimator__max_iter=50)

    cloned = clone(model)

    assert cloned.get_params()["estimator__C"] == 2.0
    assert cloned.get_params()["estimator__max_iter"] == 50
    assert cloned.run_name == "x" and cloned.estimator is not model.estimator


def test_fit_transform_and_fit_predict_are_tracked_fits(repo: Repo, iris: Any) -> None:
    X, _ = iris
    scaled = Tracked(StandardScaler()).fit_transform(X)
    clusterer = Tracked(KMeans(n_clusters=3, random_state=0, n_init=2))
    labels = clusterer.fit_predict(X)

    np.testing.assert_allclose(scaled, StandardScaler().fit_transform(X))
    np.testing.assert_array_equal(labels, clusterer.labels_)
    assert len(runs_by_name(repo)) == 2


def test_set_output_reaches_the_wrapped_transformer(iris: Any) -> None:
    X, _ = iris
    model = Tracked(StandardScaler()).set_output(transform="pandas").fit(X)

    assert list(model.transform(X).columns) == list(X.columns)
    assert list(load(model.commit_).transform(X).columns) == list(X.columns)


def test_a_pickled_fitted_wrapper_keeps_its_run_and_commit(iris: Any) -> None:
    X, y = iris
    model = Tracked(Ridge()).fit(X, y)

    restored = pickle.loads(pickle.dumps(model))

    assert (restored.run_name_, restored.commit_) == (model.run_name_, model.commit_)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def test_inside_a_pipeline_and_cross_val_score(repo: Repo, iris: Any) -> None:
    X, y = iris
    pipeline = make_pipeline(StandardScaler(), Tracked(LogisticRegression()))
    pipeline.fit(X, y)
    scores = cross_val_score(Tracked(LogisticRegression(max_iter=500)), X, y, cv=3)

    assert len(scores) == 3
    assert len(runs_by_name(repo)) == 1 + 3


def test_as_the_estimator_of_a_search(repo: Repo, iris: Any) -> None:
    X, y = iris
    search = GridSearchCV(Tracked(Ridge()), {"estimator__alpha": [0.1, 10.0]}, cv=2)

    search.fit(X, y)

    assert isinstance(search.best_estimator_, Tracked)
    assert search.best_estimator_.run_name_ in runs_by_name(repo)
    assert len(runs_by_name(repo)) == 2 * 2 + 1  # each candidate on each fold, then the refit


class _LogsItsLoss(RegressorMixin, BaseEstimator):
    """Logs a loss per epoch with ``modelsync.log``, as a custom training loop would."""

    def __init__(self, epochs: int = 3) -> None:
        self.epochs = epochs

    def fit(self, X: Any, y: Any) -> _LogsItsLoss:
        for epoch in range(self.epochs):
            modelsync.log({"loss": 1.0 / (epoch + 1)})
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X: Any) -> Any:
        return np.full(len(X), self.mean_)


def test_what_the_estimator_logs_while_fitting_goes_to_the_fit_run(repo: Repo, iris: Any) -> None:
    X, y = iris
    model = Tracked(_LogsItsLoss(epochs=3)).fit(X, y)

    flush()
    assert [point.value for point in metric_series(repo, model.run_name_, "loss")] == [
        1.0,
        0.5,
        pytest.approx(1 / 3),
    ]


def test_a_fit_inside_a_run_is_its_child(repo: Repo, iris: Any) -> None:
    X, y = iris
    with modelsync.start_run(name="experiment", repo=repo):
        model = Tracked(Ridge()).fit(X, y)

    assert runs_by_name(repo)[model.run_name_].parent == "experiment"


def test_fits_inside_a_tracked_fit_are_its_children(repo: Repo, iris: Any) -> None:
    X, y = iris
    search = GridSearchCV(Tracked(Ridge()), {"estimator__alpha": [0.1, 10.0]}, cv=2)

    outer = Tracked(search).fit(X, y)

    runs = runs_by_name(repo)
    inner_fits = [run for run in runs.values() if "-candidate-" not in run.name]
    assert len(inner_fits) == 1 + 2 * 2 + 1  # the search, its fits, its refit
    assert all(run.parent == outer.run_name_ for run in inner_fits if run.name != outer.run_name_)


# -------------------------------------------------------------------------- searches
def test_a_search_records_its_table_best_candidate_and_one_child_per_candidate(
    repo: Repo, iris: Any
) -> None:
    X, y = iris
    grid = {"n_neighbors": [1, 5, 9], "weights": ["uniform", "distance"]}
    model = Tracked(GridSearchCV(KNeighborsClassifier(), grid, cv=3)).fit(X, y)

    runs = runs_by_name(repo)
    children = [run for run in runs.values() if run.parent == model.run_name_]
    assert len(runs) == 1 + 6 and len(children) == 6
    best = model.best_index_
    best_child = next(run for run in children if "best" in run.tags)
    assert best_child.metrics["mean_test_score"] == model.cv_results_["mean_test_score"][best]
    assert get_params(repo, best_child.name)["n_neighbors"] == model.best_params_["n_neighbors"]
    assert get_params(repo, model.run_name_)["best_params.weights"] == model.best_params_["weights"]
    assert runs[model.run_name_].metrics["best_score"] == model.best_score_
    assert repo.resolve(f"{best_child.name}@best") == best_child.head


def test_a_randomized_search_records_each_sampled_candidate(repo: Repo, iris: Any) -> None:
    X, y = iris
    search = RandomizedSearchCV(
        Ridge(), {"alpha": np.logspace(-3, 3, 50)}, n_iter=4, cv=2, random_state=0
    )
    model = Tracked(search).fit(X, y)

    table = load_cv_results(model.run_name_)
    assert table["param_alpha"] == list(model.cv_results_["param_alpha"])
    children = [run for run in runs_by_name(repo).values() if run.parent == model.run_name_]
    assert len(children) == 4


def _assert_same_cv_results(stored: dict[str, list[Any]], cv_results: dict[str, Any]) -> None:
    assert list(stored) == list(cv_results)
    for column, values in cv_results.items():
        if column == "params":
            assert stored[column] == values
        elif isinstance(values, np.ma.MaskedArray):
            assert stored[column] == values.tolist()
        else:
            np.testing.assert_array_equal(np.asarray(stored[column]), values)


@pytest.mark.slow
def test_a_parallel_search_on_digits_is_recorded_exactly_once(repo: Repo) -> None:
    X, y = load_digits(return_X_y=True)
    grid = {"n_neighbors": [1, 3, 5, 7]}
    model = Tracked(GridSearchCV(KNeighborsClassifier(), grid, cv=3, n_jobs=2)).fit(X, y)

    runs = runs_by_name(repo)
    assert len(runs) == 1 + 4
    assert sorted(run.name for run in runs.values() if run.parent == model.run_name_) == [
        f"{model.run_name_}-candidate-{i}" for i in range(4)
    ]
    _assert_same_cv_results(load_cv_results(model.run_name_), model.cv_results_)


@pytest.mark.slow
def test_as_the_estimator_of_a_parallel_search(repo: Repo) -> None:
    X, y = load_digits(return_X_y=True)
    grid = {"estimator__n_neighbors": [1, 3]}
    # joblib's workers may have been started from another directory: name the repository
    model = Tracked(KNeighborsClassifier(), repo=repo.work_tree)
    search = GridSearchCV(model, grid, cv=2, n_jobs=2).fit(X, y)

    runs = runs_by_name(repo)
    assert len(runs) == 2 * 2 + 1
    assert all(run.status == "finished" for run in runs.values())
    assert search.best_estimator_.run_name_ in runs


# --------------------------------------------------------------------------- autolog
def test_autolog_tracks_top_level_fits_and_not_the_fits_inside_them(repo: Repo, iris: Any) -> None:
    X, y = iris
    autolog()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    Ridge().fit(X, y)

    runs = runs_by_name(repo)
    assert sorted(get_params(repo, name)["estimator_class"] for name in runs) == [
        "sklearn.linear_model.Ridge",
        "sklearn.pipeline.Pipeline",
    ]
    pipeline_run = next(n for n in runs if "Pipeline" in get_params(repo, n)["estimator_class"])
    np.testing.assert_array_equal(load(pipeline_run).predict(X), pipeline.predict(X))


def test_autolog_disable_restores_plain_fits(repo: Repo, iris: Any) -> None:
    X, y = iris
    plain_fit = Ridge.fit
    autolog()
    assert Ridge.fit is not plain_fit

    autolog(disable=True)
    Ridge().fit(X, y)

    assert Ridge.fit is plain_fit
    assert runs_by_name(repo) == {}


def test_autolog_stores_the_model_as_it_was_when_fit_returned(repo: Repo, iris: Any) -> None:
    X, y = iris
    autolog()
    model = Ridge(alpha=0.1).fit(X, y)
    first_coef = model.coef_.copy()
    model.set_params(alpha=1000.0).fit(X, y)

    first = next(run for run in list_runs(repo) if get_params(repo, run.name)["alpha"] == 0.1)
    flush()
    stored = load(first.name)
    assert stored.alpha == 0.1
    np.testing.assert_array_equal(stored.coef_, first_coef)


def test_autolog_keeps_available_if_methods_conditional(iris: Any) -> None:
    X, _ = iris
    autolog()

    assert not hasattr(make_pipeline(StandardScaler(), LogisticRegression()), "fit_transform")
    assert hasattr(make_pipeline(StandardScaler()), "fit_transform")
    np.testing.assert_allclose(
        make_pipeline(StandardScaler()).fit_transform(X), StandardScaler().fit_transform(X)
    )


@pytest.mark.slow
def test_autolog_records_a_parallel_search_exactly_once(repo: Repo) -> None:
    X, y = load_digits(return_X_y=True)
    autolog()
    search = GridSearchCV(KNeighborsClassifier(), {"n_neighbors": [1, 3, 5]}, cv=3, n_jobs=2)
    search.fit(X, y)

    runs = runs_by_name(repo)
    parents = [run for run in runs.values() if run.parent is None]
    assert len(parents) == 1 and len(runs) == 1 + 3
    _assert_same_cv_results(load_cv_results(parents[0].name), search.cv_results_)


# ------------------------------------------------------------------- tracking failures
def test_without_a_repository_the_fit_warns_and_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, iris: Any
) -> None:
    X, y = iris
    monkeypatch.chdir(tmp_path)

    with pytest.warns(TrackingWarning, match="not tracked") as warned:
        model = Tracked(Ridge(), repo=tmp_path / "nowhere").fit(X, y)

    assert warned[0].filename == __file__  # the warning points at the caller's fit
    assert model.run_name_ is None and model.commit_ is None
    np.testing.assert_allclose(model.predict(X), Ridge().fit(X, y).predict(X))


def test_strict_raises_when_tracking_cannot_start(tmp_path: Path, iris: Any) -> None:
    X, y = iris
    with pytest.raises(ModelSyncError):
        Tracked(Ridge(), repo=tmp_path / "nowhere", strict=True).fit(X, y)


class _DiskFailsDuringFit(RegressorMixin, BaseEstimator):
    """Predicts the mean; its fit takes away the directory new packs of objects are written to,
    as a full or read-only disk would."""

    def __init__(self, pack_dir: Path | None = None) -> None:
        self.pack_dir = pack_dir

    def fit(self, X: Any, y: Any) -> _DiskFailsDuringFit:
        assert self.pack_dir is not None
        shutil.rmtree(self.pack_dir)
        self.pack_dir.write_bytes(b"")
        self.mean_ = float(np.mean(y))
        self.n_features_in_ = np.shape(X)[1]
        return self

    def predict(self, X: Any) -> Any:
        return np.full(len(X), self.mean_)


def test_a_repository_failing_during_the_fit_warns_and_the_fit_succeeds(
    repo: Repo, iris: Any
) -> None:
    X, y = iris
    model = Tracked(_DiskFailsDuringFit(repo.control_dir / "objects" / "pack"))

    with pytest.warns(TrackingWarning):
        model.fit(X, y)
        flush()

    np.testing.assert_allclose(model.predict(X), np.mean(y))


def test_strict_raises_when_the_repository_fails_during_the_fit(repo: Repo, iris: Any) -> None:
    X, y = iris
    model = Tracked(_DiskFailsDuringFit(repo.control_dir / "objects" / "pack"), strict=True)

    with pytest.raises(TrackingError):
        model.fit(X, y)


def test_a_failing_fit_raises_its_own_error_and_marks_the_run_failed(repo: Repo, iris: Any) -> None:
    X, y = iris
    X_nan = X.copy()
    X_nan.iloc[0, 0] = np.nan

    with pytest.raises(ValueError, match="NaN"):
        Tracked(LogisticRegression()).fit(X_nan, y)

    (run,) = runs_by_name(repo).values()
    assert run.status == "failed"
    assert run.error is not None and "NaN" in run.error


@pytest.mark.parametrize(
    "options",
    [
        {"log_model": "pickle"},
        {"eval_sets": [(1, 2)]},
        {"eval_sets": {"train": (1, 2)}},
        {"repo": 3},
        {"strict": "yes"},
    ],
    ids=["log_model", "eval_sets-list", "eval_sets-train", "repo", "strict"],
)
def test_invalid_options_raise_when_fitting(options: dict[str, Any], iris: Any) -> None:
    X, y = iris
    model = Tracked(Ridge(), **options)  # the constructor only stores them, as sklearn requires

    with pytest.raises(ValueError):
        model.fit(X, y)


def test_autolog_checks_its_options() -> None:
    with pytest.raises(ValueError, match="log_model"):
        autolog(log_model="pickle")
