"""Fixtures every test may use: a fresh repository (the current directory inside it), and the
``modelsync`` command run in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from modelsync.cli.main import app
from modelsync.repo.repository import ENV_REPO, Repo


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Repo]:
    """An empty repository at ``tmp_path / "repo"``; the test runs with it as cwd."""
    monkeypatch.delenv(ENV_REPO, raising=False)
    repository = Repo.init(tmp_path / "repo", name="Test User", email="test@example.com")
    monkeypatch.chdir(repository.work_tree)
    yield repository
    repository.close()


@pytest.fixture
def cli() -> Callable[..., Result]:
    """``cli("log", "--json")`` runs the command; a Python exception escaping it fails the test."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke
