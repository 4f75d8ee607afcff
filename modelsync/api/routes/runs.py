"""Runs: the table (filter, sort, pages), one run in full, metric series, and comparisons."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from ...catalog.runs import run_commit_rows
from ...catalog.table import page_of_runs
from ...model.layout import LABEL_REFS, label_refs
from ...repo.repository import Repo
from ...runs import read as runs
from ...runs.compare import compare_runs
from ...runs.names import check_run_name
from ...runs.series import Series, json_values, minmax_downsample
from ..deps import RepoDep
from ..schemas.numbers import json_safe
from ..schemas.runs import (
    CompareOut,
    MetricRowOut,
    MetricSummaryOut,
    RunCommitOut,
    RunDetailOut,
    RunListOut,
    RunOut,
    RunRowOut,
    SeriesOut,
    ValueRowOut,
)
from ..security import require_read
from .responses import READ_ERRORS

router = APIRouter(tags=["runs"], dependencies=[Depends(require_read)], responses=READ_ERRORS)

Status = Literal["running", "finished", "failed", "interrupted", "crashed"]
RunName = Annotated[str, Query(min_length=1, max_length=256, description="a run name")]
MAX_COMPARED = 20
DEFAULT_POINTS = 2000


@router.get("/runs")
def list_runs(
    repo: RepoDep,
    where: Annotated[
        str | None,
        Query(
            max_length=2000, description="filter, e.g. `metrics.loss < 0.3 and params.lr >= 1e-3`"
        ),
    ] = None,
    sort: Annotated[
        str, Query(min_length=1, max_length=300, description="sort key, `-` for descending")
    ] = "-started",
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RunListOut:
    """Runs as `modelsync runs` lists them: filtered, sorted, a page at a time."""
    page = page_of_runs(
        repo.catalog.conn, where=where, sort=sort, status=status, limit=limit, offset=offset
    )
    rows = [
        RunRowOut(
            name=run.name,
            status=run.status,
            parent=run.parent,
            tags=list(run.tags),
            start_time=run.start_time,
            end_time=run.end_time,
            duration=run.duration,
            head=run.head,
            params={
                k: json_safe(v)
                for k, v in page.params[run.name].items()
                if k in page.differing_params
            },
            metrics=json_safe(run.metrics),
            best={key: json_safe(cell.best) for key, cell in page.metrics[run.name].items()},
            commits=page.commits[run.name],
        )
        for run in page.runs
    ]
    return RunListOut(
        total=page.total,
        offset=offset,
        limit=limit,
        runs=rows,
        differing_params=page.differing_params,
        metric_keys=page.metric_keys,
    )


def _labels(repo: Repo, name: str) -> dict[str, str]:
    """The run's commit labels: the tags ``runs/<name>@<label>``."""
    prefix = label_refs(name)
    labels = {}
    for full in repo.refs.keys(LABEL_REFS):
        if full.startswith(prefix):
            oid = repo.refs.resolve(full)
            if oid is not None:
                labels[full.removeprefix(prefix)] = repo.peel(oid)
    return labels


def _commits(repo: Repo, name: str) -> list[RunCommitOut]:
    out = []
    for row in run_commit_rows(repo.catalog.conn, name):
        meta = json.loads(row["meta"])
        out.append(
            RunCommitOut(
                id=row["id"],
                time=row["time"],
                step=row["step"],
                epoch=row["epoch"],
                message=repo.read_commit(row["id"]).summary,
                kind=meta.get("kind"),
                metrics=json_safe(meta.get("metrics") or {}),
            )
        )
    return out


@router.get("/runs/{name:path}")
def get_run(name: str, repo: RepoDep) -> RunDetailOut:
    """One run: status, params, metric summaries, environment, code version (git), datasets,
    its commits and labels."""
    info = runs.get_run(repo, check_run_name(name))
    environment = runs.get_environment(repo, name)
    datasets = runs.get_datasets(repo, name)
    return RunDetailOut(
        info=RunOut.of(info),
        params=json_safe(runs.get_params(repo, name)),
        metrics=[MetricSummaryOut.of(s) for s in runs.get_metric_summaries(repo, name).values()],
        environment=json_safe(environment.model_dump()) if environment is not None else None,
        datasets=[{"name": key, **json_safe(d.model_dump())} for key, d in datasets.items()],
        commits=_commits(repo, name),
        labels=_labels(repo, name),
    )


@router.get("/metrics")
def metric_series(
    repo: RepoDep,
    run: RunName,
    key: Annotated[str, Query(min_length=1, max_length=250, description="the metric key")],
    points: Annotated[
        int, Query(ge=10, le=100_000, description="downsample to at most this many points")
    ] = DEFAULT_POINTS,
    full: Annotated[bool, Query(description="every point, never downsampled")] = False,
    step_min: Annotated[int | None, Query(description="first step of the range")] = None,
    step_max: Annotated[int | None, Query(description="last step of the range")] = None,
) -> SeriesOut:
    """A metric's series, in logging order, downsampled on the server (min and max of each
    bucket, so spikes survive) unless `full`; `step_min`/`step_max` select a zoomed range."""
    runs.get_run(repo, check_run_name(run))
    series = Series.load(repo.catalog.conn, run, key).between(step_min, step_max)
    shown = series if full else minmax_downsample(series, points)
    return SeriesOut(
        run=run,
        key=key,
        count=len(series),
        downsampled=len(shown) < len(series),
        steps=shown.steps.tolist(),
        values=json_values(shown.values),
    )


@router.get("/compare")
def compare(
    repo: RepoDep,
    run: Annotated[
        list[str], Query(min_length=1, max_length=MAX_COMPARED, description="runs to compare")
    ],
) -> CompareOut:
    """Runs side by side, as `modelsync compare`: params, the latest and best value of every
    metric, and the installed packages whose versions differ; each row says if the runs differ."""
    comparison = compare_runs(repo, [check_run_name(name) for name in run])
    return CompareOut(
        runs=[RunOut.of(info) for info in comparison.runs],
        params=[ValueRowOut.of(row) for row in comparison.params],
        metrics=[MetricRowOut.of(row) for row in comparison.metrics],
        packages=[ValueRowOut.of(row) for row in comparison.packages],
        metric_keys=comparison.metric_keys,
    )
