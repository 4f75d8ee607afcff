"""``modelsync.checkpoint_path``: a ``.ckpt`` of any revision, written once per commit."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import pytest
import torch

import modelsync
from modelsync.checkpoints import export_checkpoint
from modelsync.errors import UnsafeLoad, UsageError
from modelsync.repo.repository import Repo


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
    written = first.stat()
    assert modelsync.checkpoint_path("runs/once", repo=repo) == first
    reused = first.stat()
    assert (reused.st_ino, reused.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


def _fresh_export(repo: Repo, rev: str, directory: Path) -> bytes:
    return export_checkpoint(repo, rev, directory).read_bytes()


def _planted(path: Path) -> bytes:
    """What an attacker leaves at ``path``: a loadable ``.ckpt`` with other weights."""
    torch.save({"state_dict": {"w": torch.zeros(4, 3)}, "epoch": 666}, path)
    return path.read_bytes()


def test_a_replaced_export_is_rebuilt_from_the_commit(repo: Repo, tmp_path: Path) -> None:
    with modelsync.start_run("replaced", repo=repo) as run:
        run.checkpoint(_state())
    cached = modelsync.checkpoint_path("replaced", repo=repo)
    planted = _planted(cached)
    path = modelsync.checkpoint_path("replaced", repo=repo)
    assert path == cached
    assert path.read_bytes() != planted
    assert path.read_bytes() == _fresh_export(repo, "replaced", tmp_path / "fresh")


def test_a_file_planted_before_the_first_export_is_never_returned(
    repo: Repo, tmp_path: Path
) -> None:
    with modelsync.start_run("planted", repo=repo) as run:
        run.checkpoint(_state())
    cached = repo.control_dir / "exports" / repo.resolve("planted") / "checkpoint.ckpt"
    cached.parent.mkdir(parents=True)
    _planted(cached)
    path = modelsync.checkpoint_path("planted", repo=repo)
    assert path.read_bytes() == _fresh_export(repo, "planted", tmp_path / "fresh")
    assert torch.load(path, weights_only=True)["epoch"] == 2


def test_one_flipped_byte_is_caught_though_size_and_mtime_match(
    repo: Repo, tmp_path: Path
) -> None:
    with modelsync.start_run("flipped", repo=repo) as run:
        run.checkpoint(_state())
    cached = modelsync.checkpoint_path("flipped", repo=repo)
    before = cached.stat()
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0x01
    with open(cached, "r+b") as edited:
        edited.write(data)
    os.utime(cached, ns=(before.st_atime_ns, before.st_mtime_ns))
    path = modelsync.checkpoint_path("flipped", repo=repo)
    assert path.read_bytes() == _fresh_export(repo, "flipped", tmp_path / "fresh")


def test_a_link_in_the_cache_is_replaced_by_a_file_and_not_followed(
    repo: Repo, tmp_path: Path
) -> None:
    with modelsync.start_run("linked", repo=repo) as run:
        run.checkpoint(_state())
    cached = modelsync.checkpoint_path("linked", repo=repo)
    outside = tmp_path / "outside.ckpt"
    outside.write_bytes(cached.read_bytes())
    cached.unlink()
    cached.symlink_to(outside)
    path = modelsync.checkpoint_path("linked", repo=repo)
    assert not path.is_symlink()
    assert path.read_bytes() == outside.read_bytes()


def test_a_linked_cache_directory_is_not_written_through(repo: Repo, tmp_path: Path) -> None:
    with modelsync.start_run("redirected", repo=repo) as run:
        run.checkpoint(_state())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo.control_dir / "exports").mkdir()
    (repo.control_dir / "exports" / repo.resolve("redirected")).symlink_to(elsewhere)
    path = modelsync.checkpoint_path("redirected", repo=repo)
    assert not path.parent.is_symlink()
    assert list(elsewhere.iterdir()) == []


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
