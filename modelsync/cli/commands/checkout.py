"""Moving HEAD: checkout (switch the working tree to a revision) and reset (move the branch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from ...model.layout import HEAD
from ..common import RepoOption, console, exit_with_error, repository, short
from . import tensors


def checkout(
    rev: Annotated[str, typer.Argument(help="Branch, run, tag or commit to switch to.")] = HEAD,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Discard local changes that are in the way.")
    ] = False,
    new_branch: Annotated[
        str | None,
        typer.Option("-b", help="Create a branch NEW at REV and switch to it.", metavar="NEW"),
    ] = None,
    to: Annotated[
        Path | None,
        typer.Option(
            "--to",
            help="Write REV's checkpoint into DIR as a standard file instead of switching.",
            metavar="DIR",
        ),
    ] = None,
    export_format: Annotated[
        str, typer.Option("--format", help="With --to: ckpt (torch.save) or safetensors.")
    ] = "ckpt",
    trusted: Annotated[
        bool, typer.Option("--trusted", help="With --to: allow unpickling stored values.")
    ] = False,
    repo_path: RepoOption = None,
) -> None:
    """Switch the working tree, the staging area and HEAD to REV.

    A branch or run name keeps HEAD on that branch; anything else detaches it. Refuses to
    overwrite uncommitted changes unless --force. With --to DIR, only writes REV's checkpoint
    there (checkpoint.ckpt, or model.safetensors with --format safetensors).

    Example: modelsync checkout -b try-lr-1e-3 runs/baseline~2
    Example: modelsync checkout runs/baseline@best --to export/ --format safetensors
    """
    if to is not None:
        with repository(repo_path) as repo:
            written = tensors.export(repo, rev, to, export_format, trusted=trusted)
        console.print(Text(f"Wrote {written}"))
        return
    with repository(repo_path) as repo:
        oid = repo.checkout(rev, force=force, create_branch=new_branch)
        branch = repo.head_branch()
        summary = repo.read_commit(oid).summary
    if new_branch is not None:
        console.print(Text(f"Switched to a new branch {new_branch!r}"))
    elif branch is not None:
        console.print(Text(f"Switched to branch {branch!r}"))
    else:
        console.print(Text(f"HEAD is now at {short(oid)} {summary} (detached)"))


def reset(
    rev: Annotated[str, typer.Argument(help="The commit to move the current branch to.")] = HEAD,
    soft: Annotated[bool, typer.Option("--soft", help="Move the branch only.")] = False,
    mixed: Annotated[
        bool, typer.Option("--mixed", help="Also reset the staging area (the default).")
    ] = False,
    hard: Annotated[
        bool, typer.Option("--hard", help="Also reset the working tree: drops local changes.")
    ] = False,
    repo_path: RepoOption = None,
) -> None:
    """Move the current branch (or detached HEAD) to REV.

    Example: modelsync reset --hard HEAD~1
    """
    chosen = [name for name, flag in (("soft", soft), ("mixed", mixed), ("hard", hard)) if flag]
    if len(chosen) > 1:
        exit_with_error("choose one of --soft, --mixed and --hard")
    with repository(repo_path) as repo:
        oid = repo.reset(rev, mode=chosen[0] if chosen else "mixed")
        summary = repo.read_commit(oid).summary
    console.print(Text(f"HEAD is now at {short(oid)} {summary}"))


def register(app: typer.Typer) -> None:
    app.command()(checkout)
    app.command()(reset)
