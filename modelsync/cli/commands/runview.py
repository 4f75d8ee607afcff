"""Runs in ``show`` and ``diff``: what a run commit recorded, and how two of them differ.

``show`` of a run commit (or of a run: its latest commit) gains sections for the run, its
params, its metrics at that point, the environment, the code version (with the uncommitted diff
the run started from) and the datasets. ``diff`` of two run commits starts with the changed
params, the metric deltas and the packages whose versions changed (``runs.compare.diff_snapshots``);
the files that hold them are then left out of the per-file patches.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import typer
from rich.text import Text

from ...model.layout import run_ref
from ...model.metadata import Environment
from ...repo.repository import Repo
from ...runs.compare import RunSnapshot, SnapshotDiff, diff_snapshots, read_snapshot
from ...runs.read import get_metric_summaries
from ..common import console
from ..render.tables import format_number, format_value
from . import history
from .history import CommitView, Section


def _snapshot(repo: Repo, view: CommitView) -> RunSnapshot | None:
    return _snapshot_of(repo, view.oid)


@functools.lru_cache(maxsize=4)
def _snapshot_of(repo: Repo, oid: str) -> RunSnapshot | None:
    """Read once for all of ``show``'s sections (a commit id names its content for good)."""
    return read_snapshot(repo, repo.read_commit(oid))


def run_section(repo: Repo, view: CommitView) -> Section | None:
    snapshot = _snapshot(repo, view)
    if snapshot is None:
        return None
    info = snapshot.info
    value = {
        "name": info.name,
        "status": info.status,
        "parent": info.parent,
        "tags": list(info.tags),
        "start_time": info.start_time,
        "end_time": info.end_time,
        "step": snapshot.step,
        "epoch": snapshot.epoch,
        "error": info.error,
        "problems": list(info.problems),
    }
    lines = [f"name: {info.name}", f"status: {info.status}"]
    for key in ("step", "epoch", "parent"):
        if value[key] is not None:
            lines.append(f"{key}: {value[key]}")
    if info.tags:
        lines.append(f"tags: {', '.join(info.tags)}")
    lines += [f"problem: {problem}" for problem in info.problems]
    if info.error:
        lines.append(f"error: {info.error.strip().splitlines()[-1]}")
    return Section("run", value, "Run:", lines)


def params_section(repo: Repo, view: CommitView) -> Section | None:
    snapshot = _snapshot(repo, view)
    if snapshot is None:
        return None
    params = snapshot.params
    width = max((len(key) for key in params), default=0)
    lines = [f"{key:<{width}}  {format_value(params[key])}" for key in sorted(params)]
    return Section("params", params, f"Params ({len(params)}):", lines)


def metrics_section(repo: Repo, view: CommitView) -> Section | None:
    """The latest values as of this commit; for a run's newest commit, also min and max."""
    snapshot = _snapshot(repo, view)
    if snapshot is None:
        return None
    summaries = {}
    name = snapshot.info.name
    if repo.refs.resolve(run_ref(name)) == view.oid:
        summaries = get_metric_summaries(repo, name)
    keys = sorted(set(snapshot.metrics) | set(summaries))
    width = max((len(key) for key in keys), default=0)
    lines = []
    value: dict[str, Any] = {}
    for key in keys:
        latest = snapshot.metrics.get(key)
        summary = summaries.get(key)
        line = f"{key:<{width}}  {format_number(latest)}"
        value[key] = {"value": latest}
        if summary is not None:
            line += f"  (min {format_number(summary.min)}, max {format_number(summary.max)},"
            line += f" {summary.count} points)"
            value[key].update(min=summary.min, max=summary.max, count=summary.count)
        lines.append(line)
    return Section("metrics", value, "Metrics at this commit:", lines)


def environment_section(repo: Repo, view: CommitView) -> Section | None:
    snapshot = _snapshot(repo, view)
    if snapshot is None or snapshot.environment is None:
        return None
    env = snapshot.environment
    lines = [
        f"{label}: {shown}"
        for label, shown in (
            ("python", env.python_version),
            ("platform", env.platform),
            ("host", env.hostname),
            ("command", " ".join(env.command) if env.command else None),
            ("cwd", env.cwd),
        )
        if shown
    ]
    if env.cuda is not None:
        gpus = ", ".join(gpu.name for gpu in env.cuda.gpus) or "no GPU"
        lines.append(f"cuda: {env.cuda.cuda_version or '-'} ({gpus})")
    if env.seeds:
        lines.append("seeds: " + ", ".join(f"{k}={v}" for k, v in sorted(env.seeds.items())))
    for name, version in sorted((env.packages or {}).items()):
        lines.append(f"{name}=={version}")
    return Section(
        "environment", env.model_dump(mode="json", exclude={"git"}), "Environment:", lines
    )


def code_section(repo: Repo, view: CommitView) -> Section | None:
    """The git commit the run's code was at, and the uncommitted diff it ran with."""
    snapshot = _snapshot(repo, view)
    environment: Environment | None = snapshot.environment if snapshot else None
    git = environment.git if environment else None
    if git is None:
        return None
    state = "dirty" if git.dirty else "clean"
    lines = [f"git {git.commit or '(no commit)'} on {git.branch or '(detached)'} ({state})"]
    if git.remote:
        lines.append(f"remote: {git.remote}")
    lines += [f"untracked: {path}" for path in git.untracked]
    if git.diff:
        lines += ["uncommitted diff:", *git.diff.splitlines()]
        if git.diff_truncated:
            lines.append("(diff truncated)")
    return Section("code", git.model_dump(mode="json"), "Code:", lines)


def datasets_section(repo: Repo, view: CommitView) -> Section | None:
    snapshot = _snapshot(repo, view)
    if snapshot is None or not snapshot.datasets:
        return None
    lines = []
    for name, info in sorted(snapshot.datasets.items()):
        shape = f" shape {list(info.shape)}" if info.shape else ""
        lines.append(f"{name}: {info.kind} {info.digest[:12]}{shape}")
    value = {name: info.model_dump(mode="json") for name, info in snapshot.datasets.items()}
    return Section("datasets", value, f"Datasets ({len(lines)}):", lines)


RUN_SECTIONS = (
    run_section,
    params_section,
    metrics_section,
    environment_section,
    code_section,
    datasets_section,
)


# --------------------------------------------------------------------- diff
def run_diff(repo: Repo, a: str, b: str) -> SnapshotDiff | None:
    """How two run commits differ in params, metrics and packages (None unless both are)."""
    old = read_snapshot(repo, repo.read_commit(repo.resolve(a)))
    new = read_snapshot(repo, repo.read_commit(repo.resolve(b)))
    if old is None or new is None:
        return None
    return diff_snapshots(old, new)


def print_run_diff(diff: SnapshotDiff) -> None:
    runs = diff.old_run if diff.old_run == diff.new_run else f"{diff.old_run} -> {diff.new_run}"
    console.print(Text(f"Runs: {runs}", style="bold"))
    console.print(Text(f"Params ({len(diff.params)} changed):", style="bold"))
    for change in diff.params:
        line = Text(f"    {change.key}: ")
        line.append(format_value(change.old), style="red")
        line.append(" -> ")
        line.append(format_value(change.new), style="green")
        console.print(line)
    console.print(Text("Metrics (latest values):", style="bold"))
    for delta in diff.metrics:
        line = Text(f"    {delta.key}: {format_number(delta.old)} -> {format_number(delta.new)}")
        if delta.delta is not None and delta.delta != 0 and not math.isnan(delta.delta):
            relative = f", {delta.relative:+.1%}" if delta.relative is not None else ""
            style = {True: "green", False: "red", None: ""}[delta.improved]
            line.append(f" ({delta.delta:+.4g}{relative})", style=style)
        console.print(line)
    if diff.packages:
        console.print(Text(f"Packages ({len(diff.packages)} changed):", style="bold"))
        for change in diff.packages:
            old, new = change.old or "(none)", change.new or "(none)"
            console.print(Text(f"    {change.key}: {old} -> {new}"))


def register(app: typer.Typer) -> None:
    """Add the run sections to ``show``, right after the commit's metadata (its commands are
    the core ones)."""
    sections = history.SHOW_SECTIONS
    if run_section in sections:
        return
    at = sections.index(history.meta_section) + 1 if history.meta_section in sections else 0
    sections[at:at] = list(RUN_SECTIONS)
