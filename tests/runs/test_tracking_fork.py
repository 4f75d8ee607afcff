"""``start_run(fork=...)``: a new run branching off any commit; ``run.tag`` of any commit."""

from __future__ import annotations

import pytest
import torch

import modelsync
from modelsync.errors import UsageError
from modelsync.repo.repository import Repo
from modelsync.runs import read as runs


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Linear(4, 2)


def _two_checkpoints(repo: Repo, name: str) -> tuple[str, str]:
    model = _model()
    with modelsync.start_run(name, repo=repo) as run:
        first = run.checkpoint(model, step=1)
        with torch.no_grad():
            model.weight.add_(1.0)
        second = run.checkpoint(model, step=2)
    assert first is not None and second is not None
    return first, second


def test_a_run_tags_any_of_its_commits(repo: Repo) -> None:
    first, _ = _two_checkpoints(repo, "tagged")
    run = modelsync.start_run(resume="tagged", repo=repo)
    assert run.tag("best", first) == first
    run.finish()
    assert repo.resolve("tagged@best") == first
    assert "best" in runs.get_run(repo, "tagged").tags


def test_a_fork_starts_a_new_run_from_the_commit(repo: Repo) -> None:
    first, second = _two_checkpoints(repo, "base")
    with modelsync.start_run("base-ft", repo=repo, fork=first) as run:
        start = run.head
    assert start is not None
    commit = repo.read_commit(start)
    assert commit.parents == (first,)
    assert (commit.meta["run"], commit.meta["kind"]) == ("base-ft", "start")
    assert repo.commit_files(start)["checkpoint"] == repo.commit_files(first)["checkpoint"]
    assert runs.get_run(repo, "base-ft").parent == "base"
    assert repo.resolve("base") != start and repo.resolve("base~1") == second


def test_fork_and_resume_exclude_each_other(repo: Repo) -> None:
    first, _ = _two_checkpoints(repo, "either")
    with pytest.raises(UsageError, match="only one of them"):
        modelsync.start_run(resume="either", repo=repo, fork=first)
