"""Metric points in the SQLite catalog: written live in batches, rebuilt identically by reindex."""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import modelsync
from modelsync.catalog.db import Catalog
from modelsync.errors import CatalogWarning, TrackingError, TrackingWarning
from modelsync.model.segment import decode_segment
from modelsync.repo.repository import Repo
from modelsync.runs import read as runs
from modelsync.runs.writer import MetricWriter

TABLES = {
    "runs": "name",
    "params": "run, key",
    "metric_chunks": "run, key, seq",
    "metric_keys": "run, key",
    "commits": "id",
}


def _rows(repo: Repo) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: [tuple(row) for row in repo.catalog.query(f"SELECT * FROM {table} ORDER BY {order}")]
        for table, order in TABLES.items()
    }


def _answers(repo: Repo) -> list[str]:
    out = []
    for info in runs.list_runs(repo):
        out.append(info.model_dump_json())
        out.append(repr(sorted(runs.get_params(repo, info.name).items())))
        for key, summary in runs.get_metric_summaries(repo, info.name).items():
            out.append(summary.model_dump_json())
            out += [p.model_dump_json() for p in runs.metric_series(repo, info.name, key)]
    return out


def _populate(repo: Repo) -> None:
    with modelsync.start_run("a", repo=repo, params={"opt": {"lr": 0.1}}, tags=["x"]) as run:
        for step in range(500):
            run.log_metrics({"loss": 1.0 / (step + 1), "acc": math.nan if step % 7 else step})
            if step == 250:
                run.flush()
                run._commit("snapshot", "halfway")
        run.log_params({"epochs": 2})
        run.tag("best")
    with modelsync.start_run(repo=repo, resume="a") as run:
        run.log_metrics({"loss": -math.inf})
    with pytest.raises(RuntimeError), modelsync.start_run("b", repo=repo) as run:
        run.log_metrics({"loss": 2.0}, step=5)
        raise RuntimeError("stop")
    with modelsync.start_run("c", repo=repo, parent="a"):
        pass


def test_reindex_rebuilds_runs_params_and_metrics_identically(repo: Repo) -> None:
    _populate(repo)
    rows, answers = _rows(repo), _answers(repo)
    assert len(rows["runs"]) == 3 and len(rows["metric_chunks"]) > 4
    repo.reindex()
    assert _rows(repo) == rows
    assert _answers(repo) == answers


def test_an_emptied_catalog_is_rebuilt_from_commits_alone(repo: Repo, tmp_path: Path) -> None:
    _populate(repo)
    answers = _answers(repo)
    repo.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(repo.control_dir / "index.db") + suffix).unlink(missing_ok=True)
    fresh = Repo.open(repo.work_tree)
    with pytest.warns(CatalogWarning, match="rebuilding the catalog"):
        assert _answers(fresh) == answers
    fresh.reindex()
    assert _answers(fresh) == answers
    fresh.close()


def test_points_flushed_live_are_counted_once_after_their_commit(repo: Repo) -> None:
    run = modelsync.start_run("once", repo=repo)
    for step in range(10):
        run.log_metrics({"x": float(step)})
        if step % 3 == 0:
            run.flush()
    run.finish()
    assert runs.get_metric_summaries(repo, "once")["x"].count == 10
    chunks = repo.catalog.query(
        "SELECT seq, count FROM metric_chunks WHERE run='once' ORDER BY seq"
    )
    assert [(r["seq"], r["count"]) for r in chunks] == [(0, 1), (1, 3), (4, 3), (7, 3)]


def test_the_writer_flushes_in_the_background(repo: Repo) -> None:
    run = modelsync.start_run("background", repo=repo)
    run._writer._interval = 0.01
    run._writer._wake.set()
    run.log_metrics({"x": 1.0})
    deadline = time.monotonic() + 10
    while not runs.metric_series(repo, "background", "x") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [p.value for p in runs.metric_series(repo, "background", "x")] == [1.0]
    run.finish()


def test_the_buffer_is_bounded_when_the_writer_falls_behind(repo: Repo) -> None:
    writer = MetricWriter(repo.catalog, "bounded", flush_points=40, max_points=100)
    for _ in range(1000):
        writer.log({"a": 1.0, "b": 2.0}, None)
        assert writer._buffer.count < 100
    segment, blocks = writer.pending_segment()
    assert decode_segment(segment).count == 2000 and blocks >= 10
    assert writer.error is None


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads as often as the interpreter allows, to expose unsafe interleavings."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_threads_logging_while_the_writer_flushes_lose_no_point_and_keep_step_order(
    repo: Repo,
) -> None:
    writer = MetricWriter(repo.catalog, "threads", interval=0.001, flush_points=100, max_points=300)
    writer.start()
    calls = 3_000

    def train(thread: int) -> None:
        for i in range(calls):
            writer.log({"x": float(thread * calls + i)}, None)
            if i % 3 == 0:
                writer.log({"y": 1.0, "z": 2.0}, None)

    workers = [threading.Thread(target=train, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    writer.stop()
    segment = decode_segment(writer.pending_segment()[0])
    assert len(segment.blocks) > 4 and writer.error is None
    points: dict[str, list[tuple[int, float]]] = {"x": [], "y": [], "z": []}
    for chunk in segment.chunks():
        points[chunk.key] += zip(chunk.step_column(), chunk.value_column(), strict=True)
    assert sorted(value for _, value in points["x"]) == [float(n) for n in range(4 * calls)]
    steps = {key: [step for step, _ in points[key]] for key in points}
    assert sorted(steps["x"] + steps["y"]) == list(range(4 * (calls + 1_000)))
    assert all(column == sorted(column) for column in steps.values())  # logged in step order
    assert steps["y"] == steps["z"] and writer.last_step == 4 * (calls + 1_000) - 1


def test_a_failing_catalog_loses_no_point_and_the_commit_indexes_them(
    repo: Repo, tmp_path: Path
) -> None:
    run = modelsync.start_run("kept", repo=repo)
    working = run._writer.catalog
    (tmp_path / "not-a-db").mkdir()
    run._writer.catalog = Catalog(tmp_path / "not-a-db")
    run.log_metrics({"x": 1.0})
    with pytest.raises(TrackingError, match="could not be indexed"):
        run.flush()
    run.log_metrics({"x": 2.0})
    run._writer.catalog = working
    run.finish()
    assert [p.value for p in runs.metric_series(repo, "kept", "x")] == [1.0, 2.0]


def test_without_strict_a_failing_catalog_warns_and_marks_the_run(
    repo: Repo, tmp_path: Path
) -> None:
    run = modelsync.start_run("marked", repo=repo, strict=False)
    working = run._writer.catalog
    (tmp_path / "not-a-db").mkdir()
    run._writer.catalog = Catalog(tmp_path / "not-a-db")
    run.log_metrics({"x": 1.0})
    run._writer.flush()  # as the background thread does
    with pytest.warns(TrackingWarning, match="kept for the next commit"):
        run.log_metrics({"x": 2.0})
    run._writer.flush()
    run.log_metrics({"x": 3.0})  # reported once per run, not at every flush
    run._writer.catalog = working
    run.finish()
    assert [p.value for p in runs.metric_series(repo, "marked", "x")] == [1.0, 2.0, 3.0]
    assert len(runs.get_run(repo, "marked").problems) == 1


def test_the_heartbeat_moves_forward(repo: Repo) -> None:
    run = modelsync.start_run("beating", repo=repo)
    before = runs.get_run(repo, "beating").heartbeat
    assert before is not None
    time.sleep(0.01)
    run._writer.beat()
    after = runs.get_run(repo, "beating").heartbeat
    assert after is not None and after > before
    run.finish()


def test_a_commit_whose_indexing_fails_still_counts_and_its_points_are_not_repeated(
    repo: Repo, tmp_path: Path
) -> None:
    run = modelsync.start_run("indexed-later", repo=repo)
    working = repo.catalog
    run.log_metrics({"x": 1.0})
    run.flush()
    (tmp_path / "not-a-db").mkdir()
    repo.catalog = Catalog(tmp_path / "not-a-db")
    with pytest.warns(CatalogWarning, match="is made, but the catalog could not index it"):
        made = run._commit("snapshot", "made, not indexed")
    repo.catalog = working
    assert run.head == made == repo.refs.resolve("refs/heads/runs/indexed-later")
    run.log_metrics({"x": 2.0})
    run.finish()
    assert [p.value for p in runs.metric_series(repo, "indexed-later", "x")] == [1.0, 2.0]
    assert [c.meta["kind"] for _, c in repo.log("runs/indexed-later")] == [
        "status",
        "snapshot",
        "start",
    ]
