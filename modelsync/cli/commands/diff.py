"""``modelsync diff``: what changed, path by path, with a patch for each (``repo.diff``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

# Imported for what importing it does: checkpoint entries get their per-tensor patch.
from ...checkpoints import compare as _checkpoint_patches  # noqa: F401
from ...model.layout import RUN_METADATA_FILES
from ..common import JsonOption, RepoOption, console, print_json, repository
from .runview import print_run_diff, run_diff

_LINE_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def diff(
    a: Annotated[
        str | None, typer.Argument(help="Old side: a revision.", show_default=False)
    ] = None,
    b: Annotated[
        str | None, typer.Argument(help="New side: a revision.", show_default=False)
    ] = None,
    staged: Annotated[
        bool,
        typer.Option("--staged", "--cached", help="Compare HEAD (or A) with the staged files."),
    ] = False,
    json_output: JsonOption = False,
    repo_path: RepoOption = None,
) -> None:
    """Show changes between the working tree, the staging area and commits.

    No revision: staged files vs the working tree. --staged: HEAD (or A) vs the staged files.
    A: that revision vs the working tree. A B: two revisions. Text files get a unified diff,
    other files their sizes and hashes, checkpoints a per-tensor report. Two runs (or run
    commits) start with their changed params, metric deltas and package versions; their --json
    is then an object (params, metrics, packages, files) instead of the list of files.

    Example: modelsync diff baseline tuned

    Example: modelsync diff HEAD~1 HEAD --json
    """
    with repository(repo_path) as repo:
        changes = repo.diff(a, b, staged=staged)
        patches = [repo.patch(change) for change in changes]
        runs = run_diff(repo, a, b) if a is not None and b is not None and not staged else None
    if json_output:
        pairs = zip(changes, patches, strict=True)
        files = [{**change.to_json(), "patch": patch.to_json()} for change, patch in pairs]
        print_json(files if runs is None else {**runs.to_json(), "files": files})
        return
    if runs is not None:
        print_run_diff(runs)
    for change, patch in zip(changes, patches, strict=True):
        if runs is not None and change.path in RUN_METADATA_FILES:
            continue  # summarised above
        console.print(Text(f"diff a/{change.path} b/{change.path} ({change.status})", style="bold"))
        for line in patch.lines():
            console.print(Text(line, style=_style(line)))


def _style(line: str) -> str:
    return next((style for prefix, style in _LINE_STYLES if line.startswith(prefix)), "")


def register(app: typer.Typer) -> None:
    app.command()(diff)
