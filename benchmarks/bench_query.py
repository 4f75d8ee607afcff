"""Inspecting a large repository from the command line, side by side with MLflow's search_runs.

    python benchmarks/bench_query.py [--runs 10000] [--params 20] [--steps 34]
                                     [--series 1000000] [--history 10000]
                                     [--repeat 5] [--dir /dev/shm/bench-query] [--no-mlflow]
                                     [--check]

Builds (once, kept in ``--dir``) a real repository of ``--runs`` runs: one run whose
``train/loss`` series has ``--series`` points, logged through ``start_run``/``log_metrics``; one
run of ``--history`` commits; the others with ``--params`` params each and three metrics of
``--steps`` steps (10,000 x 3 x 34 = 1.02 million points). The last two kinds are written as
the run commits tracking makes (run.json, params.json, environment.json, datasets.json,
metrics.seg), objects in one batch, refs by compare-and-swap, and every commit indexed by
``Catalog.record_commit`` in one transaction: ``--check`` rebuilds the catalog with ``reindex``
and verifies that every table comes back the same.

Then times the commands as a user runs them, each a fresh ``modelsync`` process whose output
goes to a pipe (Python start-up and imports included), median and best of ``--repeat`` after a
warm-up:

- ``modelsync runs`` (first page, default columns): target under 0.5 s;
- ``modelsync runs --where "metrics.val_loss < 0.3 and params.lr >= 1e-3"``: under 1 s;
- ``modelsync log <run of 10,000 commits>``: under 0.5 s;
- ``modelsync metrics <run> --key train/loss`` (1,000,000 points, drawn downsampled): under 1 s.

With MLflow installed, the same runs, params and metrics go into an MLflow SQLite store
(inserted in bulk into the tables MLflow's own schema creates) and the same queries run through
``mlflow.search_runs``: in-process after a warm-up, and as a fresh process importing MLflow.
MLflow compares params as strings, so the filter it can run is the string one,
``metrics.val_loss < 0.3 and params.optimizer.name = 'adam'``, which is timed on both sides.
"""

from __future__ import annotations

import argparse
import compileall
import json
import logging
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import modelsync
from modelsync import Repo
from modelsync.model.layout import (
    DATASETS_FILE,
    ENVIRONMENT_FILE,
    PARAMS_FILE,
    RUN_FILE,
    SEGMENT_FILE,
    run_ref,
)
from modelsync.model.metadata import DatasetList, Environment, Params, RunInfo
from modelsync.model.objects import FILE_MODE, Commit, TreeEntry
from modelsync.model.segment import encode_segment
from modelsync.runs.buffer import MetricBuffer
from modelsync.runs.environment import CAPTURE_ITEMS

SERIES_RUN = "long-series"
HISTORY_RUN = "long-history"
SERIES_KEY = "train/loss"
WHERE = "metrics.val_loss < 0.3 and params.lr >= 1e-3"
WHERE_STRINGS = "metrics.val_loss < 0.3 and params.optimizer.name == 'adam'"
MLFLOW_WHERE_STRINGS = "metrics.val_loss < 0.3 and params.`optimizer.name` = 'adam'"
PAGE = 20
BATCH = 1000
OPTIMIZERS = ("adam", "sgd", "adamw", "lion")
TARGETS = {"runs": 0.5, "runs --where": 1.0, "log": 0.5, "metrics": 1.0}


# ----------------------------------------------------------------------- building
def synthetic_params(index: int, count: int) -> dict[str, Any]:
    """``count`` params of a sweep: numbers, strings, booleans, dotted (nested) keys."""
    rng = random.Random(index)
    params: dict[str, Any] = {
        "lr": 10 ** rng.uniform(-5, -1),
        "batch_size": 2 ** rng.randint(4, 9),
        "optimizer.name": OPTIMIZERS[index % len(OPTIMIZERS)],
        "optimizer.momentum": round(rng.uniform(0.8, 0.99), 3),
        "weight_decay": rng.choice((0.0, 1e-5, 1e-4, 1e-3)),
        "dropout": round(rng.uniform(0.0, 0.5), 2),
        "seed": index,
        "model.layers": rng.randint(2, 12),
        "model.hidden": rng.choice((128, 256, 512, 1024)),
        "model.activation": rng.choice(("relu", "gelu", "silu")),
        "scheduler.name": rng.choice(("cosine", "step", "none")),
        "scheduler.warmup": rng.randint(0, 1000),
        "epochs": rng.randint(5, 50),
        "data.augment": rng.random() < 0.5,
        "data.fraction": rng.choice((0.1, 0.5, 1.0)),
        "grad_clip": rng.choice((None, 0.5, 1.0)),
        "label_smoothing": rng.choice((0.0, 0.1)),
        "precision": rng.choice(("32", "bf16-mixed", "16-mixed")),
        "loss.name": rng.choice(("ce", "focal")),
        "ema": rng.random() < 0.3,
    }
    extra = {f"extra.p{i}": rng.random() for i in range(len(params), count)}
    return dict(list(params.items())[:count]) | extra


def synthetic_series(index: int, steps: int) -> list[dict[str, float]]:
    rng = random.Random(-index - 1)
    floor = rng.uniform(0.05, 0.8)
    return [
        {
            "loss": floor + 2.0 / (step + 1),
            "val_loss": floor * 1.1 + 2.2 / (step + 1),
            "val_acc": 1 - floor / 2 - 0.5 / (step + 1),
        }
        for step in range(steps)
    ]


class RunWriter:
    """Run commits as tracking writes them, many at a time: objects in one batch, then refs,
    then the catalog in one transaction."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.environment = Environment(captured=[]).to_stored()
        self.datasets = DatasetList().to_stored()

    def tree(self, batch: Any, info: RunInfo, params: dict[str, Any], segment: bytes) -> str:
        files = {
            RUN_FILE: info.to_stored(),
            PARAMS_FILE: Params(params=params).to_stored(),
            ENVIRONMENT_FILE: self.environment,
            DATASETS_FILE: self.datasets,
            SEGMENT_FILE: segment,
        }
        entries = {
            path: TreeEntry("blob", batch.put(data), len(data), FILE_MODE)
            for path, data in files.items()
        }
        return self.repo.write_tree(entries, writer=batch)

    def commit(
        self,
        batch: Any,
        tree: str,
        parent: str | None,
        when: float,
        message: str,
        meta: dict[str, Any],
    ) -> tuple[str, Commit]:
        commit = Commit(
            tree=tree,
            parents=(parent,) if parent else (),
            author=self.repo.author,
            timestamp=when,
            message=message,
            meta=meta,
        )
        return batch.put(commit.to_bytes()), commit

    def publish(self, heads: dict[str, str], commits: list[tuple[str, Commit]]) -> None:
        for run, oid in heads.items():
            with self.repo.refs.locked(run_ref(run)) as ref:
                if ref.raw is not None:
                    raise RuntimeError(f"run {run} exists already")
                ref.set(oid)
        with self.repo.catalog.write() as conn:
            for oid, commit in commits:
                self.repo.catalog.record_commit(conn, oid, commit, self.repo.run_files(commit))


def segment_of(
    points: list[dict[str, float]], first_step: int, first_seq: int, when: float
) -> tuple[bytes, int]:
    buffer = MetricBuffer(first_step - 1)
    for offset, metrics in enumerate(points):
        buffer.add(metrics, first_step + offset, when + offset)
    block = buffer.take(first_seq)
    blocks = [block] if block is not None else []
    return encode_segment(first_seq, blocks), first_seq + sum(b.count for b in blocks)


def write_sweep(repo: Repo, count: int, params: int, steps: int, start: float) -> None:
    writer = RunWriter(repo)
    for first in range(0, count, BATCH):
        heads: dict[str, str] = {}
        commits: list[tuple[str, Commit]] = []
        with repo.store.batch() as batch:
            for index in range(first, min(count, first + BATCH)):
                name = f"sweep-{index:05d}"
                began = start + index * 60
                info = RunInfo(
                    name=name,
                    status="finished",
                    start_time=began,
                    end_time=began + 30 + index % 600,
                    tags=["sweep"],
                )
                points = synthetic_series(index, steps)
                segment, _ = segment_of(points, 0, 0, began)
                tree = writer.tree(batch, info, synthetic_params(index, params), segment)
                meta = {
                    "run": name,
                    "kind": "status",
                    "status": "finished",
                    "step": steps - 1,
                    "epoch": None,
                    "metrics": points[-1],
                }
                oid, commit = writer.commit(
                    batch, tree, None, info.end_time or began, f"finished run {name}", meta
                )
                heads[name] = oid
                commits.append((oid, commit))
        writer.publish(heads, commits)
        print(f"  {min(count, first + BATCH):,} sweep runs", flush=True)


def write_history(repo: Repo, commits_wanted: int, start: float) -> None:
    """One run of ``commits_wanted`` checkpoint-less commits, two metric points each."""
    writer = RunWriter(repo)
    params = synthetic_params(-1, 20)
    info = RunInfo(name=HISTORY_RUN, status="running", start_time=start)
    parent: str | None = None
    seq = 0
    commits: list[tuple[str, Commit]] = []
    with repo.store.batch() as batch:
        for index in range(commits_wanted):
            last = index == commits_wanted - 1
            if last:
                info = info.model_copy(update={"status": "finished", "end_time": start + index})
            points = [{"loss": 1 / (index + 1), "val_loss": 1.1 / (index + 1)}]
            segment, seq = segment_of(points, index, seq, start + index)
            tree = writer.tree(batch, info, params, segment)
            kind = "start" if index == 0 else "status" if last else "checkpoint"
            meta = {
                "run": HISTORY_RUN,
                "kind": kind,
                "status": info.status,
                "step": index,
                "epoch": index // 100,
                "metrics": points[0],
            }
            parent, commit = writer.commit(
                batch, tree, parent, start + index, f"{kind} at step {index}", meta
            )
            commits.append((parent, commit))
    assert parent is not None
    writer.publish({HISTORY_RUN: parent}, commits)


def log_series(repo: Repo, points: int) -> None:
    run = modelsync.start_run(
        SERIES_RUN, repo=repo, params={"lr": 3e-4}, capture_exclude=CAPTURE_ITEMS
    )
    for step in range(points):
        run.log_metrics({SERIES_KEY: 1.0 / (1 + step * 1e-3) + (step % 997) * 1e-5}, step=step)
    run.finish()


def build(directory: Path, args: argparse.Namespace) -> Path:
    path = directory / f"repo-{args.runs}-{args.params}-{args.steps}-{args.series}-{args.history}"
    if (path / ".modelsync").is_dir():
        return path
    print(f"building {path}...", flush=True)
    building = path.with_name(path.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)
    began = time.perf_counter()
    repo = Repo.init(building, name="Bench", email="bench@example.com")
    start = time.time() - args.runs * 60 - args.history
    write_history(repo, args.history, start)
    print(f"  {HISTORY_RUN}: {args.history:,} commits", flush=True)
    write_sweep(repo, args.runs - 2, args.params, args.steps, start + args.history)
    log_series(repo, args.series)
    print(f"  {SERIES_RUN}: {args.series:,} points", flush=True)
    repo.close()
    os.replace(building, path)
    print(f"built in {time.perf_counter() - began:.0f} s", flush=True)
    return path


def catalog_dump(repo: Repo) -> dict[str, list[tuple[Any, ...]]]:
    conn = repo.catalog.conn
    tables = [
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    ]
    ignored = {"runs": "heartbeat"}
    dump = {}
    for table in tables:
        columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
        kept = ", ".join(f'"{c}"' for c in columns if c != ignored.get(table))
        rows = conn.execute(f'SELECT {kept} FROM "{table}"').fetchall()
        dump[table] = sorted((tuple(row) for row in rows), key=repr)
    return dump


def check_reindex(path: Path) -> None:
    with Repo.open(path) as repo:
        before = catalog_dump(repo)
        began = time.perf_counter()
        count = repo.reindex()
        print(f"reindexed {count:,} commits in {time.perf_counter() - began:.0f} s", flush=True)
        after = catalog_dump(repo)
    if before != after:
        differing = [table for table in before if before[table] != after.get(table)]
        raise SystemExit(f"reindex changed the catalog tables {differing}")
    print("reindex reproduces the catalog", flush=True)


# ---------------------------------------------------------------------- MLflow
def build_mlflow(directory: Path, path: Path) -> Path | None:
    """An MLflow SQLite store holding the same runs, params and metric points as ``path``."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    except ImportError:
        return None
    store_path = directory / f"mlflow-{path.name}.db"
    if store_path.exists():
        return store_path
    print(f"building {store_path}...", flush=True)
    partial = store_path.with_name(store_path.name + ".partial")
    partial.unlink(missing_ok=True)
    _quiet_mlflow()
    SqlAlchemyStore(f"sqlite:///{partial}", str(directory / "mlflow-artifacts"))
    with Repo.open(path) as repo, sqlite3.connect(partial) as mlflow_db:
        source = repo.catalog.conn
        ids = {}
        for name, info in source.execute("SELECT name, info FROM runs"):
            run = json.loads(info)
            ids[name] = run_id = uuid.uuid5(uuid.NAMESPACE_URL, name).hex
            mlflow_db.execute(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name,"
                " user_id, status, start_time, end_time, source_version, lifecycle_stage,"
                " artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    name,
                    "LOCAL",
                    "",
                    "",
                    "bench",
                    run["status"].upper(),
                    int(run["start_time"] * 1000),
                    None if run["end_time"] is None else int(run["end_time"] * 1000),
                    "",
                    "active",
                    f"file:///tmp/{run_id}",
                    0,
                ),
            )
            mlflow_db.execute(
                "INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', ?, ?)",
                (name, run_id),
            )
        mlflow_db.executemany(
            "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
            (
                (key, _mlflow_param(value), ids[run])
                for run, key, value in source.execute("SELECT run, key, value FROM params")
            ),
        )
        for run, key, steps, values, times in source.execute(
            "SELECT run, key, steps, vals, times FROM metric_chunks ORDER BY run, key, seq"
        ):
            mlflow_db.executemany(
                "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                " VALUES (?, ?, ?, ?, ?, 0)",
                _points(key, ids[run], steps, values, times),
            )
        mlflow_db.execute(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
            " SELECT key, value, timestamp, step, is_nan, run_uuid FROM ("
            " SELECT *, row_number() OVER (PARTITION BY run_uuid, key"
            " ORDER BY step DESC, timestamp DESC) AS n FROM metrics) WHERE n = 1"
        )
    os.replace(partial, store_path)
    return store_path


def _mlflow_param(stored: str) -> str:
    value = json.loads(stored)
    return "None" if value is None else str(value)


def _points(
    key: str, run_id: str, steps: bytes, values: bytes, times: bytes
) -> Iterator[tuple[Any, ...]]:
    from array import array

    s, v, t = array("q", steps), array("d", values), array("d", times)
    for step, value, when in zip(s, v, t, strict=True):
        yield key, value, int(when * 1000), run_id, step


def _quiet_mlflow() -> None:
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def mlflow_timings(store: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """(median in-process seconds after a warm-up, seconds of a fresh process) per query."""
    _quiet_mlflow()
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{store}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    history_id = uuid.uuid5(uuid.NAMESPACE_URL, SERIES_RUN).hex
    queries: dict[str, Callable[[], object]] = {
        "runs": lambda: mlflow.search_runs(
            ["0"], max_results=PAGE, order_by=["attributes.start_time DESC"]
        ),
        "runs --where (strings)": lambda: mlflow.search_runs(
            ["0"],
            filter_string=MLFLOW_WHERE_STRINGS,
            max_results=PAGE,
            order_by=["metrics.val_acc DESC"],
        ),
        "metrics": lambda: client.get_metric_history(history_id, SERIES_KEY),
    }
    total = len(mlflow.search_runs(["0"], max_results=50_000))
    print(f"MLflow store: {total:,} runs", flush=True)
    out = {}
    for label, query in queries.items():
        query()
        samples = []
        for _ in range(1 if label == "metrics" else repeat):
            began = time.perf_counter()
            query()
            samples.append(time.perf_counter() - began)
        out[label] = (statistics.median(samples), _mlflow_process(uri, label))
    return out


def _mlflow_process(uri: str, label: str) -> float:
    code = {
        "runs": (
            "mlflow.search_runs(['0'], max_results=20, order_by=['attributes.start_time DESC'])"
        ),
        "runs --where (strings)": (
            f"mlflow.search_runs(['0'], filter_string={MLFLOW_WHERE_STRINGS!r}, max_results=20,"
            " order_by=['metrics.val_acc DESC'])"
        ),
        "metrics": (
            "mlflow.tracking.MlflowClient().get_metric_history("
            f"{uuid.uuid5(uuid.NAMESPACE_URL, SERIES_RUN).hex!r}, {SERIES_KEY!r})"
        ),
    }[label]
    script = (
        "import logging, warnings; warnings.filterwarnings('ignore');"
        "logging.disable(logging.WARNING); import mlflow, mlflow.tracking;"
        f"mlflow.set_tracking_uri({uri!r}); {code}"
    )
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return time.perf_counter() - began


# ---------------------------------------------------------------------- timing
def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


def compile_package() -> None:
    """Byte-compile modelsync's modules, as pip does when it installs the wheel. From a source
    checkout (an editable install) under ``PYTHONDONTWRITEBYTECODE``, every command would
    otherwise compile each module it imports again, about 90 ms of each start-up here."""
    compileall.compile_dir(Path(modelsync.__file__).parent, quiet=1)


def command() -> list[str]:
    script = Path(sys.executable).with_name("modelsync")
    return [str(script)] if script.exists() else [sys.executable, "-m", "modelsync"]


def time_command(args: list[str], repo: Path, repeat: int) -> tuple[float, float, float, int]:
    """(median wall, best wall, median CPU seconds, bytes printed) of ``modelsync ARGS``."""
    env = {**os.environ, "MODELSYNC_NO_PROGRESS": "1", "COLUMNS": "160"}
    full = [*command(), *args, *(["-C", str(repo)] if args != ["--version"] else [])]
    walls, cpus = [], []
    size = 0
    for attempt in range(repeat + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(full, env=env, capture_output=True, check=False)
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(full)} failed: {done.stderr.decode()}")
        size = len(done.stdout)
        if attempt:
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), min(walls), statistics.median(cpus), size


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--params", type=int, default=20)
    parser.add_argument("--steps", type=int, default=34)
    parser.add_argument("--series", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    default_dir = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    parser.add_argument("--dir", type=Path, default=default_dir / "bench-query")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--check", action="store_true", help="verify reindex reproduces it")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = build(args.dir, args)
    if args.check:
        check_reindex(path)
    with Repo.open(path) as repo:
        conn = repo.catalog.conn
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        points = conn.execute("SELECT sum(count) FROM metric_keys").fetchone()[0]
        params = conn.execute("SELECT count(*) FROM params").fetchone()[0]
    print(f"repository: {runs:,} runs, {params:,} params, {points:,} metric points", flush=True)

    cases = {
        "runs": ["runs"],
        "runs --where": ["runs", "--where", WHERE],
        "runs --where (strings)": ["runs", "--where", WHERE_STRINGS, "--sort", "-metrics.val_acc"],
        "log": ["log", HISTORY_RUN],
        "log --oneline": ["log", HISTORY_RUN, "--oneline"],
        "metrics": ["metrics", SERIES_RUN, "--key", SERIES_KEY],
    }
    compile_package()
    startup = time_command(["--version"], path, args.repeat)
    ours = {label: time_command(argv, path, args.repeat) for label, argv in cases.items()}
    peer = {}
    if not args.no_mlflow:
        store = build_mlflow(args.dir, path)
        if store is None:
            print("MLflow is not installed: no peer numbers (pip install mlflow)")
        else:
            peer = mlflow_timings(store, args.repeat)

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:,.0f} ms"

    print("commands (each against the repository above, with -C):")
    print(f"  {'start-up':<24} modelsync --version")
    for label, argv in cases.items():
        print(f"  {label:<24} modelsync {' '.join(argv)}")
    rows = [["start-up", ms(startup[0]), ms(startup[1]), ms(startup[2]), "", "-", "-", "-"]]
    failed = []
    for label, (median, best, cpu, _) in ours.items():
        target = TARGETS.get(label)
        verdict = ""
        if target is not None:
            verdict = f"< {ms(target)} " + ("ok" if median < target else "MISSED")
            if median >= target:
                failed.append(label)
        mlflow_in, mlflow_process = peer.get(label, (None, None))
        rows.append(
            [
                label,
                ms(median),
                ms(best),
                ms(cpu),
                verdict,
                ms(mlflow_in) if mlflow_in is not None else "-",
                ms(mlflow_process) if mlflow_process is not None else "-",
                f"{mlflow_process / median:.1f}x" if mlflow_process is not None else "-",
            ]
        )
    Console(width=140).print(
        _table(
            f"modelsync CLI on {runs:,} runs ({points:,} points): a fresh process each, "
            f"median of {args.repeat}; MLflow search_runs on the same data",
            [
                "case",
                "median",
                "best",
                "CPU",
                "target",
                "MLflow in-process",
                "MLflow process",
                "MLflow process / ours",
            ],
            rows,
        )
    )
    if failed:
        print(f"missed: {', '.join(failed)} (on a loaded machine, compare the CPU column)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
