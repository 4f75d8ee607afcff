"""The ``modelsync`` command as a whole: help for every command, entry points, plain output."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import Result

from modelsync import __version__
from modelsync.cli import common
from modelsync.cli.main import app
from modelsync.repo.repository import Repo

Cli = Callable[..., Result]


def _command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand as the user reaches it (commands load lazily)."""
    paths = []
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        paths.append((*prefix, name))
        if hasattr(command, "list_commands"):
            paths += _command_paths(command, (*prefix, name))
    return paths


CORE_COMMANDS = [
    ("init",),
    ("add",),
    ("rm",),
    ("status",),
    ("commit",),
    ("log",),
    ("show",),
    ("diff",),
    ("checkout",),
    ("reset",),
    ("fsck",),
    ("gc",),
    ("reindex",),
    ("branch",),
    ("branch", "list"),
    ("branch", "create"),
    ("branch", "delete"),
    ("tag",),
    ("tag", "list"),
    ("tag", "create"),
    ("tag", "delete"),
]


def test_every_core_command_is_registered() -> None:
    assert set(CORE_COMMANDS) <= set(_command_paths(typer.main.get_command(app)))


@pytest.mark.parametrize("path", _command_paths(typer.main.get_command(app)), ids=" ".join)
def test_every_command_has_help_with_an_example(cli: Cli, path: tuple[str, ...]) -> None:
    result = cli(*path, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout


def test_python_m_modelsync_help_works() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modelsync", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "checkout" in result.stdout
    assert "Traceback" not in result.stderr


def test_version(cli: Cli) -> None:
    assert cli("--version").stdout.strip() == f"modelsync {__version__}"


def test_output_is_plain_when_not_a_terminal(cli: Cli, repo: Repo) -> None:
    Path("a.txt").write_text("one\n")
    cli("add", "a.txt")
    cli("commit", "-m", "first")
    Path("a.txt").write_text("two\n")
    for args in (("status",), ("log",), ("diff",), ("branch",), ("show",)):
        result = cli(*args)
        assert result.exit_code == 0
        assert "\x1b[" not in result.output


def test_repo_option_and_environment_select_the_repository(
    cli: Cli, repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (repo.work_tree / "a.txt").write_text("a")
    assert cli("add", "-C", str(repo.work_tree), "a.txt").exit_code == 0
    assert cli("status", "--json", "--repo", str(repo.work_tree)).exit_code == 0
    monkeypatch.setenv("MODELSYNC_DIR", str(repo.work_tree))
    result = cli("commit", "-m", "from elsewhere")
    assert result.exit_code == 0, result.output
    assert repo.head_commit() is not None


def test_progress_bar_reports_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = StringIO()
    monkeypatch.setattr(common, "err_console", Console(file=screen, force_terminal=True))
    monkeypatch.delenv("MODELSYNC_NO_PROGRESS", raising=False)
    with common.progress_bar("Working") as progress:
        assert progress is not None
        progress(3, 4)
    assert "Working" in screen.getvalue()


def test_progress_bar_is_silent_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "err_console", Console(file=StringIO()))
    with common.progress_bar("Working") as progress:
        assert progress is None
