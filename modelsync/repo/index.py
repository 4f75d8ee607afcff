"""The staging area, which is also the stat cache (as git's index is).

Each staged path records the object it will commit and the file's size, mtime, inode and mode
at the moment it was hashed. A file whose stat still matches, and that was not modified in the
same instant it was hashed ("racy git"), is known unchanged without reading it again.

Staged paths become file paths (status reads them, rm deletes them, commit makes trees of them),
so an index holding a path that no tree may hold (``objects.check_tree_path``: ``..``, an
absolute path, the control directory) is corrupt and is never used.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import IndexCorrupt, IndexLocked
from ..model.objects import (
    EXECUTABLE_MODE,
    FILE_MODE,
    EntryKind,
    MalformedObject,
    TreeEntry,
    check_tree_path,
)
from ..util.fileio import LockFile, LockTimeout, atomic_write

INDEX_VERSION = 1
_RACY_WINDOW_NS = 100_000_000


@dataclass(frozen=True)
class IndexEntry:
    kind: EntryKind
    oid: str
    size: int
    mode: str
    mtime_ns: int = 0
    inode: int = 0
    hashed_at_ns: int = 0

    def matches_stat(self, st: os.stat_result) -> bool:
        return (
            st.st_size == self.size
            and st.st_mtime_ns == self.mtime_ns
            and st.st_ino == self.inode
            and file_mode(st) == self.mode
            and st.st_mtime_ns + _RACY_WINDOW_NS < self.hashed_at_ns
        )

    @classmethod
    def for_file(cls, kind: EntryKind, oid: str, st: os.stat_result) -> IndexEntry:
        return cls(
            kind=kind,
            oid=oid,
            size=st.st_size,
            mode=file_mode(st),
            mtime_ns=st.st_mtime_ns,
            inode=st.st_ino,
            hashed_at_ns=time.time_ns(),
        )

    def tree_entry(self) -> TreeEntry:
        return TreeEntry(self.kind, self.oid, self.size, self.mode)


def file_mode(st: os.stat_result) -> str:
    return EXECUTABLE_MODE if st.st_mode & 0o111 else FILE_MODE


class Index:
    """Path (POSIX, relative to the work tree) to the entry staged for the next commit."""

    def __init__(self, path: Path, entries: dict[str, IndexEntry] | None = None) -> None:
        self.path = path
        self.entries: dict[str, IndexEntry] = entries or {}

    @classmethod
    def load(cls, path: Path) -> Index:
        try:
            raw: dict[str, Any] = json.loads(path.read_bytes())
            entries = {name: IndexEntry(**value) for name, value in raw["entries"].items()}
        except FileNotFoundError:
            return cls(path)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise IndexCorrupt(str(path), f"{type(exc).__name__}: {exc}") from exc
        for rel in entries:
            try:
                check_tree_path(rel)
            except MalformedObject as exc:
                raise IndexCorrupt(str(path), f"the staged path {rel!r} is unsafe: {exc}") from None
        return cls(path, entries)

    @classmethod
    @contextlib.contextmanager
    def locked(cls, path: Path, timeout: float) -> Iterator[Index]:
        """Load the index under ``index.lock``, so that concurrent commands never lose entries.

        Changes are kept only if the caller calls ``save`` inside the block.
        """
        lock = LockFile(path, timeout=timeout)
        try:
            lock.acquire()
        except LockTimeout as exc:
            raise IndexLocked(str(exc.lock_path), exc.owner_description) from None
        try:
            yield cls.load(path)
        finally:
            lock.release()

    def tree_entries(self) -> dict[str, TreeEntry]:
        """What the index would commit: ``{path: tree entry}``."""
        return {rel: entry.tree_entry() for rel, entry in self.entries.items()}

    def save(self) -> None:
        payload = {
            "version": INDEX_VERSION,
            "entries": {name: asdict(e) for name, e in sorted(self.entries.items())},
        }
        atomic_write(self.path, json.dumps(payload, separators=(",", ":")).encode())
