"""How commits, tree entries and ref names look in the commands' text and ``--json`` output."""

from __future__ import annotations

import functools
import json
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from rich.text import Text

from ...errors import ObjectError
from ...model.objects import Commit, Tag, TreeEntry
from ...repo.repository import Repo
from ..common import console, short


def format_date(timestamp: float) -> str:
    """Local time with its UTC offset: ``2026-11-20 00:46:02 +0000``.

    ``log`` formats 10,000 of them, mostly seconds apart; the minute's text is formatted once
    and the seconds put in. Zone changes fall on whole minutes, so a minute has one offset.
    """
    minute, second = divmod(math.floor(timestamp), 60)
    around = _minute_text(minute)
    if around is None:
        return time.strftime(DATE_FORMAT, time.localtime(timestamp))
    return f"{around[0]}{second:02d}{around[1]}"


DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"


@functools.lru_cache(maxsize=256)
def _minute_text(minute: int) -> tuple[str, str] | None:
    """``('2026-11-20 00:46:', ' +0000')``: a minute's local text around its seconds; None
    where the zone's offset then was not whole minutes (old local mean times) or the year is
    not four digits."""
    local = time.localtime(minute * 60)
    if local.tm_sec != 0 or not 1000 <= local.tm_year <= 9999:
        return None
    text = time.strftime(DATE_FORMAT, local)
    return text[:17], text[19:]


def commit_json(oid: str, commit: Commit, refs: Iterable[str] = ()) -> dict[str, Any]:
    return {
        "id": oid,
        "tree": commit.tree,
        "parents": list(commit.parents),
        "author": commit.author.to_json(),
        "time": commit.timestamp,
        "date": format_date(commit.timestamp),
        "message": commit.message,
        "meta": commit.meta,
        "refs": list(refs),
    }


def tag_json(tag: Tag) -> dict[str, Any]:
    return {
        "name": tag.name,
        "object": tag.target,
        "tagger": tag.tagger.to_json(),
        "time": tag.timestamp,
        "date": format_date(tag.timestamp),
        "message": tag.message,
    }


def entry_json(path: str, entry: TreeEntry) -> dict[str, Any]:
    return {"path": path, **entry.to_json()}


def entry_line(path: str, entry: TreeEntry) -> str:
    from ...repo.diff import format_size  # imported by the commands that list files, not by ``log``

    return f"{entry.kind:<10} {format_size(entry.size):>10}  {short(entry.oid)}  {path}"


def meta_lines(meta: dict[str, Any]) -> list[str]:
    """One ``key: value`` line per item; nested values as compact JSON."""
    lines = []
    for key, value in sorted(meta.items()):
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        lines.append(f"{key}: {shown}")
    return lines


def ref_labels(repo: Repo) -> dict[str, list[str]]:
    """For each commit a ref points at, the labels ``log`` shows: ``HEAD -> main``, ``tag: v1``."""
    labels: dict[str, list[str]] = defaultdict(list)
    head_branch = repo.head_branch()
    head = repo.head_commit()
    if head is not None and head_branch is None:
        labels[head].append("HEAD")
    for name, oid in sorted(repo.branches().items()):
        labels[oid].append(f"HEAD -> {name}" if name == head_branch else name)
    for name, oid in sorted(repo.tags().items()):
        try:
            labels[repo.peel(oid)].append(f"tag: {name}")
        except ObjectError:
            continue
    return labels


def print_commit_header(oid: str, commit: Commit, labels: list[str]) -> None:
    header = Text(f"commit {oid}", style="yellow")
    if labels:
        header.append(f" ({', '.join(labels)})", style="bold cyan")
    console.print(header)
    console.print(Text(f"Author: {commit.author.name} <{commit.author.email}>"))
    console.print(Text(f"Date:   {format_date(commit.timestamp)}"))


def print_message(message: str) -> None:
    console.print()
    for line in message.splitlines() or [""]:
        console.print(Text(f"    {line}"))
    console.print()
