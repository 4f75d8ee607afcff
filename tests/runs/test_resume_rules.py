"""``resume_or_start`` and ``resume_or_fork``: which run a repeated training call records into."""

from __future__ import annotations

import torch

import modelsync
from modelsync import adapters
from modelsync.repo.repository import Repo
from modelsync.runs import read as runs


def test_resume_or_start_continues_the_run_it_names_once_it_exists(repo: Repo) -> None:
    with adapters.resume_or_start("daily", repo=repo) as run:
        first_head = run.head
    with adapters.resume_or_start("daily", repo=repo) as run:
        assert repo.read_commit(run.head or "").meta["kind"] == "resume"
    assert [run.name for run in runs.list_runs(repo)] == ["daily"]
    assert first_head in [oid for oid, _ in repo.log("runs/daily")]


def test_resume_or_start_without_a_name_starts_a_new_run_each_time(repo: Repo) -> None:
    for _ in range(2):
        with adapters.resume_or_start(None, repo=repo):
            pass
    assert len(runs.list_runs(repo)) == 2


def test_resume_or_fork_continues_a_run_named_by_its_branch(repo: Repo) -> None:
    with modelsync.start_run("base", repo=repo):
        pass
    with adapters.resume_or_fork("runs/base", repo=repo) as run:
        assert run.name == "base"


def test_resume_or_fork_forks_a_new_run_from_any_other_revision(repo: Repo) -> None:
    with modelsync.start_run("base", repo=repo) as run:
        best = run.checkpoint(torch.nn.Linear(2, 2), step=1, tags=["best"])
    with adapters.resume_or_fork("runs/base@best", "base", repo=repo) as forked:
        assert forked.name == "base-2"  # a taken name gets a suffix
        start = forked.head
    assert repo.read_commit(start or "").parents == (best,)
    assert runs.get_run(repo, "base-2").parent == "base"
