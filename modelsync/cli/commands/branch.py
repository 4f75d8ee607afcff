"""``modelsync branch``: list, create and delete branches (a run is the branch ``runs/<name>``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from ...model.layout import HEAD
from ..common import JsonOption, RepoOption, console, print_json, repository, short

app = typer.Typer(name="branch", invoke_without_command=True)


@app.callback()
def branch(ctx: typer.Context) -> None:
    """List, create and delete branches; without a subcommand, list them.

    Example: modelsync branch create experiment HEAD~1
    """
    if ctx.invoked_subcommand is None:
        list_branches()


@app.command("list")
def list_branches(json_output: JsonOption = False, repo_path: RepoOption = None) -> None:
    """List branches and runs; * marks the one HEAD is on.

    Example: modelsync branch list --json
    """
    with repository(repo_path) as repo:
        current = repo.head_branch()
        rows: list[dict[str, Any]] = [
            {
                "name": name,
                "commit": oid,
                "current": name == current,
                "summary": repo.read_commit(repo.peel(oid)).summary,
            }
            for name, oid in sorted(repo.branches().items())
        ]
    if json_output:
        print_json(rows)
        return
    width = max((len(row["name"]) for row in rows), default=0)
    for row in rows:
        marker = "*" if row["current"] else " "
        line = Text(f"{marker} ")
        line.append(row["name"].ljust(width), style="green" if row["current"] else "")
        line.append(f"  {short(row['commit'])} {row['summary']}")
        console.print(line)


@app.command("create")
def create_branch(
    name: Annotated[str, typer.Argument(help="The new branch's name.")],
    rev: Annotated[str, typer.Argument(help="Where it starts.")] = HEAD,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Move the branch if it already exists.")
    ] = False,
    repo_path: RepoOption = None,
) -> None:
    """Create a branch at REV (HEAD by default) without switching to it.

    Example: modelsync branch create baseline-v2 runs/baseline
    """
    with repository(repo_path) as repo:
        oid = repo.create_branch(name, rev, force=force)
    console.print(Text(f"Created branch {name!r} at {short(oid)}"))


@app.command("delete")
def delete_branch(
    name: Annotated[str, typer.Argument(help="The branch to delete.")],
    force: Annotated[
        bool,
        typer.Option("--force", "-f", help="Delete even if its commits are on no other branch."),
    ] = False,
    repo_path: RepoOption = None,
) -> None:
    """Delete a branch.

    Refuses the checked-out branch, and (without --force) a branch whose commits no other
    branch, tag or HEAD reaches.

    Example: modelsync branch delete runs/failed-try --force
    """
    with repository(repo_path) as repo:
        oid = repo.delete_branch(name, force=force)
    console.print(Text(f"Deleted branch {name!r} (was {short(oid)})"))


def register(main: typer.Typer) -> None:
    main.add_typer(app)
