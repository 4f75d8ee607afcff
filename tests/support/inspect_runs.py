"""A repository of real runs for the inspection tests (runs, log, show, compare, diff, metrics).

Built once per test module through the tracking API:

- ``baseline``: lr 0.1, batch 32, sgd; ``loss`` (1 / (step + 1), with a spike of 50 at step 60)
  and ``val_acc`` over 100 steps; checkpoints at steps 50 (labelled ``best``) and 100 (weights
  doubled in between); finished.
- ``tuned``: lr 0.01, batch 32, adam, tag ``sweep``; 40 steps; finished.
- ``broken``: lr 1.0, batch 64, tag ``sweep``; one NaN loss, then failed.
- requirements: numpy 1.26.0 for baseline, 2.0.0 for the others (rich the same everywhere).
- the branch ``experiment``: one plain commit on top of ``baseline~1`` (a fork).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from modelsync.model.objects import TreeEntry
from modelsync.repo.repository import Repo
from modelsync.runs import environment
from modelsync.runs.start import start_run

EXCLUDE = ("git", "gpu")
SPIKE_STEP = 60
BASELINE_STEPS = 100


def _requirements(numpy_version: str) -> str:
    return f"numpy=={numpy_version}\nrich==13.7.0\n"


def build_runs(root: Path) -> Repo:
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _build(root, monkeypatch)


def _build(root: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    import torch

    repo = Repo.init(root / "repo", name="Test User", email="test@example.com")
    model = torch.nn.Linear(3, 2)
    monkeypatch.setattr(environment, "installed_requirements", lambda: _requirements("1.26.0"))
    params = {"lr": 0.1, "batch_size": 32, "optimizer": {"name": "sgd"}}
    with start_run("baseline", repo=repo, params=params, capture_exclude=EXCLUDE) as run:
        for step in range(BASELINE_STEPS):
            loss = 50.0 if step == SPIKE_STEP else 1.0 / (step + 1)
            run.log_metrics({"loss": loss, "val_acc": step / BASELINE_STEPS}, step=step)
            if step == 50:
                run.checkpoint(model, step=step, epoch=0)
                run.tag("best")
        with torch.no_grad():
            model.weight.mul_(2.0)
        run.checkpoint(model, step=BASELINE_STEPS, epoch=1)
    monkeypatch.setattr(environment, "installed_requirements", lambda: _requirements("2.0.0"))
    params = {"lr": 0.01, "batch_size": 32, "optimizer": {"name": "adam"}}
    with start_run(
        "tuned", repo=repo, params=params, tags=["sweep"], capture_exclude=EXCLUDE
    ) as run:
        for step in range(40):
            run.log_metrics({"loss": 0.5 / (step + 1), "val_acc": 0.5 + step / 100}, step=step)
    params = {"lr": 1.0, "batch_size": 64, "optimizer": {"name": "sgd"}}
    with (
        pytest.raises(RuntimeError),
        start_run(
            "broken", repo=repo, params=params, tags=["sweep"], capture_exclude=EXCLUDE
        ) as run,
    ):
        run.log_metrics({"loss": float("nan")}, step=0)
        raise RuntimeError("diverged")
    fork_point = repo.resolve("baseline~1")
    repo.create_branch("experiment", fork_point)
    tree = repo.write_tree({"notes.txt": _blob(repo, b"try a smaller lr\n")})
    repo.commit_tree(tree, "an experiment", ref="refs/heads/experiment")
    return repo


def _blob(repo: Repo, data: bytes) -> TreeEntry:
    return TreeEntry("blob", repo.store.put(data), len(data), "100644")


def run_plain(cli: Callable[..., Result], repo: Repo, *args: str) -> Result:
    """Run a command on ``repo``; it must succeed and print no colour codes (not a TTY)."""
    result = cli(*args, "-C", str(repo.work_tree))
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.output
    return result

