"""Checking and cleaning the object store: what fsck and gc do, given the roots a repository keeps.

A root is a ``(kind, id)`` pair a ref, HEAD or the staging area points at. Everything reachable
from the roots through ``objects.references`` is kept by gc; fsck verifies every stored object's
hash and reports, by id, what is corrupt or referenced but missing. gc also compresses what was
stored raw to be compressed later (``compress_deferred``), ids unchanged.

gc never deletes history it cannot read: an object the walk from the roots cannot read may refer
to anything, so what lies below it only looks unreachable. A walk that meets one raises
``RepositoryCorrupt`` before anything is removed (there is no way to force it: fsck first).

Both also deal with lock files their writers left behind (``fileio.LockHolder.stale``): fsck
lists them (``repair`` removes them), gc removes them. They never make fsck fail: the next writer
removes a stale lock by itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ObjectCorrupt, ObjectMissing, RepositoryCorrupt
from ..model.objects import MalformedObject, references
from ..store import CompressionReport, ObjectReader, ObjectStore
from ..util.fileio import read_lock, remove_stale_lock

DEFAULT_GRACE = 3600.0
STRUCTURED_KINDS = frozenset({"tree", "file", "commit", "tag", "checkpoint"})
"""Kinds whose content points at other objects; the rest (blob, chunk) are raw bytes."""

Progress = Callable[[int, int], None]


@dataclass
class FsckReport:
    checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    dangling_refs: list[str] = field(default_factory=list)
    damaged_files: list[tuple[str, str]] = field(default_factory=list)
    """(path, what is wrong) of each damaged pack or pack index (``check_files``)."""
    stale_locks: list[tuple[str, str]] = field(default_factory=list)
    """(path, why it is stale) of each lock file whose writer is gone."""
    repaired: bool = False
    """The stale locks were removed."""

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.missing or self.dangling_refs or self.damaged_files)

    def problems(self) -> list[str]:
        """One phrase per corrupt or missing object and dangling ref, naming it."""
        return [
            *(f"object {oid} is corrupt" for oid in self.corrupt),
            *(f"object {oid} is missing ({context})" for oid, context in self.missing),
            *(f"ref {name} points at no object" for name in self.dangling_refs),
            *(f"{path} is damaged ({why})" for path, why in self.damaged_files),
        ]

    def add_corrupt(self, oid: str) -> None:
        if oid not in self.corrupt:
            self.corrupt.append(oid)

    def add_missing(self, oid: str, context: str) -> None:
        if all(oid != known for known, _ in self.missing):
            self.missing.append((oid, context))

    def add_dangling_ref(self, name: str) -> None:
        if name not in self.dangling_refs:
            self.dangling_refs.append(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "corrupt": list(self.corrupt),
            "missing": [{"id": oid, "context": context} for oid, context in self.missing],
            "dangling_refs": list(self.dangling_refs),
            "damaged_files": [{"path": path, "problem": why} for path, why in self.damaged_files],
            "stale_locks": [{"path": path, "reason": why} for path, why in self.stale_locks],
            "repaired": self.repaired,
        }


@dataclass
class GcReport:
    unreachable: list[str]
    removed: int
    bytes_freed: int
    dry_run: bool
    compressed: CompressionReport = field(default_factory=CompressionReport)
    stale_locks: list[tuple[str, str]] = field(default_factory=list)
    """(path, why it was stale) of each lock file removed."""

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "unreachable": list(self.unreachable),
            "removed": self.removed,
            "bytes_freed": self.bytes_freed,
            "compressed_objects": self.compressed.objects,
            "compressed_bytes_before": self.compressed.bytes_before,
            "compressed_bytes_after": self.compressed.bytes_after,
            "stale_locks_removed": [
                {"path": path, "reason": why} for path, why in self.stale_locks
            ],
        }


def reachable(
    store: ObjectReader, roots: Iterable[tuple[str, str]], report: FsckReport | None = None
) -> set[str]:
    """Every id reachable from ``roots``. What cannot be read goes into ``report``; without
    one, ``RepositoryCorrupt`` names it once the walk is done (the set would be incomplete)."""
    if report is not None:
        return _walk(store, roots, report)
    damage = FsckReport()
    seen = _walk(store, roots, damage)
    if not damage.ok:
        raise RepositoryCorrupt(damage.problems())
    return seen


def _walk(store: ObjectReader, roots: Iterable[tuple[str, str]], report: FsckReport) -> set[str]:
    seen: set[str] = set()
    stack = [(kind, oid, "a ref") for kind, oid in roots]
    while stack:
        kind, oid, parent = stack.pop()
        if oid in seen:
            continue
        seen.add(oid)
        if kind not in STRUCTURED_KINDS:
            if not store.has(oid):
                report.add_missing(oid, f"{kind} referenced by {parent}")
            continue
        try:
            children = references(kind, store.get(oid))
        except ObjectMissing:
            report.add_missing(oid, f"{kind} referenced by {parent}")
            continue
        except (ObjectCorrupt, MalformedObject):
            report.add_corrupt(oid)
            continue
        stack.extend((child_kind, child, f"{kind} {oid[:12]}") for child_kind, child in children)
    return seen


def verify_objects(store: ObjectStore, report: FsckReport, progress: Progress | None) -> None:
    """Read back every stored object, which checks its hash; then name the files that hold
    the corrupt ones, and every pack or pack index that is damaged (a truncated index hides
    objects, which would otherwise only read as missing)."""
    ids = list(store.iter_ids())
    for done, oid in enumerate(ids, 1):
        try:
            store.get(oid)
        except ObjectCorrupt:
            report.add_corrupt(oid)
        except ObjectMissing as exc:
            report.add_missing(oid, f"listed in the store but unreadable: {exc}")
        report.checked += 1
        if progress:
            progress(done, len(ids))
    damaged = store.check_files(report.corrupt)
    report.damaged_files += [(str(path), why) for path, why in damaged]


def collect_garbage(
    store: ObjectStore,
    roots: Iterable[tuple[str, str]],
    *,
    dry_run: bool,
    progress: Progress | None,
    grace: float = DEFAULT_GRACE,
) -> GcReport:
    """Remove every stored object not reachable from ``roots`` (``dry_run``: only say which),
    then compress the objects stored raw to be compressed later.

    ``RepositoryCorrupt``, removing nothing, when the walk from ``roots`` meets an object it
    cannot read. Objects written or reused in the last ``grace`` seconds stay even when
    unreachable: a writer in another process may have stored them and not yet moved the ref
    that will reach them (git's ``gc.pruneExpire``). ``grace=0`` prunes everything unreachable
    now.
    """
    keep = reachable(store, roots)
    ids = list(store.iter_ids())
    unreachable = []
    freed = 0
    cutoff = time.time() - grace
    for done, oid in enumerate(ids, 1):
        if oid not in keep and (grace <= 0 or store.written_at(oid) < cutoff):
            unreachable.append(oid)
            freed += store.stored_size(oid)
        if progress:
            progress(done, len(ids))
    report = GcReport(unreachable=unreachable, removed=0, bytes_freed=freed, dry_run=dry_run)
    if not dry_run:
        report.removed = store.remove(set(unreachable))
        store.remove_stale_temporaries()
        report.compressed = store.compress_deferred()
    return report


def lock_files(control_dir: Path) -> list[Path]:
    """Every lock file of a repository: HEAD's and the staging area's at the top of the control
    directory, and each ref's under ``refs/``."""
    found = sorted(control_dir.glob("*.lock"))
    for dirpath, _dirs, files in os.walk(control_dir / "refs"):
        found += sorted(Path(dirpath) / name for name in files if name.endswith(".lock"))
    return found


def stale_locks(locks: Iterable[Path]) -> list[tuple[str, str]]:
    """(path, why it is stale) of each lock of ``locks`` whose writer is gone."""
    found = []
    for path in locks:
        holder = read_lock(path)
        if holder is not None and holder.stale:
            found.append((str(path), holder.why_stale()))
    return found


def remove_stale_locks(locks: Iterable[Path]) -> list[tuple[str, str]]:
    """Remove each stale lock of ``locks``; (path, why it was stale) of those removed."""
    removed = []
    for path in locks:
        holder = remove_stale_lock(path)
        if holder is not None:
            removed.append((str(path), holder.why_stale()))
    return removed
