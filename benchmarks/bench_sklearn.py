"""What tracking adds to a scikit-learn ``fit``: ``Tracked`` and ``autolog`` beside the plain fit
and ``mlflow.sklearn.autolog`` (when mlflow is installed), on a small and a medium model.

    python benchmarks/bench_sklearn.py [--repeats 9] [--dir /tmp/bench]

small: ``LogisticRegression`` on iris; medium: ``RandomForestClassifier(200)`` on digits. Each
fit is timed when ``fit`` returns (the scores, the model file and the final commit are then
still being made on ModelSync's background thread) and, separately, until its commit is written
(``+commit``: ``fit`` then ``flush``, everything recorded and on disk). Targets: under 50 ms
added per fit for the small model, under 10% for the medium one, and less than MLflow's autolog
adds.

Each mode runs ``--repeats`` rounds (half as many for the medium model), interleaved with a
plain fit in each round; what a mode adds is the median over rounds of its time minus the
plain fit's in the same round, which keeps the load of a shared machine out. Wall time is what
the user waits for; the process's CPU time (all its threads: the background thread's work
counts in ``+commit``) is steadier on a busy machine. A second table takes what a tracked call
adds from within the call itself: its wall time minus the estimator's own fit inside it (the
run's ``fit_time``), free of the fit-to-fit spread of a busy machine.

BLAS runs on one thread (on a shared machine its idle threads otherwise spin and dominate a
small fit). The default environment capture (git state included) is on, as for a user; one
more row shows the time without the git state (one ``git status`` per run, and ``git diff``
when the code has changed).
"""

from __future__ import annotations

import argparse
import math
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
from modelsync.integrations.sklearn import Tracked, autolog, flush
from modelsync.runs.environment import EXCLUDE_ENV
from modelsync.runs.read import list_runs

Fit = Callable[[], object]
# mode: seconds per round (wall, CPU, and the estimator's own fit, recorded by its run: nan for
# an untracked fit)
Times = dict[str, list[tuple[float, float, float]]]


def seconds(action: Fit) -> tuple[float, float]:
    """Wall and CPU seconds of ``action``."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def own_fit_time(repo: Path, known: set[str]) -> float:
    """The ``fit_time`` of the run not in ``known`` (then added to it); nan when there is none."""
    new = [run for run in list_runs(repo) if run.name not in known]
    known.update(run.name for run in new)
    return new[0].metrics["fit_time"] if new else math.nan


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
        "Tracked, no git": without_git_state(tracked),
        "autolog": plain,
        "autolog+commit": recorded(plain),
    }


def measure(estimator: BaseEstimator, X: Any, y: Any, repo: Path, repeats: int) -> Times:
    """Seconds per fit of each mode, one pair per round."""
    fits = modes(estimator, X, y, repo)
    times: Times = {name: [] for name in fits}
    known = {run.name for run in list_runs(repo)}
    for round_ in range(repeats + 1):  # round 0 warms up every mode
        for name, fit in fits.items():
            uses_autolog = name.startswith("autolog")
            if uses_autolog:
                autolog(repo=repo)
            elapsed = seconds(fit)
            if uses_autolog:
                autolog(disable=True)
            flush()
            own = own_fit_time(repo, known)
            if round_:
                times[name].append((*elapsed, own))
    return times


def measure_mlflow(
    estimator: BaseEstimator, X: Any, y: Any, workdir: Path, repeats: int
) -> Times | None:
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
    times: Times = {"plain fit": [], "mlflow autolog": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own deprecation and signature notices
        for round_ in range(repeats + 1):
            plain = seconds(lambda: clone(estimator).fit(X, y))
            mlflow.sklearn.autolog(silent=True)
            tracked = seconds(lambda: clone(estimator).fit(X, y))
            mlflow.sklearn.autolog(disable=True)
            if round_:
                times["plain fit"].append((*plain, math.nan))
                times["mlflow autolog"].append((*tracked, math.nan))
    return times


def added(times: Times, mode: str, clock: int = 0) -> float:
    """The median, over rounds, of what ``mode`` took beyond the plain fit of the same round
    (``clock`` 0: wall time, 1: CPU time)."""
    pairs = zip(times[mode], times["plain fit"], strict=True)
    return statistics.median(t[clock] - p[clock] for t, p in pairs)


def added_in_call(times: Times, mode: str) -> float:
    """The median, over rounds, of the wall time of ``mode`` beyond the estimator's own fit."""
    return statistics.median(wall - own for wall, _, own in times[mode])


def median(times: Times, mode: str, clock: int = 0) -> float:
    return statistics.median(t[clock] for t in times[mode])


def bench(workdir: Path, repeats: int) -> None:
    repo_dir = workdir / "repo"
    Repo.init(repo_dir).close()
    iris, digits = load_iris(return_X_y=True), load_digits(return_X_y=True)
    forest = RandomForestClassifier(200, random_state=0)
    cases = [
        ("small", LogisticRegression(max_iter=1000), iris, repeats),
        ("medium", forest, digits, max(3, repeats // 2)),
    ]
    rows, in_call = [], []
    for label, estimator, (X, y), n in cases:
        with threadpool_limits(1):
            times = measure(estimator, X, y, repo_dir, n)
            mlflow_times = measure_mlflow(estimator, X, y, workdir, n)
        for index, mode in enumerate(list(times)[1:]):
            own, extra = median(times, mode, 2), added_in_call(times, mode)
            cells = [f"{own * 1000:.1f}", f"{extra * 1000:+.1f}", f"{extra / own:+.1%}"]
            in_call.append(["" if index else label, mode, *cells])
        rows.append([label, *_row(times, "plain fit", times)])
        rows += [["", *_row(times, mode, times)] for mode in list(times)[1:]]
        if mlflow_times is None:
            rows.append(["", "mlflow autolog", "not installed", "-", "-", "-", "-"])
            continue
        rows.append(["", *_row(mlflow_times, "mlflow autolog", times)])
        ratios = [
            added(mlflow_times, "mlflow autolog", clock)
            / max(added(times, "Tracked+commit", clock), added(times, "autolog+commit", clock))
            for clock in (0, 1)
        ]
        ratio = [f"{ratios[0]:.1f}x", "-", f"{ratios[1]:.1f}x", "-"]
        rows.append(["", "MLflow / ours", "-", *ratio])
    print_table(
        "scikit-learn fit (small: LogisticRegression on iris, medium: RandomForestClassifier(200) "
        "on digits): median ms per fit, and what tracking adds to it in wall and CPU time; "
        "MLflow / ours: what MLflow's autolog adds over what ours adds, +commit included "
        "(targets: small < +50 ms, medium < +10%, less than MLflow)",
        ["model", "mode", "ms/fit", "+ms", "+%", "+CPU ms", "+CPU %"],
        rows,
    )
    print_table(
        "what a tracked call adds beyond the estimator's own fit inside it (median ms)",
        ["model", "mode", "own fit ms", "+ms", "+%"],
        in_call,
    )


def _row(times: Times, mode: str, ours: Times) -> list[str]:
    """A mode's cells; its % are of the plain fit of ``ours`` (the same for MLflow's rows)."""
    cells = [mode, f"{median(times, mode) * 1000:.1f}"]
    if mode == "plain fit":
        return [*cells, "-", "-", "-", "-"]
    for clock in (0, 1):
        extra = added(times, mode, clock)
        cells += [f"{extra * 1000:+.1f}", f"{extra / median(ours, 'plain fit', clock):+.1%}"]
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        bench(Path(tmp), args.repeats)


if __name__ == "__main__":
    main()
