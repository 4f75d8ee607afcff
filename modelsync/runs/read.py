"""Reading runs back: the API the CLI and the server answer from.

Listings, params and metric series come from the catalog (fast, indexed); the environment and
dataset fingerprints of a run come from its latest commit. A run recorded as ``running`` whose
process is gone (on this host), or whose heartbeat is older than ``stale_after`` seconds (seen
from another host), reads as ``crashed``: it was killed without a chance to say so.
"""

from __future__ import annotations

import difflib
import json
import os
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..catalog.liveness import STALE_AFTER, RunRow, effective_status
from ..catalog.runs import (
    latest_values,
    metric_chunks,
    metric_summaries,
    params_of,
    run_commit_rows,
    run_rows,
)
from ..errors import UnknownRun
from ..model.layout import DATASETS_FILE, ENVIRONMENT_FILE, REQUIREMENTS_FILE, run_ref
from ..model.metadata import (
    DatasetInfo,
    DatasetList,
    Environment,
    MetricPoint,
    MetricSummary,
    ModelInfo,
    RunInfo,
    RunStatus,
)
from ..repo.repository import Repo

RepoLike: TypeAlias = "Repo | str | os.PathLike[str] | None"


@contextmanager
def opened(repo: RepoLike) -> Iterator[Repo]:
    """``repo`` itself, or the repository at that path (closed afterwards)."""
    if isinstance(repo, Repo):
        yield repo
        return
    opened_repo = Repo.open(repo)
    try:
        yield opened_repo
    finally:
        opened_repo.close()


def _with_status(info: RunInfo, stale_after: float) -> RunInfo:
    status: RunStatus = effective_status(info, stale_after=stale_after)
    return info if status == info.status else info.model_copy(update={"status": status})


def list_runs(
    repo: RepoLike = None,
    *,
    status: RunStatus | None = None,
    parent: str | None = None,
    stale_after: float = STALE_AFTER,
) -> list[RunInfo]:
    """Every run, newest first, with its latest metric values; filtered by status or parent."""
    with opened(repo) as r:
        conn = r.catalog.conn
        rows = run_rows(conn, parent=parent)
        latest = latest_values(conn, [row["name"] for row in rows])
        runs = [
            _with_status(RunRow.from_row(row, latest[row["name"]]).to_info(), stale_after)
            for row in rows
        ]
    return [run for run in runs if status is None or run.status == status]


def get_run(repo: RepoLike, name: str, *, stale_after: float = STALE_AFTER) -> RunInfo:
    with opened(repo) as r:
        conn = r.catalog.conn
        rows = run_rows(conn, names=[name])
        if not rows:
            raise UnknownRun(name, _suggest(r, name))
        info = RunRow.from_row(rows[0], latest_values(conn, [name])[name]).to_info()
    return _with_status(info, stale_after)


def _suggest(repo: Repo, name: str) -> list[str]:
    known = [row["name"] for row in run_rows(repo.catalog.conn)]
    return difflib.get_close_matches(name, known, n=3, cutoff=0.6)


def _require_run(repo: Repo, name: str) -> None:
    if not run_rows(repo.catalog.conn, names=[name]):
        raise UnknownRun(name, _suggest(repo, name))


def get_params(repo: RepoLike, name: str) -> dict[str, Any]:
    """The run's flattened params (dotted keys)."""
    with opened(repo) as r:
        _require_run(r, name)
        return params_of(r.catalog.conn, name)


def get_metric_summaries(repo: RepoLike, name: str) -> dict[str, MetricSummary]:
    """Per metric key: count, last step/value/time, min and max (NaN ignored)."""
    with opened(repo) as r:
        _require_run(r, name)
        return metric_summaries(r.catalog.conn, name)


@dataclass(frozen=True)
class MetricColumns:
    """A metric series as three columns, in the order it was logged."""

    key: str
    steps: array[int]
    values: array[float]
    times: array[float]

    def __len__(self) -> int:
        return len(self.steps)


def metric_columns(repo: RepoLike, name: str, key: str) -> MetricColumns:
    """The whole series of ``key`` as columns (fast, for plots and large series)."""
    with opened(repo) as r:
        _require_run(r, name)
        chunks = metric_chunks(r.catalog.conn, name, key)
    steps: array[int] = array("q")
    values: array[float] = array("d")
    times: array[float] = array("d")
    for chunk in chunks:
        steps.extend(chunk.step_column())
        values.extend(chunk.value_column())
        times.extend(chunk.time_column())
    return MetricColumns(key, steps, values, times)


def metric_series(repo: RepoLike, name: str, key: str) -> list[MetricPoint]:
    """The series of ``key`` as points, in the order they were logged (empty if never logged)."""
    columns = metric_columns(repo, name, key)
    return [
        MetricPoint.model_construct(key=key, step=step, value=value, time=when)
        for step, value, when in zip(columns.steps, columns.values, columns.times, strict=True)
    ]


def list_checkpoints(repo: RepoLike, name: str) -> list[ModelInfo]:
    """The run's commits that snapshot a model, oldest first."""
    with opened(repo) as r:
        _require_run(r, name)
        rows = run_commit_rows(r.catalog.conn, name)
    models = []
    for row in rows:
        meta = json.loads(row["meta"])
        if meta.get("kind") != "checkpoint" or not meta.get("checkpoint"):
            continue
        models.append(
            ModelInfo(
                run=name,
                commit=row["id"],
                checkpoint=meta["checkpoint"],
                step=row["step"],
                epoch=row["epoch"],
                time=row["time"],
                metrics=meta.get("metrics") or {},
            )
        )
    return models


def _head_file(repo: Repo, name: str, filename: str) -> bytes | None:
    head = repo.refs.resolve(run_ref(name))
    if head is None:
        raise UnknownRun(name, _suggest(repo, name))
    entry = repo.read_tree(repo.read_commit(head).tree).entries.get(filename)
    return None if entry is None else repo.store.get(entry.oid)


def get_environment(repo: RepoLike, name: str) -> Environment | None:
    """The environment the run's latest commit recorded (None if it recorded none)."""
    with opened(repo) as r:
        data = _head_file(r, name, ENVIRONMENT_FILE)
    return None if data is None else Environment.from_stored(data)


def get_requirements(repo: RepoLike, name: str) -> str | None:
    """The run's ``pip freeze``-like list of installed packages."""
    with opened(repo) as r:
        data = _head_file(r, name, REQUIREMENTS_FILE)
    return None if data is None else data.decode("utf-8")


def get_datasets(repo: RepoLike, name: str) -> dict[str, DatasetInfo]:
    """The fingerprints of the run's inputs, by name."""
    with opened(repo) as r:
        data = _head_file(r, name, DATASETS_FILE)
    return {} if data is None else DatasetList.from_stored(data).datasets
