"""The environment behind every run: Python, platform, command, packages, git state, seeds."""

from __future__ import annotations

import importlib.metadata
import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import modelsync
from modelsync.errors import UsageError
from modelsync.repo.repository import Repo
from modelsync.runs import environment
from modelsync.runs import read as runs
from modelsync.runs.environment import CAPTURE_ITEMS, EXCLUDE_ENV, capture_environment, git_info
from modelsync.runs.seeding import LIGHTNING_SEED_ENV, recorded_seeds


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True, env=env
    )
    return done.stdout.strip()


@pytest.fixture
def code_repo(tmp_path: Path) -> Path:
    """A git repository with one commit on the branch 'experiments' and a remote with a token."""
    code = tmp_path / "code"
    code.mkdir()
    _git(code, "init", "-q", "-b", "experiments")
    _git(code, "remote", "add", "origin", "https://user:s3cret@example.com/team/model.git")
    (code / "train.py").write_text("lr = 0.1\n")
    _git(code, "add", "train.py")
    _git(code, "commit", "-q", "-m", "first")
    return code


def test_python_platform_command_and_packages_are_captured() -> None:
    env, requirements = capture_environment()
    assert env.python_version == sys.version and env.python_executable == sys.executable
    assert env.hostname == socket.gethostname() and env.platform
    assert env.command == sys.argv and env.cwd == os.getcwd()
    assert env.packages is not None
    assert env.packages["torch"] == importlib.metadata.version("torch")
    assert env.packages["numpy"] == np.__version__
    assert env.captured == list(CAPTURE_ITEMS)
    assert requirements is not None
    pins = requirements.splitlines()
    assert f"torch=={importlib.metadata.version('torch')}" in pins
    assert any(line.lower() == f"numpy=={np.__version__}" for line in pins)


def test_no_gpu_here_means_no_cuda_section() -> None:
    env, _ = capture_environment()
    if torch.cuda.is_available():
        assert env.cuda is not None and env.cuda.gpus
    else:
        assert env.cuda is None


def test_git_commit_branch_and_clean_state(code_repo: Path) -> None:
    info = git_info(code_repo)
    assert info is not None
    assert info.commit == _git(code_repo, "rev-parse", "HEAD")
    assert info.branch == "experiments"
    assert info.root == str(code_repo)
    assert (info.dirty, info.diff, info.untracked) == (False, None, [])


def test_the_remote_is_recorded_without_credentials(code_repo: Path) -> None:
    info = git_info(code_repo)
    assert info is not None and info.remote == "https://example.com/team/model.git"


def test_uncommitted_changes_are_captured_as_a_diff(code_repo: Path) -> None:
    (code_repo / "train.py").write_text("lr = 0.01\n")
    (code_repo / "notes.txt").write_text("new\n")
    info = git_info(code_repo)
    assert info is not None and info.dirty
    assert info.diff is not None and "-lr = 0.1" in info.diff and "+lr = 0.01" in info.diff
    assert info.untracked == ["notes.txt"]
    without = git_info(code_repo, with_diff=False)
    assert without is not None and without.dirty and without.diff is None


def test_code_outside_git_has_no_git_section(tmp_path: Path) -> None:
    assert git_info(tmp_path) is None


def test_a_detached_head_has_a_commit_and_no_branch(code_repo: Path) -> None:
    _git(code_repo, "checkout", "-q", "--detach")
    info = git_info(code_repo)
    assert info is not None and info.commit == _git(code_repo, "rev-parse", "HEAD")
    assert info.branch is None


def test_a_repository_without_commits_has_a_branch_and_no_commit(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "first-steps")
    (tmp_path / "train.py").write_text("lr = 0.1\n")
    info = git_info(tmp_path)
    assert info is not None
    assert (info.commit, info.branch, info.dirty) == (None, "first-steps", False)
    assert info.untracked == ["train.py"]


def test_renamed_and_oddly_named_paths_are_listed_as_they_are(code_repo: Path) -> None:
    _git(code_repo, "mv", "train.py", "train model.py")
    (code_repo / "notes \u00e9t\u00e9.txt").write_text("new\n")
    info = git_info(code_repo)
    assert info is not None and info.dirty
    assert info.untracked == ["notes \u00e9t\u00e9.txt"]
    assert info.diff is not None and "rename to train model.py" in info.diff


def test_each_capture_sees_an_edit_made_just_after_the_last_one(code_repo: Path) -> None:
    for value in ("0.2", "0.3", "0.4"):  # same size, within the same second
        (code_repo / "train.py").write_text(f"lr = {value}\n")
        info = git_info(code_repo)
        assert info is not None and info.diff is not None and f"+lr = {value}" in info.diff


def test_an_unchanged_repository_costs_one_git_command_per_capture(
    code_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(environment, "_RECENT_NS", 0)  # trust the stat of files just written
    (code_repo / "train.py").write_text("lr = 0.2\n")
    commands: list[str] = []
    run_git = environment._git

    def counted(cwd: Path, *args: str) -> str | None:
        commands.append(args[0])
        return run_git(cwd, *args)

    monkeypatch.setattr(environment, "_git", counted)
    first = git_info(code_repo)
    commands.clear()
    again = git_info(code_repo)
    assert commands == ["status"]
    assert again == first and again is not None and "+lr = 0.2" in (again.diff or "")


def test_a_changed_file_or_remote_is_seen_by_the_next_capture(
    code_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(environment, "_RECENT_NS", 0)
    (code_repo / "train.py").write_text("lr = 0.2\n")
    assert git_info(code_repo) is not None
    (code_repo / "train.py").write_text("lr = 0.25\n")
    _git(code_repo, "remote", "set-url", "origin", "https://example.com/team/other.git")
    info = git_info(code_repo)
    assert info is not None and info.remote == "https://example.com/team/other.git"
    assert info.diff is not None and "+lr = 0.25" in info.diff


def test_items_can_be_left_out_by_name_or_by_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env, requirements = capture_environment(exclude=["requirements", "command"])
    assert requirements is None and env.command is None and env.cwd is None
    assert "command" not in env.captured and env.python_version is not None
    monkeypatch.setenv(EXCLUDE_ENV, "packages, git")
    env, _ = capture_environment()
    assert env.packages is None and env.git is None and "git" not in env.captured


def test_unknown_items_are_refused() -> None:
    with pytest.raises(UsageError, match="unknown environment item"):
        capture_environment(exclude=["gpus"])


def test_seed_everything_seeds_python_numpy_and_torch() -> None:
    modelsync.seed_everything(1234)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    modelsync.seed_everything(1234)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    assert os.environ[LIGHTNING_SEED_ENV] == "1234"
    assert recorded_seeds() == {"modelsync": 1234}


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "7", True])
def test_invalid_seeds_are_refused(seed: object) -> None:
    with pytest.raises(UsageError, match="seed must be an integer"):
        modelsync.seed_everything(seed)  # type: ignore[arg-type]


def test_a_seed_set_by_lightning_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytorch_lightning import seed_everything as lightning_seed_everything

    monkeypatch.delenv(LIGHTNING_SEED_ENV, raising=False)
    monkeypatch.setattr("modelsync.runs.seeding._seeds", {})
    lightning_seed_everything(99)
    assert recorded_seeds() == {"lightning": 99}


def test_every_run_stores_its_environment_and_requirements(
    repo: Repo, code_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (code_repo / "train.py").write_text("lr = 0.5\n")
    modelsync.seed_everything(7)
    with modelsync.start_run("env", repo=repo, code_dir=code_repo):
        modelsync.seed_everything(8)
    env = runs.get_environment(repo, "env")
    assert env is not None and env.git is not None
    assert env.git.commit == _git(code_repo, "rev-parse", "HEAD")
    assert env.git.dirty and env.git.diff is not None and "+lr = 0.5" in env.git.diff
    assert env.seeds == {"modelsync": 8}
    requirements = runs.get_requirements(repo, "env")
    assert requirements is not None and "torch==" in requirements
    stored = json.loads(
        repo.store.get(
            repo.flatten_tree(repo.read_commit(repo.resolve("env")).tree)["environment.json"].oid
        )
    )
    assert stored["schema_version"] == 1


def test_a_run_can_leave_environment_items_out(repo: Repo) -> None:
    with modelsync.start_run("lean", repo=repo, capture_exclude=["requirements", "git"]):
        pass
    env = runs.get_environment(repo, "lean")
    assert env is not None and env.git is None
    assert runs.get_requirements(repo, "lean") is None
