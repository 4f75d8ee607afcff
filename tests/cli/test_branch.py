"""``modelsync branch``: list (text and JSON), create, delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from modelsync.repo.repository import Repo

Cli = Callable[..., Result]


@pytest.fixture
def first(repo: Repo) -> str:
    Path("a.txt").write_text("a")
    repo.add(["a.txt"])
    return repo.commit("first")


def test_create_then_list(cli: Cli, repo: Repo, first: str) -> None:
    assert cli("branch", "create", "exp").stdout.strip() == f"Created branch 'exp' at {first[:12]}"
    assert cli("branch").stdout.splitlines() == [
        f"  exp   {first[:12]} first",
        f"* main  {first[:12]} first",
    ]
    assert json.loads(cli("branch", "list", "--json").stdout) == [
        {"name": "exp", "commit": first, "current": False, "summary": "first"},
        {"name": "main", "commit": first, "current": True, "summary": "first"},
    ]


def test_runs_are_listed_as_branches(cli: Cli, repo: Repo, first: str) -> None:
    repo.commit_tree(repo.read_commit(first).tree, "run", ref="refs/heads/runs/baseline")
    names = [b["name"] for b in json.loads(cli("branch", "list", "--json").stdout)]
    assert names == ["main", "runs/baseline"]


def test_delete(cli: Cli, repo: Repo, first: str) -> None:
    cli("branch", "create", "exp")
    result = cli("branch", "delete", "exp")
    assert result.stdout.strip() == f"Deleted branch 'exp' (was {first[:12]})"
    assert repo.branches() == {"main": first}


def test_delete_unmerged_needs_force(cli: Cli, repo: Repo, first: str) -> None:
    cli("checkout", "-b", "exp")
    Path("a.txt").write_text("exp only")
    cli("add", "a.txt")
    cli("commit", "-m", "exp work")
    cli("checkout", "main")
    assert cli("branch", "delete", "exp").exit_code != 0
    assert cli("branch", "delete", "--force", "exp").exit_code == 0
    assert "exp" not in repo.branches()
