"""Request and response bodies of the repository, ref, file and session endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ...model.objects import Commit, TreeEntry
from ...repo.diff import FileChange
from ...repo.porcelain import StatusReport
from ...runs.compare import SnapshotDiff
from .numbers import JSONNumber, json_safe


class Author(BaseModel):
    name: str
    email: str


class CommitSummary(BaseModel):
    id: str
    parents: list[str]
    author: Author
    time: float
    message: str
    run: str | None = None
    step: int | None = None
    epoch: int | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, oid: str, commit: Commit) -> CommitSummary:
        meta = commit.meta
        return cls(
            id=oid,
            parents=list(commit.parents),
            author=Author(name=commit.author.name, email=commit.author.email),
            time=commit.timestamp,
            message=commit.message,
            run=meta.get("run") if isinstance(meta.get("run"), str) else None,
            step=meta.get("step") if isinstance(meta.get("step"), int) else None,
            epoch=meta.get("epoch") if isinstance(meta.get("epoch"), int) else None,
            meta=json_safe(meta),
        )


class FileEntry(BaseModel):
    path: str
    kind: str
    id: str
    size: int
    mode: str

    @classmethod
    def of(cls, path: str, entry: TreeEntry) -> FileEntry:
        return cls(path=path, kind=entry.kind, id=entry.oid, size=entry.size, mode=entry.mode)


class FileChangeOut(BaseModel):
    path: str
    status: str
    old: FileEntry | None = None
    new: FileEntry | None = None

    @classmethod
    def of(cls, change: FileChange) -> FileChangeOut:
        return cls(
            path=change.path,
            status=change.status,
            old=FileEntry.of(change.path, change.old) if change.old else None,
            new=FileEntry.of(change.path, change.new) if change.new else None,
        )


class CommitDetail(CommitSummary):
    tree: str
    files: list[FileEntry]
    changes: list[FileChangeOut] = Field(description="files changed against the first parent")


class ValueChangeOut(BaseModel):
    """A param or package whose value differs (``old``/``new`` null where absent)."""

    key: str
    change: str = Field(description="added, removed or changed")
    old: Any = None
    new: Any = None


class MetricDeltaOut(BaseModel):
    key: str
    goal: str = Field(description="min (lower is better, as for losses) or max")
    old: JSONNumber | None
    new: JSONNumber | None
    delta: JSONNumber | None
    relative: JSONNumber | None = Field(description="delta / |old|")
    improved: bool | None


class RunDiffOut(BaseModel):
    """How two run commits differ in what they recorded, as `modelsync diff` says it."""

    old_run: str
    new_run: str
    params: list[ValueChangeOut]
    metrics: list[MetricDeltaOut]
    packages: list[ValueChangeOut]

    @classmethod
    def of(cls, diff: SnapshotDiff) -> RunDiffOut:
        return cls.model_validate(json_safe(diff.to_json()))


class DiffOut(BaseModel):
    a: str
    b: str
    files: list[FileChangeOut]
    run: RunDiffOut | None = Field(
        description="params, metrics, packages; null unless both sides are run commits"
    )


class StatusOut(BaseModel):
    branch: str | None
    head: str | None
    clean: bool
    staged: dict[str, str]
    modified: list[str]
    deleted: list[str]
    untracked: list[str]

    @classmethod
    def of(cls, report: StatusReport) -> StatusOut:
        return cls(
            branch=report.branch,
            head=report.head,
            clean=report.clean,
            staged=report.staged,
            modified=report.modified,
            deleted=report.deleted,
            untracked=report.untracked,
        )


class LogOut(BaseModel):
    commits: list[CommitSummary]
    next_offset: int | None = Field(description="offset of the next page; null on the last page")


class InitIn(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    default_branch: str = Field(default="main", min_length=1, max_length=200)


class InitOut(BaseModel):
    path: str
    branch: str


class CommitIn(BaseModel):
    message: str = Field(min_length=1, max_length=100_000)
    allow_empty: bool = False


class CheckoutIn(BaseModel):
    rev: str = Field(min_length=1, max_length=256)
    force: bool = False
    create_branch: str | None = Field(default=None, min_length=1, max_length=200)


class CheckoutOut(BaseModel):
    commit: str
    branch: str | None


class AddOut(BaseModel):
    path: str
    size: int
    changed: bool = Field(description="false when the staged content was already identical")


class RefOut(BaseModel):
    name: str
    commit: str
    current: bool = False


class RefIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    rev: str = Field(default="HEAD", min_length=1, max_length=256)
    force: bool = False


class TagIn(RefIn):
    message: str | None = Field(default=None, max_length=100_000)


class SessionOut(BaseModel):
    read_session: bool
