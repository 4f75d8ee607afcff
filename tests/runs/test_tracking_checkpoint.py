"""``run.checkpoint``: a commit with the model, the run's files and the metrics logged since."""

from __future__ import annotations

import pytest
import torch

import modelsync
from modelsync.checkpoints import load_checkpoint
from modelsync.errors import TrackingError, TrackingWarning
from modelsync.model.segment import decode_segment
from modelsync.repo.repository import Repo
from modelsync.runs import read as runs


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def _entries(repo: Repo, rev: str) -> dict[str, str]:
    files = repo.flatten_tree(repo.read_commit(repo.resolve(rev)).tree)
    return {path: entry.kind for path, entry in files.items()}


def test_a_checkpoint_commit_holds_the_model_the_run_files_and_the_new_metrics(repo: Repo) -> None:
    model = _model()
    with modelsync.start_run("ckpt", repo=repo, params={"lr": 0.1}) as run:
        run.log_metrics({"loss": 1.0})
        commit = run.checkpoint(model, step=10, metrics={"val_loss": 0.5}, epoch=1)
    assert commit is not None
    entries = _entries(repo, commit)
    assert entries["checkpoint"] == "checkpoint"
    assert {"run.json", "params.json", "environment.json", "metrics.seg"} <= set(entries)
    meta = repo.read_commit(commit).meta
    assert (meta["kind"], meta["step"], meta["epoch"], meta["run"]) == ("checkpoint", 10, 1, "ckpt")
    assert meta["metrics"] == {"loss": 1.0, "val_loss": 0.5}
    files = repo.flatten_tree(repo.read_commit(commit).tree)
    assert decode_segment(repo.store.get(files["metrics.seg"].oid)).count == 2
    loaded = load_checkpoint(repo, commit)
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded[key], tensor)


def test_the_latest_model_stays_in_the_runs_later_commits(repo: Repo) -> None:
    with modelsync.start_run("carry", repo=repo) as run:
        run.checkpoint(_model())
    assert _entries(repo, "carry")["checkpoint"] == "checkpoint"
    assert repo.read_commit(repo.resolve("carry")).meta["kind"] == "status"


def test_checkpoints_are_listed_with_their_step_epoch_and_metrics(repo: Repo) -> None:
    model = _model()
    with modelsync.start_run("listed", repo=repo) as run:
        first = run.checkpoint(model, step=1, metrics={"acc": 0.5})
        with torch.no_grad():
            model[0].weight.add_(1.0)
        second = run.checkpoint(model, step=2, metrics={"acc": 0.7}, epoch=0)
    listed = runs.list_checkpoints(repo, "listed")
    assert [(m.commit, m.step, m.epoch, m.metrics["acc"]) for m in listed] == [
        (first, 1, None, 0.5),
        (second, 2, 0, 0.7),
    ]
    assert listed[0].checkpoint != listed[1].checkpoint


def test_lightning_style_checkpoints_give_their_own_step_and_epoch(repo: Repo) -> None:
    state = {"state_dict": _model().state_dict(), "global_step": 120, "epoch": 3}
    with modelsync.start_run("lightning-like", repo=repo) as run:
        commit = run.checkpoint(state)
    meta = repo.read_commit(commit or "").meta
    assert (meta["step"], meta["epoch"]) == (120, 3)
    assert repo.read_commit(commit or "").message == "checkpoint (epoch 3, step 120)"


def test_module_level_checkpoint_acts_on_the_active_run(repo: Repo) -> None:
    with modelsync.start_run("module-level", repo=repo):
        commit = modelsync.checkpoint(_model(), step=5)
    assert runs.list_checkpoints(repo, "module-level")[0].commit == commit
    assert callable(modelsync.checkpoint)


def test_a_checkpoint_without_waiting_copies_now_and_commits_in_order(repo: Repo) -> None:
    model = _model()
    with modelsync.start_run("async", repo=repo) as run:
        first = run.checkpoint(model, step=1, wait=False)
        with torch.no_grad():
            model[0].weight.zero_()
        second = run.checkpoint(model, step=2, wait=False)
        commits = [first.result(), second.result()]
    history = [oid for oid, _ in repo.log("runs/async")]
    assert history.index(commits[1]) < history.index(commits[0])
    assert not torch.equal(load_checkpoint(repo, commits[0])["0.weight"], torch.zeros(8, 4))
    assert torch.equal(load_checkpoint(repo, commits[1])["0.weight"], torch.zeros(8, 4))


def test_checkpoint_after_finish_is_an_error_or_a_warning(repo: Repo) -> None:
    run = modelsync.start_run(repo=repo)
    run.finish()
    with pytest.raises(TrackingError, match="has ended"):
        run.checkpoint(_model())
    lenient = modelsync.start_run(repo=repo, strict=False)
    lenient.finish()
    with pytest.warns(TrackingWarning, match="has ended"):
        assert lenient.checkpoint(_model()) is None
