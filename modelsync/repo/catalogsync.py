"""Keeping the catalog in step with the refs: what a ref reaches gets indexed, now or later.

It is the repository's job, not the catalog's: the catalog (``catalog.db``) is an index fed
by commits, never the truth, and it never answers from less than the refs reach. Three rules
see to it:

1. A commit is indexed together with every ancestor the catalog lacks, in one transaction
   (``index_commit``). So below any ref's tip the indexed commits are closed under "parent of",
   and a walk from a tip stops at the first commit it finds indexed (``index_reachable``).
2. Before a ref moves to a new commit, its writer leaves a pending note naming the ref
   (``Catalog.note_pending``), and removes it once the commit is indexed. Once the ref has
   moved the commit is made: if indexing fails (a full disk, a damaged catalog) the command
   succeeds with a ``CatalogWarning`` and the note stays; a killed writer leaves it too. The
   first connection of the next process then indexes what the noted refs reach (``catch_up``)
   before anything is read from it.
3. A new catalog (the file was missing, or its schema changed) is filled from every ref before
   anyone reads it, in the transaction that creates its tables (``fill``).

Commits that cannot be read are skipped here, so that one damaged object does not stop every
command: ``fsck`` names it, and ``reindex``, which reads every commit first, refuses.
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import (
    CatalogBehind,
    CatalogWarning,
    ModelSyncError,
    ObjectError,
    RevisionError,
)
from ..model.layout import HEAD
from .history import ref_tips

if TYPE_CHECKING:
    from ..catalog.db import PendingNote
    from ..model.objects import Commit
    from .repository import Repo


def index_commit(
    repo: Repo, conn: sqlite3.Connection, oid: str, commit: Commit, run_files: dict[str, bytes]
) -> None:
    """Index a commit just made, and any of its ancestors the catalog lacks (rule 1)."""
    repo.catalog.record_commit(conn, oid, commit, run_files)
    index_reachable(repo, conn, commit.parents)


def index_reachable(repo: Repo, conn: sqlite3.Connection, tips: Iterable[str]) -> int:
    """Index the commits reachable from ``tips`` that the catalog lacks; returns how many."""
    indexed = 0
    skipped: set[str] = set()
    stack = list(tips)
    while stack:
        oid = stack.pop()
        if oid in skipped or _is_indexed(conn, oid):
            continue
        try:
            commit = repo.read_commit(oid)
            run_files = repo.run_files(commit)
        except ObjectError:
            skipped.add(oid)
            continue
        repo.catalog.record_commit(conn, oid, commit, run_files)
        indexed += 1
        stack.extend(commit.parents)
    return indexed


def _is_indexed(conn: sqlite3.Connection, oid: str) -> bool:
    return conn.execute("SELECT 1 FROM commits WHERE id = ?", (oid,)).fetchone() is not None


def fill(repo: Repo, conn: sqlite3.Connection) -> int:
    """Index everything the refs reach into a new, empty catalog (rule 3)."""
    tips = _tips(repo)
    if not tips:
        return 0
    warnings.warn(
        f"rebuilding the catalog {repo.catalog.path} from the commits the refs reach: "
        "it was missing or from another version",
        CatalogWarning,
        stacklevel=2,
    )
    return index_reachable(repo, conn, tips)


def _tips(repo: Repo) -> list[str]:
    """The commits the ref tips name (``history.ref_tips``, a tag object peeled); unreadable
    ones left out."""
    tips = []
    for oid in ref_tips(repo.refs).ids.values():
        try:
            tips.append(repo.peel(oid))
        except (ObjectError, RevisionError):
            continue
    return tips


def catch_up(repo: Repo, conn: sqlite3.Connection, notes: list[PendingNote]) -> None:
    """Index what the refs of pending notes reach (rule 2), then remove the notes, but those
    of refs a writer holds: it may be about to move one, or to index what it moved it to."""
    refs = {note.ref for note in notes if _is_ref_name(note.ref)}
    with repo.catalog.transaction(conn):
        for ref in sorted(refs):
            tip = repo.refs.resolve(ref)
            if tip is not None:
                index_reachable(repo, conn, [tip])
    for note in notes:
        if note.ref not in refs or not os.path.lexists(repo.control_dir / f"{note.ref}.lock"):
            note.remove()


def _is_ref_name(name: str) -> bool:
    """Whether a note's content can be a ref a writer noted (a damaged note names none)."""
    parts = name.split("/")
    return (name == HEAD or name.startswith("refs/")) and not any(
        part in ("", ".", "..") for part in parts
    )


def lag_warning(oid: str, exc: BaseException) -> str:
    """What a command says when its commit is made but indexing it failed."""
    if isinstance(exc, CatalogBehind) and exc.__cause__ is not None:
        exc = exc.__cause__  # catching up with earlier notes failed the same way
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, ModelSyncError):
        return f"commit {oid[:12]} is made, but the catalog could not index it: {reason}"
    return (
        f"commit {oid[:12]} is made, but the catalog could not index it ({reason}); "
        "the next command that reads the catalog indexes it"
    )
