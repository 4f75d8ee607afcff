"""History from the catalog: commits by id, and the walk ``log`` shows.

A 10,000-commit run is one query and a JSON parse per thousand rows, not 10,000 object reads;
commits the catalog does not hold (outside any run, or not indexed yet) are read from the
objects.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..model.objects import Commit, Signature

if TYPE_CHECKING:
    from ..repo.repository import Repo


class CommitCache:
    """Commits by id from the catalog (a run's whole history in one query), else from objects."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._commits: dict[str, Commit] = {}
        self._runs_loaded: set[str] = set()

    def get(self, oid: str) -> Commit:
        commit = self._commits.get(oid)
        if commit is not None:
            return commit
        row = self._conn.execute(f"{_COMMIT_ROWS} WHERE id = ?", (oid,)).fetchone()
        if row is None:
            commit = self.repo.read_commit(oid)
        else:
            commit = _commit_from_row(row)
            if row[7] and row[7] not in self._runs_loaded:
                self.load_run(row[7])
        self._commits[oid] = commit
        return commit

    def load_run(self, run: str) -> None:
        """Read every commit of ``run`` in one query."""
        self._runs_loaded.add(run)
        self._load(f"{_COMMIT_ROWS} WHERE run = ?", (run,))

    def load_all(self) -> None:
        self._load(_COMMIT_ROWS)

    def _load(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """The commits a query selects, read a thousand rows at a time (the rows of a 10,000-commit
        history are twice the size of its commits: never all held at once)."""
        cursor = self._conn.cursor()
        cursor.row_factory = None  # plain tuples: built faster than ``sqlite3.Row``s
        with contextlib.closing(cursor.execute(sql, params)):
            self._add_rows(cursor)

    def _add_rows(self, cursor: sqlite3.Cursor) -> None:
        authors: dict[tuple[str, str], Signature] = {}
        commits = self._commits
        while rows := cursor.fetchmany(LOAD_BATCH):
            # One JSON parse for the batch's metadata: per-call overhead, not parsing, is what
            # a thousand separate json.loads calls cost.
            metas = json.loads("[" + ",".join([row[8] for row in rows]) + "]")
            for row, meta in zip(rows, metas, strict=True):
                if row[0] not in commits:
                    author = authors.get((row[3], row[4]))
                    if author is None:
                        author = authors[row[3], row[4]] = Signature(row[3], row[4])
                    commits[row[0]] = _commit_from_row(row, meta, author)

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.repo.catalog.conn


LOAD_BATCH = 1000
_COMMIT_ROWS = "SELECT id, tree, parents, author, email, time, message, run, meta FROM commits"


def _commit_from_row(
    row: Sequence[Any], meta: dict[str, Any] | None = None, author: Signature | None = None
) -> Commit:
    return Commit(
        tree=row[1],
        parents=_parents(row[2]),
        author=Signature(row[3], row[4]) if author is None else author,
        timestamp=row[5],
        message=row[6],
        meta=json.loads(row[8]) if meta is None else meta,
    )


def _parents(stored: str) -> tuple[str, ...]:
    """The JSON list of parent ids; the common cases (none, one) without a JSON parse, which
    is most of the cost of reading a 10,000-commit history."""
    if stored == "[]":
        return ()
    if "," not in stored and len(stored) == 68:
        return (stored[2:-2],)
    return tuple(json.loads(stored))


def walk_log(
    cache: CommitCache, starts: Iterable[str], limit: int | None = None
) -> list[tuple[str, Commit]]:
    """Commits reachable from ``starts`` (commit ids), newest first, each once; as ``Repo.log``."""
    frontier: list[tuple[float, str]] = []
    seen: set[str] = set()
    for oid in starts:
        if oid not in seen:
            seen.add(oid)
            heapq.heappush(frontier, (-cache.get(oid).timestamp, oid))
    out: list[tuple[str, Commit]] = []
    while frontier and (limit is None or len(out) < limit):
        _, oid = heapq.heappop(frontier)
        commit = cache.get(oid)
        out.append((oid, commit))
        # A linear stretch (one parent, nothing else waiting) needs no heap: the common case
        # of a run's history.
        while not frontier and len(commit.parents) == 1 and commit.parents[0] not in seen:
            if limit is not None and len(out) >= limit:
                return out
            oid = commit.parents[0]
            seen.add(oid)
            commit = cache.get(oid)
            out.append((oid, commit))
        for parent in commit.parents:
            if parent not in seen:
                seen.add(parent)
                heapq.heappush(frontier, (-cache.get(parent).timestamp, parent))
    return out
