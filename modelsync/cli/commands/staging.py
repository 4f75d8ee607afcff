"""Staging and committing: add, rm, status, commit."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from ...repo.porcelain import StatusReport
from ..common import JsonOption, RepoOption, console, print_json, progress_bar, repository, short

PathsArgument = Annotated[
    list[str],
    typer.Argument(
        help="Files, directories or quoted globs ('data/**/*.csv').", show_default=False
    ),
]


def add(paths: PathsArgument, repo_path: RepoOption = None) -> None:
    """Stage files for the next commit.

    A directory adds every file below it that .modelsyncignore does not exclude; a tracked
    file deleted from disk is staged as removed.

    Example: modelsync add model.pt 'configs/*.yaml' data/
    """
    with repository(repo_path) as repo, progress_bar("Adding") as progress:
        changed = repo.add(paths, progress=progress)
    console.print(f"{len(changed)} path{'s' if len(changed) != 1 else ''} staged")


def rm(
    paths: PathsArgument,
    cached: Annotated[
        bool, typer.Option("--cached", help="Only unstage: keep the files on disk.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Delete files even with uncommitted changes.")
    ] = False,
    repo_path: RepoOption = None,
) -> None:
    """Stop tracking files, and delete them from the working tree unless --cached.

    Example: modelsync rm --cached secrets.env
    """
    with repository(repo_path) as repo:
        removed = repo.rm(paths, cached=cached, force=force)
    for rel in removed:
        console.print(Text(f"rm {rel!r}"))


def status(json_output: JsonOption = False, repo_path: RepoOption = None) -> None:
    """Show the branch, staged changes, unstaged changes and untracked files.

    Example: modelsync status --json
    """
    with repository(repo_path) as repo:
        report = repo.status()
    if json_output:
        print_json(
            {
                "branch": report.branch,
                "head": report.head,
                "staged": report.staged,
                "modified": report.modified,
                "deleted": report.deleted,
                "untracked": report.untracked,
                "clean": report.clean,
            }
        )
        return
    _print_status(report)


def _print_status(report: StatusReport) -> None:
    if report.branch is not None:
        console.print(f"On branch {report.branch}")
    else:
        console.print(f"HEAD detached at {short(report.head)}")
    if report.head is None:
        console.print("No commits yet")
    unstaged = [(p, "modified") for p in report.modified] + [(p, "deleted") for p in report.deleted]
    sections = [
        ("Changes to be committed:", "green", sorted(report.staged.items())),
        ("Changes not staged for commit:", "red", sorted(unstaged)),
        ("Untracked files:", "red", [(p, "") for p in report.untracked]),
    ]
    for title, style, rows in sections:
        if not rows:
            continue
        console.print()
        console.print(title)
        for path, state in rows:
            label = f"{state}:".ljust(10) if state else ""
            console.print(Text(f"  {label}{path}", style=style))
    if report.clean:
        console.print()
        if report.untracked:
            console.print("nothing added to commit but untracked files present")
        else:
            console.print("nothing to commit, working tree clean")


def commit(
    message: Annotated[
        str, typer.Option("--message", "-m", help="The commit message.", show_default=False)
    ] = "",
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Commit even if nothing changed.")
    ] = False,
    repo_path: RepoOption = None,
) -> None:
    """Record the staged files as a new commit on the current branch.

    Example: modelsync commit -m "baseline: lr=3e-4, 10 epochs"
    """
    with repository(repo_path) as repo:
        oid = repo.commit(message, allow_empty=allow_empty)
        where = repo.head_branch() or "detached HEAD"
    summary = message.strip().splitlines()[0]
    console.print(Text(f"[{where} {short(oid)}] {summary}"))


def register(app: typer.Typer) -> None:
    app.command()(add)
    app.command()(rm)
    app.command()(status)
    app.command()(commit)
