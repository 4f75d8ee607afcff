"""``modelsync tag``: list, create (lightweight or annotated) and delete tags."""

from __future__ import annotations

import itertools
from typing import Annotated, Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from ...model.layout import HEAD
from ...repo.repository import Repo
from ..common import JsonOption, RepoOption, console, print_json, repository, short
from ..render.commits import tag_json


class _TagGroup(TyperGroup):
    """Also takes ``modelsync tag REV NAME [-m MSG] [-f]``, short for ``tag create NAME REV``:
    two words that are not a subcommand (a revision named list, create or delete needs the
    long form)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        words = list(itertools.takewhile(lambda arg: not arg.startswith("-"), args))
        if len(words) == 2 and words[0] not in self.commands:
            args = ["create", words[1], words[0], *args[2:]]
        return super().parse_args(ctx, args)


app = typer.Typer(name="tag", invoke_without_command=True, cls=_TagGroup)


@app.callback()
def tag(ctx: typer.Context) -> None:
    """List, create and delete tags; without a subcommand, list them.
    `modelsync tag REV NAME` is short for `modelsync tag create NAME REV`.

    Example: modelsync tag create v1.0 -m "first model we shipped"
    Example: modelsync tag baseline@best v1.0
    """
    if ctx.invoked_subcommand is None:
        list_tags()


def _tag_row(repo: Repo, name: str, value: str) -> dict[str, Any]:
    commit = repo.peel(value)
    annotation = repo.read_tag(value) if value != commit else None
    return {
        "name": name,
        "commit": commit,
        "annotated": annotation is not None,
        "tag": tag_json(annotation) if annotation else None,
    }


@app.command("list")
def list_tags(json_output: JsonOption = False, repo_path: RepoOption = None) -> None:
    """List tags with the commit each names.

    Example: modelsync tag list --json
    """
    with repository(repo_path) as repo:
        rows = [_tag_row(repo, name, value) for name, value in sorted(repo.tags().items())]
    if json_output:
        print_json(rows)
        return
    width = max((len(row["name"]) for row in rows), default=0)
    for row in rows:
        line = Text(row["name"].ljust(width), style="yellow")
        line.append(f"  {short(row['commit'])}")
        if row["tag"] is not None:
            summary = (row["tag"]["message"].splitlines() or [""])[0]
            line.append(f"  {summary}")
        console.print(line)


@app.command("create")
def create_tag(
    name: Annotated[str, typer.Argument(help="The tag's name.")],
    rev: Annotated[str, typer.Argument(help="The commit it names.")] = HEAD,
    message: Annotated[
        str | None,
        typer.Option("--message", "-m", help="Make an annotated tag with this message."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace the tag if it already exists.")
    ] = False,
    repo_path: RepoOption = None,
) -> None:
    """Tag REV (HEAD by default); with -m the tag is annotated (tagger, date, message).

    Example: modelsync tag create best runs/baseline~3 -m "lowest val loss"
    """
    with repository(repo_path) as repo:
        oid = repo.create_tag(name, rev, message=message, force=force)
    console.print(Text(f"Tagged {short(oid)} as {name!r}"))


@app.command("delete")
def delete_tag(
    name: Annotated[str, typer.Argument(help="The tag to delete.")],
    repo_path: RepoOption = None,
) -> None:
    """Delete a tag (the commit it named stays on its branches).

    Example: modelsync tag delete v0.9
    """
    with repository(repo_path) as repo:
        oid = repo.delete_tag(name)
    console.print(Text(f"Deleted tag {name!r} (was {short(oid)})"))


def register(main: typer.Typer) -> None:
    main.add_typer(app)
