"""The SQLite catalog (``.modelsync/index.db``): an index for fast queries, never the truth.

Everything in it is derived from commits and refs, so ``Repo.reindex`` can rebuild it at any
time. WAL mode, a busy timeout, ``BEGIN IMMEDIATE`` for writes and one connection per process
and thread (a fresh one after fork) let many writers share it without "database is locked".
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .objects import Commit
from .runindex import RUN_TABLES, index_run_commit

SCHEMA_VERSION = 2  # bump with every change to SCHEMA: a catalog at this version skips it
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


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._schema_ready = False

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        # Pages read through a memory map, not a read() each: a command's first, cold query over
        # 10,000 rows (a run's history for ``log``) takes about a third less. The catalog is a
        # local, rebuildable index; on a volume that can fail under it, an I/O error would end
        # the process (SIGBUS) rather than raise.
        conn.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
        conn.row_factory = sqlite3.Row
        if not self._schema_ready:
            self._create_schema(conn)
            self._schema_ready = True
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        """Create the tables once; a reader of an up-to-date catalog changes no byte of it."""
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with self._transaction(conn):
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @property
    def conn(self) -> sqlite3.Connection:
        """This process's and thread's connection; after a fork the child opens its own."""
        pid = os.getpid()
        if getattr(self._local, "pid", None) != pid:
            self._local.conn = self._connect()
            self._local.pid = pid
        conn: sqlite3.Connection = self._local.conn
        return conn

    @staticmethod
    @contextlib.contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (no deadlocked upgrades)."""
        return self._transaction(self.conn)

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

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
