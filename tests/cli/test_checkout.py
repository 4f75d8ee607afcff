"""checkout and reset from the command line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from modelsync.repo.repository import Repo

Cli = Callable[..., Result]


@pytest.fixture
def two_commits(repo: Repo) -> list[str]:
    ids = []
    for content in ("one", "two"):
        Path("a.txt").write_text(content)
        repo.add(["a.txt"])
        ids.append(repo.commit(content))
    return ids


def test_checkout_detached_and_back(cli: Cli, repo: Repo, two_commits: list[str]) -> None:
    result = cli("checkout", "HEAD~1")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"HEAD is now at {two_commits[0][:12]} one (detached)"
    assert Path("a.txt").read_text() == "one"
    assert cli("checkout", "main").stdout.strip() == "Switched to branch 'main'"
    assert Path("a.txt").read_text() == "two"


def test_checkout_b(cli: Cli, repo: Repo, two_commits: list[str]) -> None:
    result = cli("checkout", "-b", "retry", "HEAD~1")
    assert result.stdout.strip() == "Switched to a new branch 'retry'"
    assert repo.head_branch() == "retry"


def test_checkout_force_discards_local_changes(
    cli: Cli, repo: Repo, two_commits: list[str]
) -> None:
    Path("a.txt").write_text("scratch")
    assert cli("checkout", "HEAD~1").exit_code != 0
    assert Path("a.txt").read_text() == "scratch"
    assert cli("checkout", "--force", "HEAD~1").exit_code == 0
    assert Path("a.txt").read_text() == "one"


@pytest.mark.parametrize(
    ("flag", "staged", "content"),
    [("--soft", {"a.txt": "modified"}, "two"), ("--mixed", {}, "two"), ("--hard", {}, "one")],
)
def test_reset_modes(
    cli: Cli, repo: Repo, two_commits: list[str], flag: str, staged: dict[str, str], content: str
) -> None:
    result = cli("reset", flag, "HEAD~1")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"HEAD is now at {two_commits[0][:12]} one"
    assert repo.branch_head("main") == two_commits[0]
    assert repo.status().staged == staged
    assert Path("a.txt").read_text() == content
