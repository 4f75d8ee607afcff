"""Reading history: log and show.

``show`` prints a commit's header and message, then one section per thing the commit holds
(its metadata, its files). A kind of content with more to say (a checkpoint's tensors, a run's
metrics) adds a function to ``SHOW_SECTIONS`` that returns a ``Section`` when the commit has it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.text import Text

from ...model.layout import HEAD
from ...model.objects import Commit, Tag, TreeEntry
from ...repo.repository import Repo
from ..common import (
    JsonOption,
    RepoOption,
    console,
    exit_with_error,
    print_json,
    repository,
)
from ..render.commits import (
    commit_json,
    entry_json,
    entry_line,
    format_date,
    meta_lines,
    print_commit_header,
    print_message,
    ref_labels,
    tag_json,
)
from ..render.log import log_labels, log_lines, read_log
from ..render.tables import print_segments


def log(
    rev: Annotated[
        str | None,
        typer.Argument(
            help="Where to start (run, branch, tag, hash, foo~2; default HEAD).",
            show_default=False,
        ),
    ] = None,
    oneline: Annotated[bool, typer.Option("--oneline", help="One line per commit.")] = False,
    graph: Annotated[
        bool, typer.Option("--graph", help="Draw branches and forks to the left.")
    ] = False,
    all_refs: Annotated[
        bool, typer.Option("--all", help="Every branch (runs included) and tag, not just REV.")
    ] = False,
    max_count: Annotated[
        int | None,
        typer.Option("--max-count", "-n", min=0, help="Show at most N commits."),
    ] = None,
    json_output: JsonOption = False,
    repo_path: RepoOption = None,
) -> None:
    """List commits reachable from REV, newest first.

    A run's commits show the step, epoch and metrics at that point; --graph draws forks and
    merges, --all starts from every branch and tag.

    Example: modelsync log baseline --oneline -n 10
    Example: modelsync log --all --graph --oneline
    """
    if all_refs and rev is not None:
        exit_with_error("give a revision or --all, not both")
    with repository(repo_path) as repo:
        commits = read_log(repo, [rev or HEAD], all_refs=all_refs, limit=max_count)
        labels = log_labels(repo, commits)
    if json_output:
        print_json([commit_json(oid, commit, labels.get(oid, ())) for oid, commit in commits])
        return
    if not commits:
        console.print("No commits yet: 'modelsync add' and 'modelsync commit', or start a run.")
        return
    print_segments(log_lines(commits, labels, oneline=oneline, graph=graph))


@dataclass(frozen=True)
class CommitView:
    """What ``show`` knows of one commit."""

    oid: str
    commit: Commit
    files: dict[str, TreeEntry]
    tag: Tag | None


@dataclass(frozen=True)
class Section:
    """One part of ``show``'s output: its key and value in ``--json``, its title and lines."""

    key: str
    value: Any
    title: str
    lines: list[str]


def meta_section(repo: Repo, view: CommitView) -> Section | None:
    if not view.commit.meta:
        return None
    return Section("meta", view.commit.meta, "Meta:", meta_lines(view.commit.meta))


def files_section(repo: Repo, view: CommitView) -> Section:
    files = sorted(view.files.items())
    return Section(
        "files",
        [entry_json(path, entry) for path, entry in files],
        f"Files ({len(files)}):",
        [entry_line(path, entry) for path, entry in files],
    )


SHOW_SECTIONS: list[Callable[[Repo, CommitView], Section | None]] = [meta_section, files_section]


def show(
    rev: Annotated[str, typer.Argument(help="The commit to show (any revision).")] = HEAD,
    json_output: JsonOption = False,
    repo_path: RepoOption = None,
) -> None:
    """Show a commit: its header, message, metadata and the files of its tree.

    Example: modelsync show v1.0 --json
    """
    with repository(repo_path) as repo:
        oid = repo.resolve(rev)
        commit = repo.read_commit(oid)
        view = CommitView(oid, commit, repo.flatten_tree(commit.tree), repo.tag_object(rev))
        sections = [s for build in SHOW_SECTIONS if (s := build(repo, view)) is not None]
        labels = ref_labels(repo).get(oid, [])
    if json_output:
        document = commit_json(oid, commit, labels)
        document["tag"] = tag_json(view.tag) if view.tag else None
        document.update({section.key: section.value for section in sections})
        print_json(document)
        return
    if view.tag is not None:
        _print_tag(view.tag)
    print_commit_header(oid, commit, labels)
    print_message(commit.message)
    for section in sections:
        console.print(Text(section.title, style="bold"))
        for line in section.lines:
            console.print(Text(f"    {line}"))


def _print_tag(tag: Tag) -> None:
    console.print(Text(f"tag {tag.name}", style="yellow"))
    console.print(Text(f"Tagger: {tag.tagger.name} <{tag.tagger.email}>"))
    console.print(Text(f"Date:   {format_date(tag.timestamp)}"))
    print_message(tag.message)


def register(app: typer.Typer) -> None:
    app.command()(log)
    app.command()(show)
