"""Checking and cleaning the object store: what fsck and gc do, given the roots a repository keeps.

A root is a ``(kind, id)`` pair a ref, HEAD or the staging area points at. Everything reachable
from the roots through ``objects.references`` is kept by gc; fsck verifies every stored object's
hash and reports, by id, what is corrupt or referenced but missing. gc also compresses what was
stored raw to be compressed later (``compress_deferred``), ids unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import ObjectCorrupt, ObjectMissing
from .objects import MalformedObject, references
from .store import CompressionReport, ObjectStore

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

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.missing or self.dangling_refs)

    def add_corrupt(self, oid: str) -> None:
        if oid not in self.corrupt:
            self.corrupt.append(oid)

    def add_missing(self, oid: str, context: str) -> None:
        if all(oid != known for known, _ in self.missing):
            self.missing.append((oid, context))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "corrupt": list(self.corrupt),
            "missing": [{"id": oid, "context": context} for oid, context in self.missing],
            "dangling_refs": list(self.dangling_refs),
        }


@dataclass
class GcReport:
    unreachable: list[str]
    removed: int
    bytes_freed: int
    dry_run: bool
    compressed: CompressionReport = field(default_factory=CompressionReport)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "unreachable": list(self.unreachable),
            "removed": self.removed,
            "bytes_freed": self.bytes_freed,
            "compressed_objects": self.compressed.objects,
            "compressed_bytes_before": self.compressed.bytes_before,
            "compressed_bytes_after": self.compressed.bytes_after,
        }


def reachable(
    store: ObjectStore, roots: Iterable[tuple[str, str]], report: FsckReport | None = None
) -> set[str]:
    """Every id reachable from ``roots``; what cannot be read goes into ``report``."""
    seen: set[str] = set()
    stack = [(kind, oid, "a ref") for kind, oid in roots]
    while stack:
        kind, oid, parent = stack.pop()
        if oid in seen:
            continue
        seen.add(oid)
        if kind not in STRUCTURED_KINDS:
            if not store.has(oid) and report is not None:
                report.add_missing(oid, f"{kind} referenced by {parent}")
            continue
        try:
            children = references(kind, store.get(oid))
        except ObjectMissing:
            if report is not None:
                report.add_missing(oid, f"{kind} referenced by {parent}")
            continue
        except (ObjectCorrupt, MalformedObject):
            if report is not None:
                report.add_corrupt(oid)
            continue
        stack.extend((child_kind, child, f"{kind} {oid[:12]}") for child_kind, child in children)
    return seen


def verify_objects(store: ObjectStore, report: FsckReport, progress: Progress | None) -> None:
    """Read back every stored object, which checks its hash."""
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


def collect_garbage(
    store: ObjectStore,
    keep: set[str],
    *,
    dry_run: bool,
    progress: Progress | None,
    grace: float = DEFAULT_GRACE,
) -> GcReport:
    """Remove every stored object not in ``keep`` (``dry_run``: only say which), then compress
    the objects stored raw to be compressed later.

    Objects written or reused in the last ``grace`` seconds stay even when unreachable: a
    writer in another process may have stored them and not yet moved the ref that will reach
    them (git's ``gc.pruneExpire``). ``grace=0`` prunes everything unreachable now.
    """
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
