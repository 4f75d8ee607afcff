"""Response bodies of the run, metric and compare endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ...model.metadata import MetricSummary, RunInfo
from ...runs.compare import MetricRow, ValueRow
from .numbers import JSONNumber, json_safe


class RunOut(BaseModel):
    name: str
    status: str = Field(description="running, finished, failed, interrupted, or crashed")
    parent: str | None
    tags: list[str]
    start_time: float
    end_time: float | None
    duration: float | None
    head: str | None
    heartbeat: float | None
    error: str | None = None
    problems: list[str] = Field(default_factory=list)
    entrypoint: str | None = None
    hostname: str | None = None
    pid: int | None = None
    metrics: dict[str, JSONNumber] = Field(description="latest value per metric key")

    @classmethod
    def of(cls, info: RunInfo) -> RunOut:
        return cls(
            name=info.name,
            status=info.status,
            parent=info.parent,
            tags=list(info.tags),
            start_time=info.start_time,
            end_time=info.end_time,
            duration=info.duration,
            head=info.head,
            heartbeat=info.heartbeat,
            error=info.error,
            problems=list(info.problems),
            entrypoint=info.entrypoint,
            hostname=info.hostname,
            pid=info.pid,
            metrics=json_safe(info.metrics),
        )


class RunRowOut(BaseModel):
    """One row of the runs table: the run, and its params that differ within the page."""

    name: str
    status: str
    parent: str | None
    tags: list[str]
    start_time: float
    end_time: float | None
    duration: float | None
    head: str | None
    params: dict[str, Any]
    metrics: dict[str, JSONNumber] = Field(description="latest value per metric key")
    best: dict[str, JSONNumber | None] = Field(
        description="best value of each of the page's metric columns (min for losses, else max)"
    )
    commits: int


class RunListOut(BaseModel):
    total: int = Field(description="runs matching the filter, over all pages")
    offset: int
    limit: int
    runs: list[RunRowOut]
    differing_params: list[str] = Field(description="param keys whose values differ on this page")
    metric_keys: list[str] = Field(description="the metrics most runs of this page logged")


class MetricSummaryOut(BaseModel):
    key: str
    count: int
    last_step: int
    last_value: JSONNumber
    last_time: float
    min: JSONNumber | None
    max: JSONNumber | None

    @classmethod
    def of(cls, summary: MetricSummary) -> MetricSummaryOut:
        return cls(**json_safe(summary.model_dump()))


class RunCommitOut(BaseModel):
    id: str
    time: float
    step: int | None
    epoch: int | None
    message: str
    kind: str | None
    metrics: dict[str, JSONNumber]


class RunDetailOut(BaseModel):
    info: RunOut
    params: dict[str, Any]
    metrics: list[MetricSummaryOut]
    environment: dict[str, Any] | None = Field(description="python, platform, packages, git, cuda")
    datasets: list[dict[str, Any]]
    commits: list[RunCommitOut] = Field(description="the run's commits, oldest first")
    labels: dict[str, str] = Field(description="label (best, last, ...) to commit id")


class SeriesOut(BaseModel):
    run: str
    key: str
    count: int = Field(description="points in the requested step range before downsampling")
    downsampled: bool
    steps: list[int]
    values: list[float | None] = Field(description="null where the value is NaN or infinite")


class ValueRowOut(BaseModel):
    key: str
    values: list[Any] = Field(description="one value per compared run, in order (null: absent)")
    differs: bool

    @classmethod
    def of(cls, row: ValueRow) -> ValueRowOut:
        return cls(key=row.key, values=json_safe(row.values), differs=row.differs)


class MetricRowOut(BaseModel):
    key: str
    goal: str = Field(description="min (lower is better, as for losses) or max")
    last: list[JSONNumber | None] = Field(description="latest value per run (null: not logged)")
    best: list[JSONNumber | None] = Field(description="best value per run")
    differs: bool

    @classmethod
    def of(cls, row: MetricRow) -> MetricRowOut:
        return cls(
            key=row.key,
            goal=row.goal,
            last=json_safe(row.last),
            best=json_safe(row.best),
            differs=row.differs,
        )


class CompareOut(BaseModel):
    runs: list[RunOut]
    params: list[ValueRowOut]
    metrics: list[MetricRowOut]
    packages: list[ValueRowOut] = Field(description="installed packages whose versions differ")
    metric_keys: list[str] = Field(description="every metric key any of the runs logged")

