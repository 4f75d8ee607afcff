"""Looking at runs after training: compare runs, diff two run snapshots, walk history fast.

The CLI (``modelsync compare``, ``diff``, ``show``, ``log``) and the API answer from here, so both
say the same thing about the same runs.

- ``compare_runs``: params side by side, the latest and best value of every metric (best: the
  minimum of a metric whose name says lower is better, such as ``val_loss``, the maximum
  otherwise: ``metric_goal``), and the installed packages whose versions differ (from each
  run's ``requirements.txt``).
- ``read_snapshot`` / ``diff_snapshots``: what a run commit recorded (its ``run.json``,
  ``params.json``, ``environment.json``, ``requirements.txt``, ``datasets.json`` and metric values
  at that point) and how two of them differ: changed params, metric deltas, package versions.
- ``CommitCache`` / ``walk_log``: history read from the catalog's ``commits`` table, which holds
  every field of a commit under its id (ids name content, so a row never goes stale); the
  object store answers for commits the catalog lacks. A run's whole history is one query.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..catalog.table import Goal, metric_goal
from ..model.layout import (
    DATASETS_FILE,
    ENVIRONMENT_FILE,
    PARAMS_FILE,
    REQUIREMENTS_FILE,
    RUN_FILE,
    run_name,
)
from ..model.metadata import DatasetInfo, DatasetList, Environment, MetricSummary, RunInfo
from ..model.objects import Commit
from ..repo.repository import Repo
from .read import (
    get_environment,
    get_metric_summaries,
    get_params,
    get_requirements,
    get_run,
)

ChangeKind = Literal["added", "removed", "changed"]
_ABSENT = "\0absent"


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# ------------------------------------------------------------------ compare
@dataclass(frozen=True)
class ValueRow:
    """One key across several runs: a value per run (None where absent, or stored as None),
    whether each run has the key, and whether they differ."""

    key: str
    values: list[Any]
    differs: bool
    present: list[bool]


def value_rows(per_run: Sequence[Mapping[str, Any]]) -> list[ValueRow]:
    """A row per key any run has; absent and present values differ (a stored None too, which
    is why ``present`` tells them apart for display)."""
    keys = sorted({key for values in per_run for key in values})
    rows = []
    for key in keys:
        distinct = {_key(values.get(key, _ABSENT)) for values in per_run}
        rows.append(
            ValueRow(
                key,
                [values.get(key) for values in per_run],
                len(distinct) > 1,
                [key in values for values in per_run],
            )
        )
    return rows


@dataclass(frozen=True)
class MetricRow:
    """One metric across several runs: latest and best value per run (None: never logged)."""

    key: str
    goal: Goal
    last: list[float | None]
    best: list[float | None]
    differs: bool


def metric_rows(summaries: Sequence[Mapping[str, MetricSummary]]) -> list[MetricRow]:
    keys = sorted({key for per_run in summaries for key in per_run})
    rows = []
    for key in keys:
        goal = metric_goal(key)
        found = [per_run.get(key) for per_run in summaries]
        last = [None if s is None else s.last_value for s in found]
        best = [None if s is None else (s.min if goal == "min" else s.max) for s in found]
        shown = {_key(None if v is None or math.isnan(v) else v) for v in last}
        rows.append(MetricRow(key, goal, last, best, len(shown) > 1))
    return rows


@dataclass(frozen=True)
class RunComparison:
    runs: list[RunInfo]
    params: list[ValueRow]
    metrics: list[MetricRow]
    packages: list[ValueRow]
    """Installed packages whose versions are not the same in every run."""

    @property
    def metric_keys(self) -> list[str]:
        return [row.key for row in self.metrics]


def compare_runs(repo: Repo, names: Sequence[str]) -> RunComparison:
    """The runs side by side (UnknownRun, with suggestions, for a name that is no run)."""
    wanted = [run_name(name) for name in names]
    infos = [get_run(repo, name) for name in wanted]
    params = [get_params(repo, name) for name in wanted]
    summaries = [get_metric_summaries(repo, name) for name in wanted]
    packages = [package_versions(repo, name) for name in wanted]
    return RunComparison(
        runs=infos,
        params=value_rows(params),
        metrics=metric_rows(summaries),
        packages=[row for row in value_rows(packages) if row.differs],
    )


def package_versions(repo: Repo, name: str) -> dict[str, str]:
    """The run's installed packages by lower-case name: its ``requirements.txt`` when it recorded
    one, else the key packages of its environment."""
    text = get_requirements(repo, name)
    if text is not None:
        return parse_requirements(text)
    environment = get_environment(repo, name)
    packages = environment.packages if environment is not None else None
    return {key.lower(): value for key, value in (packages or {}).items()}


def parse_requirements(text: str) -> dict[str, str]:
    """``name==version`` lines (pip freeze) as ``{name: version}``; other lines are skipped."""
    out = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name and not name.startswith("#"):
            out[name.lower()] = version
    return out


# ---------------------------------------------------------------- snapshots
@dataclass(frozen=True)
class RunSnapshot:
    """What one run commit recorded: the run's state at that point."""

    info: RunInfo
    params: dict[str, Any]
    metrics: dict[str, float]
    """Latest value of each metric as of this commit."""
    environment: Environment | None
    requirements: str | None
    datasets: dict[str, DatasetInfo]
    step: int | None
    epoch: int | None


def read_snapshot(repo: Repo, commit: Commit) -> RunSnapshot | None:
    """The run state ``commit`` holds; None when it is not a run commit."""
    if not commit.meta.get("run"):
        return None
    entries = repo.read_tree(commit.tree).entries

    def read(name: str) -> bytes | None:
        entry = entries.get(name)
        return None if entry is None or entry.kind != "blob" else repo.store.get(entry.oid)

    raw_info = read(RUN_FILE)
    if raw_info is None:
        return None
    raw_params = read(PARAMS_FILE)
    raw_environment = read(ENVIRONMENT_FILE)
    raw_requirements = read(REQUIREMENTS_FILE)
    raw_datasets = read(DATASETS_FILE)
    metrics = commit.meta.get("metrics")
    return RunSnapshot(
        info=RunInfo.from_stored(raw_info),
        params=json.loads(raw_params).get("params", {}) if raw_params else {},
        metrics=dict(metrics) if isinstance(metrics, dict) else {},
        environment=Environment.from_stored(raw_environment) if raw_environment else None,
        requirements=raw_requirements.decode("utf-8") if raw_requirements else None,
        datasets=DatasetList.from_stored(raw_datasets).datasets if raw_datasets else {},
        step=_int_or_none(commit.meta.get("step")),
        epoch=_int_or_none(commit.meta.get("epoch")),
    )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def snapshot_packages(snapshot: RunSnapshot) -> dict[str, str]:
    if snapshot.requirements is not None:
        return parse_requirements(snapshot.requirements)
    packages = snapshot.environment.packages if snapshot.environment else None
    return {key.lower(): value for key, value in (packages or {}).items()}


@dataclass(frozen=True)
class ValueChange:
    """A param or package whose value is not the same on both sides."""

    key: str
    change: ChangeKind
    old: Any
    new: Any

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "change": self.change, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class MetricDelta:
    """A metric's value on both sides (None: not logged there) and how it moved."""

    key: str
    goal: Goal
    old: float | None
    new: float | None

    @property
    def delta(self) -> float | None:
        if self.old is None or self.new is None:
            return None
        return self.new - self.old

    @property
    def relative(self) -> float | None:
        """The change as a fraction of the old value (None when the old value is 0 or absent)."""
        delta = self.delta
        if delta is None or self.old == 0 or self.old is None or math.isnan(delta):
            return None
        return delta / abs(self.old)

    @property
    def improved(self) -> bool | None:
        delta = self.delta
        if delta is None or delta == 0 or math.isnan(delta):
            return None
        return delta < 0 if self.goal == "min" else delta > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "old": self.old,
            "new": self.new,
            "delta": self.delta,
            "relative": self.relative,
            "goal": self.goal,
            "improved": self.improved,
        }


@dataclass(frozen=True)
class SnapshotDiff:
    """How two run commits differ in what they recorded (files are ``Repo.diff``'s business)."""

    old_run: str
    new_run: str
    params: list[ValueChange]
    metrics: list[MetricDelta]
    packages: list[ValueChange]

    def to_json(self) -> dict[str, Any]:
        return {
            "old_run": self.old_run,
            "new_run": self.new_run,
            "params": [change.to_json() for change in self.params],
            "metrics": [delta.to_json() for delta in self.metrics],
            "packages": [change.to_json() for change in self.packages],
        }


def value_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[ValueChange]:
    changes = []
    for key in sorted(set(old) | set(new)):
        if key not in new:
            changes.append(ValueChange(key, "removed", old[key], None))
        elif key not in old:
            changes.append(ValueChange(key, "added", None, new[key]))
        elif _key(old[key]) != _key(new[key]):
            changes.append(ValueChange(key, "changed", old[key], new[key]))
    return changes


def diff_snapshots(old: RunSnapshot, new: RunSnapshot) -> SnapshotDiff:
    metrics = [
        MetricDelta(key, metric_goal(key), old.metrics.get(key), new.metrics.get(key))
        for key in sorted(set(old.metrics) | set(new.metrics))
    ]
    return SnapshotDiff(
        old_run=old.info.name,
        new_run=new.info.name,
        params=value_changes(old.params, new.params),
        metrics=metrics,
        packages=value_changes(snapshot_packages(old), snapshot_packages(new)),
    )
