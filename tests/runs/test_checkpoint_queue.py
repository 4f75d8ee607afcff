"""``run.checkpoint(..., wait=False)``: checkpoints committed and labelled on the run's writer
thread, at most ``MAX_PENDING`` behind, their failures reported on the training thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

import modelsync
from modelsync.errors import TrackingError, TrackingWarning
from modelsync.repo.repository import Repo
from modelsync.runs import read as runs
from modelsync.runs.commit_queue import MAX_PENDING, CommitQueue, PendingCheckpoint


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def _block_label(repo: Repo, run: str, label: str) -> Path:
    """A directory where the label's ref file goes: setting the label fails (EISDIR)."""
    blocker = repo.control_dir / "refs" / "tags" / "runs" / f"{run}@{label}"
    blocker.mkdir(parents=True)
    return blocker


def test_a_checkpoint_without_waiting_is_labelled_with_its_commit(repo: Repo) -> None:
    with modelsync.start_run("queued", repo=repo) as run:
        pending = run.checkpoint(_model(), step=1, tags=["best", "last"], wait=False)
        assert isinstance(pending, PendingCheckpoint)
        commit = pending.result()  # the labels are set on the writer thread, with the commit
        assert commit is not None
        assert repo.resolve("queued@best") == repo.resolve("queued@last") == commit
        assert run.tagged("best") == commit and run.tagged("other") is None
    assert runs.get_run(repo, "queued").tags == ["best", "last"]


def test_a_waiting_checkpoint_is_labelled_too(repo: Repo) -> None:
    with modelsync.start_run("waited", repo=repo) as run:
        commit = run.checkpoint(_model(), step=1, tags=["best"])
    assert commit is not None and repo.resolve("waited@best") == commit


def test_an_invalid_label_is_refused_before_anything_is_captured(repo: Repo) -> None:
    run = modelsync.start_run("labels", repo=repo)
    with pytest.raises(modelsync.ModelSyncError, match="invalid run label"):
        run.checkpoint(_model(), tags=["a/b"], wait=False)
    run.finish()
    assert runs.list_checkpoints(repo, "labels") == []


def test_finishing_waits_for_every_queued_checkpoint(repo: Repo) -> None:
    model = _model()
    with modelsync.start_run("drained", repo=repo) as run:
        pending = [run.checkpoint(model, step=step, wait=False) for step in (1, 2, 3, 4)]
    assert [model.step for model in runs.list_checkpoints(repo, "drained")] == [1, 2, 3, 4]
    assert all(checkpoint.done() for checkpoint in pending)
    assert repo.read_commit(repo.resolve("drained")).meta["kind"] == "status"


def test_track_code_checkpoints_without_waiting_through_the_module_level_call(
    repo: Repo,
) -> None:
    @modelsync.track(name="tracked", repo=repo)
    def train() -> modelsync.PendingCheckpoint | str | None:
        return modelsync.checkpoint(_model(), step=7, tags=["last"], wait=False)

    pending = train()
    assert isinstance(pending, PendingCheckpoint) and pending.done()
    commit = pending.result()
    assert commit is not None and repo.resolve("tracked@last") == commit


def test_a_failure_on_the_writer_thread_raises_on_the_training_thread_when_strict(
    repo: Repo,
) -> None:
    run = modelsync.start_run("strict", repo=repo)
    blocker = _block_label(repo, "strict", "best")
    run.checkpoint(_model(), step=3, tags=["best"], wait=False)
    with pytest.raises(TrackingError, match="the checkpoint at step 3: cannot write"):
        run.wait()
    blocker.rmdir()
    run.finish()  # reported once: the run's end is committed without a second error
    assert runs.get_run(repo, "strict").status == "finished"


def test_the_run_ends_even_when_a_queued_checkpoint_failed_and_then_raises(repo: Repo) -> None:
    run = modelsync.start_run("ending", repo=repo)
    _block_label(repo, "ending", "best")
    run.checkpoint(_model(), step=3, tags=["best"], wait=False)
    with pytest.raises(TrackingError, match="the checkpoint at step 3"):
        run.finish()
    assert runs.get_run(repo, "ending").status == "finished"


def test_a_failure_on_the_writer_thread_is_a_listed_problem_when_not_strict(repo: Repo) -> None:
    run = modelsync.start_run("lenient", repo=repo, strict=False)
    _block_label(repo, "lenient", "best")
    with pytest.warns(TrackingWarning, match="could not tag 'best'"):
        pending = run.checkpoint(_model(), step=3, tags=["best"], wait=False)
        run.finish()
    assert pending.result() is not None  # the commit is made; only its label is missing
    problems = runs.get_run(repo, "lenient").problems
    assert len(problems) == 1 and "could not tag 'best'" in problems[0]


def test_a_checkpoint_of_an_ended_run_gives_no_commit(repo: Repo) -> None:
    run = modelsync.start_run("ended", repo=repo, strict=False)
    run.finish()
    with pytest.warns(TrackingWarning, match="has ended"):
        pending = run.checkpoint(_model(), wait=False)
    assert pending.done() and pending.result() is None


def test_taking_one_more_than_max_pending_first_waits_for_the_oldest() -> None:
    failures: list[Exception] = []
    queue = CommitQueue(lambda _pending, exc: failures.append(exc), lambda: "test-writer")
    gate = threading.Event()

    def blocked() -> str:
        gate.wait()
        return "oldest"

    oldest = queue.submit(blocked, 1, ())
    for step in range(2, MAX_PENDING + 1):
        queue.submit(lambda: "later", step, ())
    opener = threading.Thread(target=gate.set)
    opener.start()
    queue.make_room()
    opener.join()
    assert oldest.done() and oldest.result() == "oldest"
    queue.wait()
    queue.close()
    assert failures == []


def test_report_problem_lists_no_more_than_the_cap(repo: Repo) -> None:
    run = modelsync.start_run("noisy", repo=repo, strict=False)
    with pytest.warns(TrackingWarning):
        for number in range(105):
            run.report_problem(f"problem {number}")
    run.finish()
    problems = runs.get_run(repo, "noisy").problems
    assert len(problems) == 100 and problems[-1] == "problem 99"
