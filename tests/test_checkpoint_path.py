"""``modelsync.checkpoint_path``: a ``.ckpt`` of any revision, written once per commit."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import torch

import modelsync
from modelsync.errors import UnsafeLoad, UsageError
from modelsync.repo import Repo


def _state() -> dict[str, object]:
    torch.manual_seed(0)
    return {"state_dict": {"w": torch.randn(4, 3)}, "epoch": 2, "global_step": 30}


def test_a_run_label_gives_a_ckpt_in_the_export_cache(repo: Repo) -> None:
    state = _state()
    with modelsync.start_run("foo", repo=repo) as run:
        commit = run.checkpoint(state)
        run.tag("best")
    path = modelsync.checkpoint_path("runs/foo@best", repo=repo)
    assert path == repo.control_dir / "exports" / str(commit) / "checkpoint.ckpt"
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["state_dict"]["w"], state["state_dict"]["w"])  # type: ignore[index]
    assert (loaded["epoch"], loaded["global_step"]) == (2, 30)


def test_a_commit_is_exported_once(repo: Repo) -> None:
    with modelsync.start_run("once", repo=repo) as run:
        run.checkpoint(_state())
    first = modelsync.checkpoint_path("once", repo=repo)
    written = first.stat().st_mtime_ns
    assert modelsync.checkpoint_path("runs/once", repo=repo) == first
    assert first.stat().st_mtime_ns == written


def test_a_repository_path_and_a_directory_of_ones_own(repo: Repo, tmp_path: Path) -> None:
    with modelsync.start_run("elsewhere", repo=repo) as run:
        run.checkpoint(_state())
    path = modelsync.checkpoint_path("elsewhere", repo=repo.work_tree, directory=tmp_path / "out")
    assert path == tmp_path / "out" / "checkpoint.ckpt"
    assert torch.load(path, weights_only=True)["global_step"] == 30


def test_pickled_values_need_trusted_even_when_already_exported(repo: Repo) -> None:
    state = {**_state(), "ratio": Fraction(1, 3)}
    with modelsync.start_run("pickled", repo=repo) as run:
        run.checkpoint(state)
    with pytest.raises(UnsafeLoad, match="Fraction"):
        modelsync.checkpoint_path("pickled", repo=repo)
    trusted = modelsync.checkpoint_path("pickled", repo=repo, trusted=True)
    assert torch.load(trusted, weights_only=False)["ratio"] == Fraction(1, 3)
    with pytest.raises(UnsafeLoad, match="Fraction"):
        modelsync.checkpoint_path("pickled", repo=repo)


def test_a_revision_without_a_checkpoint_is_refused(repo: Repo) -> None:
    with modelsync.start_run("empty", repo=repo):
        pass
    with pytest.raises(UsageError, match="holds no checkpoint"):
        modelsync.checkpoint_path("empty", repo=repo)
