"""``modelsync init``: create a repository (the pattern every command follows)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ...repo.repository import Repo
from ..common import console, handle_errors


def init(
    path: Annotated[Path, typer.Argument(help="Where to create the repository.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="Author name for commits.")] = None,
    email: Annotated[str | None, typer.Option(help="Author email for commits.")] = None,
) -> None:
    """Create an empty repository (.modelsync/) in PATH.

    Example: modelsync init --name "Ada" --email ada@example.com
    """
    with handle_errors():
        repo = Repo.init(path, name=name, email=email)
    console.print(f"Initialized empty ModelSync repository in {repo.control_dir}")


def register(app: typer.Typer) -> None:
    app.command()(init)
