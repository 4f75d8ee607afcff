"""The SQLite catalog (``.modelsync/index.db``): an index for fast queries, never the truth.

Everything in it is derived from commits and refs, so ``Repo.reindex`` can rebuild it at any
time. WAL mode, a busy timeout, ``BEGIN IMMEDIATE`` for writes and one connection per process
and thread (a fresh one after fork) let many writers share it without "database is locked".

It never answers from less than the refs reach (``repo.catalogsync`` says how commits get in):

- A catalog without the current schema (a missing file, or one from another version) is filled
  (``fill``) in the transaction that creates its tables, and ``user_version`` is set in that
  transaction too: a current schema means a filled catalog, and no reader sees it empty.
- A writer leaves a pending note beside the file (``index.db-pending-<random>``, holding a ref
  name) before it moves that ref, and removes it once the commit is indexed. The first
  connection of each process hands the notes left behind (indexing failed, or the writer was
  killed) to ``catch_up`` before anything is read; if that fails, ``CatalogBehind``.
- A file SQLite cannot read is ``CatalogCorrupt``, one line that points to ``reindex``;
  ``rebuild`` moves it aside (``index.db.corrupt-<time>``, with its -wal and -shm) first.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CatalogBehind, CatalogCorrupt, CatalogWarning
from ..model.objects import Commit
from .runs import RUN_TABLES, index_run_commit

SCHEMA_VERSION = 2  # bump with every change to SCHEMA: a catalog at another version is rebuilt
BUSY_TIMEOUT_MS = 60_000

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS commits (
        id TEXT PRIMARY KEY,
        tree TEXT NOT NULL,
        parents TEXT NOT NULL,
        author TEXT NOT NULL,
        email TEXT NOT NULL,
        time REAL NOT NULL,
        message TEXT NOT NULL,
        run TEXT,
        step INTEGER,
        epoch INTEGER,
        meta TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS commits_run ON commits(run, time)",
    *RUN_TABLES,
]


MMAP_SIZE = 256 << 20
PENDING_INFIX = "-pending-"
_CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)

Fill = Callable[[sqlite3.Connection], int]
"""Index everything the refs reach into an empty catalog, in the caller's transaction; returns
the number of commits indexed."""


@dataclass(frozen=True)
class PendingNote:
    """A ref that may have moved to a commit the catalog lacks (see the module docstring)."""

    path: Path
    ref: str
    """The full ref name (``refs/heads/main``, ``HEAD`` when detached); empty when unreadable."""

    def remove(self) -> None:
        """Done with: the commit is indexed. Removed by whoever gets there first."""
        with contextlib.suppress(OSError):
            os.unlink(self.path)


CatchUp = Callable[[sqlite3.Connection, list[PendingNote]], None]
"""Index what the refs of the notes reach (the catalog may lack it); remove notes done with."""


def is_corrupt(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed because the file is no database, or a damaged one."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _CORRUPT_CODES


class Catalog:
    def __init__(
        self, path: Path, *, fill: Fill | None = None, catch_up: CatchUp | None = None
    ) -> None:
        self.path = path
        self._fill = fill
        self._catch_up = catch_up
        self._local = threading.local()
        self._schema_ready = False
        self._caught_up_pid: int | None = None

    def _connect(self, fill: Fill | None) -> tuple[sqlite3.Connection, int | None]:
        """A connection, with the schema created (and ``fill`` run) if it was not current;
        the number of commits that filled it, or None when it was current."""
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Pages read through a memory map, not a read() each: a command's first, cold query
            # over 10,000 rows (a run's history for ``log``) takes about a third less. The
            # catalog is a local, rebuildable index; on a volume that can fail under it, an I/O
            # error would end the process (SIGBUS) rather than raise.
            conn.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
            conn.row_factory = sqlite3.Row
            filled = None
            if not self._schema_ready:
                filled = self._create_schema(conn, fill)
                self._schema_ready = True
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.DatabaseError) and is_corrupt(exc):
                raise CatalogCorrupt(str(self.path), str(exc)) from exc
            raise
        return conn, filled

    def _create_schema(self, conn: sqlite3.Connection, fill: Fill | None) -> int | None:
        """Create the tables and fill them, once; a reader of a current catalog changes no byte."""
        if _user_version(conn) == SCHEMA_VERSION:
            return None
        with self.transaction(conn):
            if _user_version(conn) == SCHEMA_VERSION:
                return None  # another process made it while this one waited for the lock
            _drop_tables(conn)
            for statement in SCHEMA:
                conn.execute(statement)
            filled = fill(conn) if fill is not None else 0
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return filled

    @property
    def conn(self) -> sqlite3.Connection:
        """This process's and thread's connection; after a fork the child opens its own.

        The first one of a process catches up with the pending notes before it is handed out.
        """
        pid = os.getpid()
        if getattr(self._local, "pid", None) != pid:
            self._local.conn, _filled = self._connect(self._fill)
            self._local.pid = pid
            if self._caught_up_pid != pid:
                self._index_pending(self._local.conn)
        conn: sqlite3.Connection = self._local.conn
        return conn

    def catch_up_pending(self) -> None:
        """Index what pending notes left since this process's first connection point at: a
        long-lived process (``modelsync serve``) calls it before each request it answers, so
        another process's failed indexing shows up without a restart. One directory listing
        when there are none."""
        self._index_pending(self.conn)

    def _index_pending(self, conn: sqlite3.Connection) -> None:
        """Hand the pending notes to ``catch_up``; if that fails, this connection is dropped, so
        that the next use tries again rather than read a catalog that lags."""
        notes = self.pending()
        if notes and self._catch_up is not None:
            try:
                self._catch_up(conn, notes)
            except BaseException as exc:
                self._drop_connection()
                if isinstance(exc, sqlite3.DatabaseError) and is_corrupt(exc):
                    raise CatalogCorrupt(str(self.path), str(exc)) from exc
                if isinstance(exc, sqlite3.Error | OSError):
                    raise CatalogBehind(str(self.path), str(exc)) from exc
                raise
        self._caught_up_pid = os.getpid()

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.pid = None

    @staticmethod
    @contextlib.contextmanager
    def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """A write transaction on ``conn`` that takes the write lock up front."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # SQLite ends it itself after some errors (a full disk)
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (no deadlocked upgrades)."""
        return self.transaction(self.conn)

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------ pending notes
    def note_pending(self, ref: str) -> PendingNote:
        """Note, before ``ref`` moves, that the catalog may lack where it goes. Not fsync'd: it
        guards against a killed writer, not a power cut (``synchronous=NORMAL`` does neither)."""
        path = self.path.with_name(f"{self.path.name}{PENDING_INFIX}{os.urandom(8).hex()}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, ref.encode("utf-8"))
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        return PendingNote(path, ref)

    def pending(self) -> list[PendingNote]:
        """The notes left beside the catalog: one directory listing when there are none."""
        prefix = self.path.name + PENDING_INFIX
        try:
            with os.scandir(self.path.parent) as entries:
                paths = [Path(e.path) for e in entries if e.name.startswith(prefix)]
        except FileNotFoundError:
            return []
        notes = []
        for path in paths:
            try:
                ref = path.read_bytes().decode("utf-8")
            except FileNotFoundError:
                continue  # its writer was done with it meanwhile
            except (OSError, UnicodeDecodeError):
                ref = ""
            notes.append(PendingNote(path, ref))
        return notes

    # ------------------------------------------------------------------ rebuild
    def rebuild(self, fill: Fill) -> int:
        """Empty the catalog and ``fill`` it in one transaction (readers see the old or the new
        one); returns what ``fill`` returned. A file SQLite cannot read is moved aside first.
        """
        self.close()
        if not self._readable():
            moved = self.set_aside()
            warnings.warn(
                f"the catalog {self.path} was unreadable: moved it aside to {moved.name}",
                CatalogWarning,
                stacklevel=3,
            )
        conn, filled = self._connect(fill)
        self._local.conn, self._local.pid = conn, os.getpid()
        if filled is None:
            with self.transaction(conn):
                self.clear_tables(conn)
                filled = fill(conn)
        self._index_pending(conn)
        return filled

    def _readable(self) -> bool:
        """Whether SQLite finds the file (missing: fine) to be an undamaged database."""
        if not self.path.exists():
            return True
        try:
            checker = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
            with contextlib.closing(checker):
                return checker.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        except sqlite3.DatabaseError as exc:
            if is_corrupt(exc):
                return False
            raise

    def set_aside(self) -> Path:
        """Move the catalog file, and its -wal and -shm, to ``index.db.corrupt-<time>``; returns
        the new path of the file. The journal files go first: a new file must never meet them."""
        self.close()
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        number = 1
        while target.exists():
            number += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{number}")
        for suffix in ("-wal", "-shm", ""):
            with contextlib.suppress(FileNotFoundError):
                os.rename(f"{self.path}{suffix}", f"{target}{suffix}")
        self._schema_ready = False
        return target

    # ------------------------------------------------------------------ commits
    def record_commit(
        self,
        conn: sqlite3.Connection,
        oid: str,
        commit: Commit,
        run_files: Mapping[str, bytes] | None = None,
    ) -> None:
        """Index a commit; ``run_files`` (a run commit's run.json, params.json, metrics.seg)
        also index its run, params and metric points."""
        meta = commit.meta
        conn.execute(
            "INSERT OR REPLACE INTO commits VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                oid,
                commit.tree,
                json.dumps(list(commit.parents)),
                commit.author.name,
                commit.author.email,
                commit.timestamp,
                commit.message,
                meta.get("run"),
                meta.get("step"),
                meta.get("epoch"),
                json.dumps(meta, allow_nan=True, sort_keys=True),
            ),
        )
        if run_files:
            index_run_commit(conn, oid, commit, run_files)

    def commit_ids_with_prefix(self, prefix: str) -> list[str]:
        upper = prefix + "g"
        rows = self.query(
            "SELECT id FROM commits WHERE id >= ? AND id < ? LIMIT 10", (prefix, upper)
        )
        return [row["id"] for row in rows]

    def clear(self) -> None:
        with self.write() as conn:
            self.clear_tables(conn)

    @staticmethod
    def clear_tables(conn: sqlite3.Connection) -> None:
        """Empty every table inside the caller's transaction (reindex refills them in it)."""
        for (table,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall():
            conn.execute(f'DELETE FROM "{table}"')

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local = threading.local()


def _user_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def _drop_tables(conn: sqlite3.Connection) -> None:
    """Drop what another schema version made (its indexes go with its tables)."""
    for (table,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall():
        conn.execute(f'DROP TABLE "{table}"')
