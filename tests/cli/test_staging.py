"""add, rm, status and commit from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from modelsync.repo.repository import Repo

Cli = Callable[..., Result]


def test_add_stages_files_directories_and_globs(cli: Cli, repo: Repo) -> None:
    for name in ("model.pt", "configs/a.yaml", "configs/b.yaml", "data/x.csv", "notes.txt"):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(name)
    result = cli("add", "model.pt", "configs/*.yaml", "data")
    assert result.exit_code == 0
    assert result.stdout.strip() == "4 paths staged"
    assert sorted(repo.status().staged) == [
        "configs/a.yaml",
        "configs/b.yaml",
        "data/x.csv",
        "model.pt",
    ]


def test_add_honours_modelsyncignore(cli: Cli, repo: Repo) -> None:
    Path(".modelsyncignore").write_text("*.log\ncheckpoints/\n")
    Path("train.log").write_text("noise")
    Path("checkpoints").mkdir()
    Path("checkpoints/epoch1.ckpt").write_text("big")
    Path("train.py").write_text("code")
    cli("add", ".")
    assert sorted(repo.status().staged) == [".modelsyncignore", "train.py"]


def test_status_json(cli: Cli, repo: Repo) -> None:
    Path("a.txt").write_text("a")
    cli("add", "a.txt")
    Path("b.txt").write_text("b")
    status = json.loads(cli("status", "--json").stdout)
    assert status == {
        "branch": "main",
        "head": None,
        "staged": {"a.txt": "added"},
        "modified": [],
        "deleted": [],
        "untracked": ["b.txt"],
        "clean": False,
    }


def test_status_text(cli: Cli, repo: Repo) -> None:
    Path("a.txt").write_text("a")
    cli("add", "a.txt")
    cli("commit", "-m", "first")
    Path("a.txt").write_text("changed")
    out = cli("status").stdout
    assert "On branch main" in out
    assert "Changes not staged for commit:" in out
    assert "modified: a.txt" in out


def test_commit_prints_branch_id_and_summary(cli: Cli, repo: Repo) -> None:
    Path("a.txt").write_text("a")
    cli("add", "a.txt")
    result = cli("commit", "-m", "baseline run\n\nwith details")
    assert result.exit_code == 0
    head = repo.head_commit()
    assert head is not None
    assert result.stdout.strip() == f"[main {head[:12]}] baseline run"


def test_commit_allow_empty(cli: Cli, repo: Repo) -> None:
    assert cli("commit", "-m", "start", "--allow-empty").exit_code == 0
    assert repo.read_commit(repo.resolve("HEAD")).message == "start"


def test_rm_and_rm_cached(cli: Cli, repo: Repo) -> None:
    Path("a.txt").write_text("a")
    Path("secret.env").write_text("token")
    cli("add", ".")
    cli("commit", "-m", "oops")
    assert cli("rm", "--cached", "secret.env").exit_code == 0
    assert Path("secret.env").exists()
    assert cli("rm", "a.txt").exit_code == 0
    assert not Path("a.txt").exists()
    assert repo.status().staged == {"a.txt": "deleted", "secret.env": "deleted"}
