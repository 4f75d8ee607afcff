"""The web server's two hot paths, measured through HTTP on loopback against a real
``modelsync serve``:

    python benchmarks/bench_server.py [--runs 10000] [--points 1000000] [--dir /tmp/bench-server]

- the runs table's first page (50 runs, default sort; then filtered and sorted by a metric)
  out of ``--runs`` runs: target under 200 ms;
- one metric of ``--points`` points, downsampled on the server to about 2,000 points:
  target under 150 ms.

Each is compared, in the same run, with its peer: the page against reading every run through
``modelsync.runs.read.list_runs`` in-process, the downsampled series against the full series over
HTTP. Prints the median of 20 requests after 2 warm-ups (and the first, cold, request); exits
1 if a target is missed.

The repository is built once and reused from ``--dir``: one real tracked run logs the long
series through ``start_run``/``log_metrics``; the other runs are written as the run commits
tracking makes (run.json, params.json, metrics.seg of 3 metrics x 100 steps, one commit each,
indexed into the catalog by ``Repo.commit_tree``), which is 50 times faster than starting
10,000 runs one by one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _common import print_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from api.serving import Server

from modelsync import Repo
from modelsync.model.layout import PARAMS_FILE, RUN_FILE, SEGMENT_FILE, run_ref
from modelsync.model.metadata import Params, RunInfo
from modelsync.model.objects import FILE_MODE, TreeEntry
from modelsync.model.segment import encode_segment
from modelsync.runs import read as runs
from modelsync.runs.buffer import MetricBuffer
from modelsync.runs.environment import CAPTURE_ITEMS

TOKEN = "bench-server-token-0123456789"
LONG_RUN = "long-series"
PAGE_TARGET_S = 0.200
SERIES_TARGET_S = 0.150
REPEATS = 20
WARMUPS = 2
BATCH = 500
OPTIMIZERS = ("adam", "sgd", "adamw", "lion")


def _synthetic_run_files(index: int, start: float) -> tuple[dict[str, bytes], dict[str, float]]:
    name = f"run-{index:05d}"
    info = RunInfo(
        name=name, status="finished", start_time=start, end_time=start + 60 + index % 600
    )
    params = {
        "lr": 10 ** -(1 + index % 4),
        "batch_size": 2 ** (4 + index % 4),
        "optimizer.name": OPTIMIZERS[index % len(OPTIMIZERS)],
        "seed": index,
        "model.layers": 2 + index % 6,
    }
    buffer = MetricBuffer()
    for step in range(100):
        loss = (1 + index % 17) / (step + 1)
        buffer.add({"loss": loss, "val_loss": loss * 1.1, "acc": step / 100}, step, start + step)
    block = buffer.take(0)
    assert block is not None
    files = {
        RUN_FILE: info.to_stored(),
        PARAMS_FILE: Params(params=params).to_stored(),
        SEGMENT_FILE: encode_segment(0, [block]),
    }
    latest = {"loss": (1 + index % 17) / 100, "val_loss": 1.1 * (1 + index % 17) / 100, "acc": 0.99}
    return files, latest


def _write_synthetic_runs(repo: Repo, count: int) -> None:
    start = time.time() - count * 60
    for first in range(0, count, BATCH):
        trees = []
        with repo.store.batch() as batch:
            for index in range(first, min(count, first + BATCH)):
                files, latest = _synthetic_run_files(index, start + index * 60)
                entries = {
                    path: TreeEntry("blob", batch.put(data), len(data), FILE_MODE)
                    for path, data in files.items()
                }
                trees.append((index, repo.write_tree(entries, writer=batch), latest))
        for index, tree, latest in trees:
            name = f"run-{index:05d}"
            meta = {"run": name, "kind": "finish", "status": "finished", "step": 99, "epoch": None}
            repo.commit_tree(
                tree,
                f"finished run {name}",
                ref=run_ref(name),
                meta={**meta, "metrics": latest},
                timestamp=start + index * 60 + 60,
                create=True,
            )
        print(f"  {min(count, first + BATCH):,} runs written", flush=True)


def _log_long_series(repo: Repo, points: int) -> None:
    import modelsync

    run = modelsync.start_run(
        LONG_RUN, repo=repo, params={"lr": 3e-4}, capture_exclude=CAPTURE_ITEMS
    )
    for step in range(points):
        run.log_metrics({"train/loss": 1.0 / (1 + step * 1e-3) + (step % 997) * 1e-5}, step=step)
    run.finish()


def build(directory: Path, count: int, points: int) -> Path:
    """The benchmark repository at ``directory/repo``, built unless it is already there."""
    path = directory / f"repo-{count}-{points}"
    if (path / ".modelsync").is_dir():
        return path
    print(f"building {path} ({count:,} runs, one of {points:,} points)...", flush=True)
    building = path.with_name(path.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)
    repo = Repo.init(building)
    began = time.perf_counter()
    _log_long_series(repo, points)
    _write_synthetic_runs(repo, count - 1)
    repo.close()
    os.replace(building, path)
    print(f"built in {time.perf_counter() - began:.0f} s", flush=True)
    return path


def measure(call: Callable[[], object]) -> tuple[float, float]:
    """(first call, median of the next REPEATS after WARMUPS) in seconds."""
    began = time.perf_counter()
    call()
    first = time.perf_counter() - began
    for _ in range(WARMUPS):
        call()
    samples = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return first, statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "bench-server")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = build(args.dir, args.runs, args.points)

    with Repo.open(path) as repo:
        in_process, _ = measure(lambda: runs.list_runs(repo))
        assert len(runs.list_runs(repo)) == args.runs

    server = Server(path, "--token", TOKEN)
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:

            def get(url: str, **params: object) -> httpx.Response:
                response = http.get(url, params=params)  # type: ignore[arg-type]
                response.raise_for_status()
                return response

            page = get("/runs").json()
            assert page["total"] == args.runs and len(page["runs"]) == 50
            page_cold, page_s = measure(lambda: get("/runs"))
            where = "params.lr < 0.005 and metrics.val_loss < 0.1"
            filtered_cold, filtered_s = measure(
                lambda: get("/runs", where=where, sort="-metrics.acc")
            )
            series = get("/metrics", run=LONG_RUN, key="train/loss").json()
            assert series["count"] == args.points and len(series["steps"]) <= 2000
            series_cold, series_s = measure(lambda: get("/metrics", run=LONG_RUN, key="train/loss"))
            _, full_s = measure(lambda: get("/metrics", run=LONG_RUN, key="train/loss", full=True))
    finally:
        server.stop()

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:,.0f} ms"

    print_table(
        f"modelsync serve, {args.runs:,} runs, HTTP on loopback, median of {REPEATS}",
        ["request", "median", "first", "peer (same run)", "ratio", "target"],
        [
            [
                "GET /runs, page 1",
                ms(page_s),
                ms(page_cold),
                f"list_runs {ms(in_process)}",
                f"{in_process / page_s:.1f}x",
                f"< {ms(PAGE_TARGET_S)}",
            ],
            [
                "GET /runs, where+sort",
                ms(filtered_s),
                ms(filtered_cold),
                "",
                "",
                f"< {ms(PAGE_TARGET_S)}",
            ],
            [
                f"GET /metrics, {args.points:,} -> {len(series['steps']):,}",
                ms(series_s),
                ms(series_cold),
                f"full {ms(full_s)}",
                f"{full_s / series_s:.1f}x",
                f"< {ms(SERIES_TARGET_S)}",
            ],
        ],
    )
    missed = [
        name
        for name, seconds, target in (
            ("runs page", page_s, PAGE_TARGET_S),
            ("filtered runs page", filtered_s, PAGE_TARGET_S),
            ("downsampled series", series_s, SERIES_TARGET_S),
        )
        if seconds >= target
    ]
    print("all targets met" if not missed else f"targets missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
