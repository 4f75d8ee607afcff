"""Every error ModelSync raises on purpose.

    ModelSyncError
     ├── RepositoryError
     │    ├── RepositoryNotFound        no .modelsync/ here or above
     │    ├── RepositoryExists          init over an existing repository
     │    ├── InvalidConfig             config.toml does not parse or validate
     │    ├── ReadOnlyRepository        the repository cannot be written
     │    ├── IndexLocked               another command is changing the staging area
     │    ├── IndexCorrupt              the staging area does not parse
     │    ├── CatalogCorrupt            index.db is not a database SQLite can read: reindex
     │    ├── CatalogBehind             the catalog lacks commits refs reach, and cannot index them
     │    └── RepositoryCorrupt         gc met history it cannot read, and removed nothing
     ├── ObjectError
     │    ├── ObjectMissing             an object id that the store does not hold
     │    └── ObjectCorrupt             stored bytes whose hash is not their name
     ├── RevisionError
     │    ├── UnknownRevision           names nothing (carries "did you mean" suggestions)
     │    │    └── UnknownRun           no run of that name
     │    └── AmbiguousRevision         a short hash that names several objects
     ├── RefError
     │    ├── RefLocked                 another writer holds the ref's lock file
     │    ├── RefConflict               compare-and-swap lost: the ref moved
     │    └── InvalidRefName            a branch, tag or run name git would refuse
     ├── PathError                      a path outside the working tree, or missing
     ├── WorkingTreeDirty               checkout would overwrite uncommitted changes
     ├── NothingToCommit                the staged tree equals HEAD's
     ├── UnsafeLoad                     loading would run code from a stored object
     ├── TrackingError                  misuse of the tracking API (bad metric, finished run)
     └── UsageError                     any other bad input from a caller

    TrackingWarning (UserWarning)       a tracking problem that did not stop training
                                        (strict=False, the default of @track and adapters)
    RepositoryWarning (UserWarning)     a command did its work, but something after its point
     │                                  of no return failed (a moved ref's directory not synced)
     └── CatalogWarning                 the catalog lags: a commit was made but is not indexed
                                        yet (the next command indexes it), or it was rebuilt

Foreign exceptions (OSError, sqlite3.Error, zstd errors, ...) are mapped to these at the boundary
where they happen, with ``raise ... from exc``, so the CLI can print one line for any of them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


def shorten(text: str, limit: int = 80) -> str:
    """``text`` quoted for a one-line message, cut short (with ``...``) past ``limit`` chars."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


class ModelSyncError(Exception):
    """Base class: ``str(error)`` is one line a user can act on."""


class RepositoryError(ModelSyncError):
    pass


class RepositoryNotFound(RepositoryError):
    def __init__(self, start: str, *, parents: bool = True) -> None:
        searched = " (or any parent up to /)" if parents else ""
        super().__init__(
            f"not a modelsync repository{searched}: {start}; run 'modelsync init' or pass --repo"
        )


class RepositoryExists(RepositoryError):
    pass


class InvalidConfig(RepositoryError):
    pass


class ReadOnlyRepository(RepositoryError):
    pass


def _locked(what: str, lock_path: str, holder: str | None, unknown: str) -> str:
    """Who holds a lock, when its file names an owner; else how to tell whether anyone does."""
    if holder is not None:
        return f"{what} by {holder} ({lock_path})"
    return (
        f"{what} by {unknown} ({lock_path}); "
        "if no modelsync process is running, remove that file"
    )


class IndexLocked(RepositoryError):
    def __init__(self, lock_path: str, holder: str | None = None) -> None:
        super().__init__(
            _locked("the staging area is locked", lock_path, holder, "another command")
        )


class IndexCorrupt(RepositoryError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"the staging area {path} is unreadable ({reason}); "
            "remove it and run 'modelsync reset' to rebuild it from HEAD"
        )


class RepositoryCorrupt(RepositoryError):
    """What an unreadable object refers to cannot be known, so nothing below it may be deleted
    as unreachable: gc stops before removing anything."""

    def __init__(self, problems: Sequence[str]) -> None:
        shown = "; ".join(problems[:3])
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        super().__init__(
            f"{shown}{more}: gc removed nothing, since the history below would look "
            "unreachable; run 'modelsync fsck'"
        )
        self.problems = list(problems)


class CatalogCorrupt(RepositoryError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"the catalog {path} is unreadable ({reason}); "
            "run 'modelsync reindex' to rebuild it from the commits"
        )


class CatalogBehind(RepositoryError):
    """Commits that refs reach are missing from the catalog, and indexing them failed: an answer
    from it would leave them out."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"the catalog {path} lacks commits the refs reach and could not index them "
            f"({reason}); the next command tries again, or run 'modelsync reindex'"
        )


class ObjectError(ModelSyncError):
    def __init__(self, oid: str, message: str) -> None:
        super().__init__(message)
        self.oid = oid


class ObjectMissing(ObjectError):
    def __init__(self, oid: str, context: str = "") -> None:
        where = f" ({context})" if context else ""
        super().__init__(oid, f"object {oid} is missing{where}; run 'modelsync fsck'")


class ObjectCorrupt(ObjectError):
    """Stored bytes that cannot be what their id names: their hash differs (``context`` says
    where they were read), or, with ``malformed``, they hash right but do not decode to a valid
    object of their kind (a hostile tree entry name, a truncated manifest)."""

    def __init__(self, oid: str, context: str = "", *, malformed: bool = False) -> None:
        if malformed:
            message = f"object {oid} is corrupt: {context}"
        else:
            where = f" ({context})" if context else ""
            message = f"object {oid} is corrupt: its content does not match its hash{where}"
        super().__init__(oid, message)


class RevisionError(ModelSyncError):
    pass


class UnknownRevision(RevisionError):
    def __init__(self, rev: str, suggestions: Sequence[str] = ()) -> None:
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"unknown revision {shorten(rev)}{hint}")
        self.rev = rev
        self.suggestions = list(suggestions)


class UnknownRun(UnknownRevision):
    def __init__(self, name: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(name, suggestions)
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        self.args = (f"unknown run {name!r}{hint}; 'modelsync runs' lists them",)


class AmbiguousRevision(RevisionError):
    def __init__(self, rev: str, candidates: Sequence[str]) -> None:
        shown = ", ".join(c[:12] for c in list(candidates)[:5])
        super().__init__(f"short hash {rev!r} is ambiguous: it matches {shown}; use more digits")
        self.candidates = list(candidates)


class RefError(ModelSyncError):
    pass


class RefLocked(RefError):
    def __init__(self, ref: str, lock_path: str, holder: str | None = None) -> None:
        super().__init__(_locked(f"ref {ref!r} is locked", lock_path, holder, "another writer"))


class RefConflict(RefError):
    pass


class InvalidRefName(RefError):
    pass


class PathError(ModelSyncError):
    pass


class WorkingTreeDirty(ModelSyncError):
    pass


class NothingToCommit(ModelSyncError):
    pass


class UnsafeLoad(ModelSyncError):
    pass


class TrackingError(ModelSyncError):
    pass


class UsageError(ModelSyncError):
    pass


class TrackingWarning(UserWarning):
    pass


TRACKING_ERRORS = (ModelSyncError, OSError, sqlite3.Error)
"""What tracking may raise that must not stop training unless ``strict``: a run, ``@track`` and
every adapter catch these (and only these) to warn instead."""


class RepositoryWarning(UserWarning):
    pass


class CatalogWarning(RepositoryWarning):
    pass
