"""What tracking adds to a scikit-learn ``fit``: ``Tracked`` and ``autolog`` beside the plain fit
and ``mlflow.sklearn.autolog`` (when mlflow is installed), on a small and a medium model.

    python benchmarks/bench_sklearn.py [--repeats 9] [--dir /tmp/bench]

small: ``LogisticRegression`` on iris; medium: ``RandomForestClassifier(200)`` on digits. Each
fit is timed when ``fit`` returns (the model file and final commit are then still being written
on ModelSync's background thread) and, separately, until its commit is written (``+commit``:
``fit`` then ``flush``). Targets: under 50 ms added per fit for the small model, under 10% for
the medium one, and less than MLflow's autolog adds.

Each mode runs ``--repeats`` rounds (half as many for the medium model), interleaved with a
plain fit in each round; what a mode adds is the median over rounds of its time minus the
plain fit's in the same round, which keeps the load of a shared machine out. BLAS runs on one
thread (on a shared machine its idle threads otherwise spin and dominate a small fit). The
default environment capture (git state included) is on, as for a user; one more row shows
the time without the git state (six ``git`` commands per run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import print_table
from sklearn.base import BaseEstimator, clone
from sklearn.datasets import load_digits, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from modelsync import Repo
from modelsync.environment import EXCLUDE_ENV
from modelsync.integrations.sklearn import Tracked, autolog, flush

Fit = Callable[[], object]


def seconds(action: Fit) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def modes(estimator: BaseEstimator, X: Any, y: Any, repo: Path) -> dict[str, Fit]:
    def plain() -> object:
        return clone(estimator).fit(X, y)

    def tracked() -> object:
        return Tracked(clone(estimator), repo=repo).fit(X, y)

    def recorded(fit: Fit) -> Fit:
        return lambda: (fit(), flush())

    def without_git_state(fit: Fit) -> Fit:
        def run() -> object:
            previous = os.environ.get(EXCLUDE_ENV)
            os.environ[EXCLUDE_ENV] = "git,git_diff"
            try:
                return fit()
            finally:
                if previous is None:
                    del os.environ[EXCLUDE_ENV]
                else:
                    os.environ[EXCLUDE_ENV] = previous

        return run

    return {
        "plain fit": plain,
        "Tracked": tracked,
        "Tracked+commit": recorded(tracked),
        "Tracked, no git state": without_git_state(tracked),
        "autolog": plain,
        "autolog+commit": recorded(plain),
    }


def measure(
    estimator: BaseEstimator, X: Any, y: Any, repo: Path, repeats: int
) -> dict[str, list[float]]:
    """Seconds per fit of each mode, one value per round."""
    fits = modes(estimator, X, y, repo)
    times: dict[str, list[float]] = {name: [] for name in fits}
    for round_ in range(repeats + 1):  # round 0 warms up every mode
        for name, fit in fits.items():
            uses_autolog = name.startswith("autolog")
            if uses_autolog:
                autolog(repo=repo)
            elapsed = seconds(fit)
            if uses_autolog:
                autolog(disable=True)
            flush()
            if round_:
                times[name].append(elapsed)
    return times


def measure_mlflow(
    estimator: BaseEstimator, X: Any, y: Any, workdir: Path, repeats: int
) -> dict[str, list[float]] | None:
    """Seconds per fit, plain and under ``mlflow.sklearn.autolog``, one pair per round."""
    try:
        import mlflow
        import mlflow.sklearn
    except ImportError:
        return None
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    # its artifacts (the pickled models) go beside the database, not into ./mlruns
    experiment = f"bench-{type(estimator).__name__}"
    mlflow.create_experiment(experiment, artifact_location=(workdir / "mlartifacts").as_uri())
    mlflow.set_experiment(experiment)
    times: dict[str, list[float]] = {"plain fit": [], "mlflow autolog": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own deprecation and signature notices
        for round_ in range(repeats + 1):
            plain = seconds(lambda: clone(estimator).fit(X, y))
            mlflow.sklearn.autolog(silent=True)
            tracked = seconds(lambda: clone(estimator).fit(X, y))
            mlflow.sklearn.autolog(disable=True)
            if round_:
                times["plain fit"].append(plain)
                times["mlflow autolog"].append(tracked)
    return times


def added(times: dict[str, list[float]], mode: str) -> float:
    """The median, over rounds, of what ``mode`` took beyond the plain fit of the same round."""
    return statistics.median(t - p for t, p in zip(times[mode], times["plain fit"], strict=True))


def bench(workdir: Path, repeats: int) -> None:
    repo_dir = workdir / "repo"
    Repo.init(repo_dir).close()
    iris, digits = load_iris(return_X_y=True), load_digits(return_X_y=True)
    forest = RandomForestClassifier(200, random_state=0)
    cases = [
        ("small: LR, iris", LogisticRegression(max_iter=1000), iris, repeats),
        ("medium: RF(200), digits", forest, digits, max(3, repeats // 2)),
    ]
    rows = []
    for label, estimator, (X, y), n in cases:
        with threadpool_limits(1):
            times = measure(estimator, X, y, repo_dir, n)
            mlflow_times = measure_mlflow(estimator, X, y, workdir, n)
        base = statistics.median(times["plain fit"])
        rows.append([label, "plain fit", f"{base * 1000:.1f}", "-", "-"])
        for mode in list(times)[1:]:
            extra = added(times, mode)
            rows.append(_row(mode, statistics.median(times[mode]), extra, base))
        if mlflow_times is None:
            rows.append(["", "mlflow autolog", "not installed", "-", "-"])
            continue
        mlflow_extra = added(mlflow_times, "mlflow autolog")
        rows.append(
            _row(
                "mlflow autolog",
                statistics.median(mlflow_times["mlflow autolog"]),
                mlflow_extra,
                base,
            )
        )
        ours = max(added(times, "Tracked+commit"), added(times, "autolog+commit"))
        rows.append(["", "MLflow adds / we add", "-", f"{mlflow_extra / ours:.1f}x", "-"])
    print_table(
        "scikit-learn fit: median ms per fit and what tracking adds "
        "(targets: small < +50 ms, medium < +10%, less than MLflow)",
        ["model", "mode", "ms per fit", "added ms", "added %"],
        rows,
    )


def _row(mode: str, median: float, extra: float, base: float) -> list[str]:
    return ["", mode, f"{median * 1000:.1f}", f"{extra * 1000:+.1f}", f"{extra / base:+.1%}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        bench(Path(tmp), args.repeats)


if __name__ == "__main__":
    main()
