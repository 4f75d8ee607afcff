"""What tracking adds to a scikit-learn ``fit``: ``Tracked`` and ``autolog`` beside the plain fit
and ``mlflow.sklearn.autolog`` (when mlflow is installed), on a small and a medium model.

    python benchmarks/bench_sklearn.py [--repeats 9] [--dir /tmp/bench]

small: ``LogisticRegression`` on iris; medium: ``RandomForestClassifier(200)`` on digits. Each
fit is timed when ``fit`` returns (the model file and final commit are then still being written
on ModelSync's background thread) and, separately, until its commit is written (``flush``).
Targets: under 50 ms added per fit for the small model, under 10% for the medium one, and less
than MLflow's autolog adds. Medians of ``--repeats`` fits, modes interleaved; the default
environment capture (git state included) is on, as for a user.
"""

from __future__ import annotations

import argparse
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

from modelsync import Repo
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

    return {
        "plain fit": plain,
        "Tracked": tracked,
        "Tracked, until committed": recorded(tracked),
        "autolog": plain,
        "autolog, until committed": recorded(plain),
    }


def measure(estimator: BaseEstimator, X: Any, y: Any, repo: Path, repeats: int) -> dict[str, float]:
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
    return {name: statistics.median(values) for name, values in times.items()}


def measure_mlflow(
    estimator: BaseEstimator, X: Any, y: Any, workdir: Path, repeats: int
) -> float | None:
    try:
        import mlflow
        import mlflow.sklearn
    except ImportError:
        return None
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own deprecation and signature notices
        mlflow.sklearn.autolog(silent=True)
        values = [seconds(lambda: clone(estimator).fit(X, y)) for _ in range(repeats + 1)][1:]
        mlflow.sklearn.autolog(disable=True)
    return statistics.median(values)


def bench(workdir: Path, repeats: int) -> None:
    repo_dir = workdir / "repo"
    Repo.init(repo_dir).close()
    iris, digits = load_iris(return_X_y=True), load_digits(return_X_y=True)
    cases = [
        ("small", "LogisticRegression, iris", LogisticRegression(max_iter=1000), iris, repeats),
        (
            "medium",
            "RandomForest(200), digits",
            RandomForestClassifier(200, random_state=0),
            digits,
            max(3, repeats // 3),
        ),
    ]
    rows = []
    for size, label, estimator, (X, y), n in cases:
        results = measure(estimator, X, y, repo_dir, n)
        mlflow_time = measure_mlflow(estimator, X, y, workdir, n)
        if mlflow_time is not None:
            results["mlflow.sklearn.autolog"] = mlflow_time
        base = results["plain fit"]
        for name, value in results.items():
            added = value - base
            versus_mlflow = "-"
            if mlflow_time is not None and name != "plain fit" and name != "mlflow.sklearn.autolog":
                versus_mlflow = f"{(mlflow_time - base) / max(added, 1e-6):.1f}x less"
            rows.append(
                [
                    f"{size}: {label}" if name == "plain fit" else "",
                    name,
                    f"{value * 1000:.1f}",
                    "-" if name == "plain fit" else f"{added * 1000:+.1f}",
                    "-" if name == "plain fit" else f"{added / base:+.1%}",
                    versus_mlflow,
                ]
            )
        if mlflow_time is None:
            rows.append(["", "mlflow.sklearn.autolog", "not installed", "-", "-", "-"])
    print_table(
        "scikit-learn fit: time per fit (median) and what tracking adds "
        "(targets: small < +50 ms, medium < +10%, less than MLflow)",
        ["model", "mode", "ms per fit", "added ms", "added %", "added vs MLflow"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        bench(Path(tmp), args.repeats)


if __name__ == "__main__":
    main()
