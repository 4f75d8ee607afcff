"""What ModelSync stores and shows about runs, as pydantic models with a schema version.

Each stored JSON file of a run commit is one of these models (``run.json`` is a RunInfo,
``params.json`` a Params, ``environment.json`` an Environment, ``datasets.json`` a DatasetList);
the read API answers with them, and ``modelsync schema`` prints their JSON schemas. Floats keep
NaN and infinities: stored JSON writes them as the constants Python's ``json`` reads back, and
``model_dump_json`` shows them as the strings "NaN", "Infinity" and "-Infinity".
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal, Self, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from .objects import canonical_json

SCHEMA_VERSION = 1

RunStatus: TypeAlias = Literal["running", "finished", "failed", "interrupted", "crashed"]
FINAL_STATUSES: tuple[RunStatus, ...] = ("finished", "failed", "interrupted")
ParamValue: TypeAlias = Any


class StoredModel(BaseModel):
    """A model written into a commit as canonical JSON, read back with ``from_stored``."""

    model_config = ConfigDict(extra="ignore", ser_json_inf_nan="strings", defer_build=True)

    schema_version: int = SCHEMA_VERSION

    def to_stored(self, *, exclude: set[str] | None = None) -> bytes:
        return canonical_json(self.model_dump(mode="python", exclude=exclude))

    @classmethod
    def from_stored(cls, data: bytes) -> Self:
        """Parse stored bytes; raises ValueError with the first problem when they do not fit."""
        try:
            return cls.model_validate(json.loads(data))
        except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
            raise ValueError(f"not a valid {cls.__name__}: {exc}") from exc


class RunInfo(StoredModel):
    """A run: the branch ``runs/<name>`` and what happened to it (``run.json``).

    ``head``, ``heartbeat`` and ``metrics`` come from the catalog when the run is read back; they
    are not part of ``run.json``.
    """

    name: str
    status: RunStatus = "running"
    parent: str | None = Field(default=None, description="the run this one was started inside")
    tags: list[str] = Field(default_factory=list, description="labels given to the run")
    start_time: float = Field(description="seconds since the epoch")
    end_time: float | None = None
    error: str | None = Field(default=None, description="the traceback of a failed run")
    problems: list[str] = Field(
        default_factory=list, description="tracking problems reported while the run went on"
    )
    entrypoint: str | None = Field(default=None, description="module.function of a @track run")
    pid: int | None = None
    hostname: str | None = None
    head: str | None = Field(default=None, description="the run branch's latest commit")
    heartbeat: float | None = Field(default=None, description="last sign of life of the writer")
    metrics: dict[str, float] = Field(default_factory=dict, description="latest value per key")

    CATALOG_FIELDS: ClassVar[frozenset[str]] = frozenset({"head", "heartbeat", "metrics"})

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration(self) -> float | None:
        """Seconds from start to end; None while the run has not ended."""
        return None if self.end_time is None else self.end_time - self.start_time

    def to_stored(self, *, exclude: set[str] | None = None) -> bytes:
        return super().to_stored(exclude={"duration", *self.CATALOG_FIELDS, *(exclude or ())})


class Params(StoredModel):
    """Hyperparameters, flattened: nested dicts become dotted keys (``optimizer.lr``)."""

    params: dict[str, ParamValue] = Field(default_factory=dict)


class MetricPoint(BaseModel):
    """One logged value of one metric."""

    model_config = ConfigDict(ser_json_inf_nan="strings", defer_build=True)

    key: str
    step: int
    value: float
    time: float = Field(description="wall time it was logged, seconds since the epoch")


class MetricSummary(BaseModel):
    """What the catalog keeps per metric of a run, for listings and comparisons."""

    model_config = ConfigDict(ser_json_inf_nan="strings", defer_build=True)

    key: str
    count: int
    last_step: int
    last_value: float
    last_time: float
    min: float | None = Field(default=None, description="smallest value, NaN ignored")
    max: float | None = Field(default=None, description="largest value, NaN ignored")


class GitInfo(BaseModel):
    """The user's code version, when it lives in a git repository."""

    root: str
    commit: str | None = None
    branch: str | None = None
    dirty: bool = False
    remote: str | None = None
    diff: str | None = Field(default=None, description="uncommitted changes (git diff HEAD)")
    diff_truncated: bool = False
    untracked: list[str] = Field(default_factory=list)


class GpuInfo(BaseModel):
    name: str
    memory_mib: int | None = None


class CudaInfo(BaseModel):
    cuda_version: str | None = None
    driver_version: str | None = None
    cudnn_version: str | None = None
    gpus: list[GpuInfo] = Field(default_factory=list)


class Environment(StoredModel):
    """Where and how a run ran (``environment.json``); items opted out of are None."""

    python_version: str | None = None
    python_executable: str | None = None
    platform: str | None = None
    hostname: str | None = None
    command: list[str] | None = None
    cwd: str | None = None
    packages: dict[str, str] | None = Field(
        default=None, description="versions of the packages that matter for training"
    )
    cuda: CudaInfo | None = None
    git: GitInfo | None = None
    seeds: dict[str, int] | None = None
    captured: list[str] = Field(default_factory=list, description="the items captured")


class DatasetInfo(BaseModel):
    """A fingerprint of a run input: content hash, shape, dtypes, columns."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    name: str
    kind: Literal["numpy", "pandas", "sparse", "torch", "file", "directory"]
    digest: str = Field(description="sha256 of the content (for files: the object id)")
    shape: list[int] | None = None
    dtype: str | None = None
    dtypes: dict[str, str] | None = Field(default=None, description="per column, for frames")
    columns: list[str] | None = None
    nbytes: int | None = None
    path: str | None = None
    files: int | None = Field(default=None, description="number of files, for directories")


class DatasetList(StoredModel):
    """The inputs of a run (``datasets.json``), by name."""

    datasets: dict[str, DatasetInfo] = Field(default_factory=dict)


class ModelInfo(BaseModel):
    """A snapshot of a model within a run: a commit with a ``checkpoint`` entry."""

    model_config = ConfigDict(ser_json_inf_nan="strings", defer_build=True)

    run: str
    commit: str
    checkpoint: str = Field(description="object id of the tensor manifest")
    step: int | None = None
    epoch: int | None = None
    time: float
    metrics: dict[str, float] = Field(default_factory=dict)


SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "RunInfo": RunInfo,
    "Params": Params,
    "MetricPoint": MetricPoint,
    "MetricSummary": MetricSummary,
    "Environment": Environment,
    "DatasetInfo": DatasetInfo,
    "DatasetList": DatasetList,
    "ModelInfo": ModelInfo,
}


def json_schemas() -> dict[str, Any]:
    """Every model's JSON schema, under the schema version they share."""
    return {
        "schema_version": SCHEMA_VERSION,
        "models": {name: model.model_json_schema() for name, model in SCHEMA_MODELS.items()},
    }
