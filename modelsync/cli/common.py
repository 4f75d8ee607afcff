"""What every command shares: opening the repository, one-line errors, ``--json``, progress."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from ..catalog.db import is_corrupt
from ..errors import ModelSyncError, RepositoryWarning
from ..model.objects import json_safe
from ..repo.repository import Repo

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

RepoOption = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        "-C",
        help="Repository path (default: $MODELSYNC_DIR, or search up from the current directory).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def exit_with_error(message: str, code: int = 1) -> NoReturn:
    """One clear line on stderr and a non-zero exit: the only way a command fails."""
    err_console.print(f"error: {message}".replace("\n", " "), markup=False)
    raise typer.Exit(code)


@contextmanager
def repository(path: Path | None) -> Iterator[Repo]:
    """The repository one command works on: opened, closed after it, its errors one line."""
    with handle_errors():
        repo = Repo.open(path)
        try:
            yield repo
        finally:
            repo.close()


@contextmanager
def handle_errors() -> Iterator[None]:
    """Map ModelSync's, SQLite's and the OS's errors to one line and exit code 1; print each
    warning as one line (a command that succeeded with a lagging catalog says so)."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", RepositoryWarning)
        warnings.showwarning = _print_warning
        try:
            yield
        except ModelSyncError as exc:
            exit_with_error(str(exc))
        except BrokenPipeError:
            raise
        except PermissionError as exc:
            exit_with_error(f"permission denied: {exc.filename or exc}")
        except OSError as exc:
            exit_with_error(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        except sqlite3.Error as exc:
            exit_with_error(_catalog_failure(exc))


def _print_warning(message: Warning | str, *_args: object, **_kwargs: object) -> None:
    err_console.print(f"warning: {message}".replace("\n", " "), markup=False)


def _catalog_failure(exc: sqlite3.Error) -> str:
    """One line for an error SQLite raised while a command read or wrote the catalog."""
    if isinstance(exc, sqlite3.DatabaseError) and is_corrupt(exc):
        return (
            f"the catalog is unreadable ({exc}); "
            "run 'modelsync reindex' to rebuild it from the commits"
        )
    return f"the catalog failed: {exc}"


def print_json(value: Any) -> None:
    """JSON on stdout, NaN and inf as strings so any parser reads it."""
    sys.stdout.write(json.dumps(json_safe(value), indent=2, default=str) + "\n")


@contextmanager
def progress_bar(description: str, enabled: bool = True) -> Iterator[Any]:
    """A Rich progress bar on stderr; yields a ``(done, total)`` callback for Repo methods."""
    if not enabled or not err_console.is_terminal or os.environ.get("MODELSYNC_NO_PROGRESS"):
        yield None
        return
    from rich.progress import (  # on first use: read commands never draw a bar
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def short(oid: str | None) -> str:
    return oid[:12] if oid else "-"
