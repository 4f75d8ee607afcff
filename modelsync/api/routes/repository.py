"""Repository endpoints: init, status, add, commit, log, show, diff, checkout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from ...model.layout import HEAD
from ...repo.diff import diff_file_maps
from ...runs.compare import diff_snapshots, read_snapshot
from ..deps import HolderDep, RepoDep, WriteLockDep
from ..lookup import resolve
from ..schemas.repository import (
    AddOut,
    CheckoutIn,
    CheckoutOut,
    CommitDetail,
    CommitIn,
    CommitSummary,
    DiffOut,
    FileChangeOut,
    FileEntry,
    InitIn,
    InitOut,
    LogOut,
    RunDiffOut,
    StatusOut,
)
from ..security import (
    SettingsDep,
    require_read,
    require_write,
    validate_repo_path,
    validate_revision,
)
from ..upload import OPENAPI_BODY, receive_file, stage_upload, upload_tempfile
from .responses import READ_ERRORS, UNSUPPORTED_MEDIA, WRITE_ERRORS

router = APIRouter(tags=["repository"])
Read = [Depends(require_read)]
Write = [Depends(require_write)]
Rev = Annotated[str, Query(min_length=1, max_length=256, description="a revision")]


@router.post("/init", status_code=201, dependencies=Write, responses=WRITE_ERRORS)
def init(body: InitIn, holder: HolderDep) -> InitOut:
    """Create the repository this server serves (409 if it exists)."""
    repo = holder.init(name=body.name, email=body.email, default_branch=body.default_branch)
    return InitOut(path=str(repo.work_tree), branch=body.default_branch)


@router.get("/status", dependencies=Read, responses=READ_ERRORS)
def status(repo: RepoDep) -> StatusOut:
    """Staged, modified, deleted and untracked files, as `modelsync status`."""
    return StatusOut.of(repo.status())


@router.post(
    "/add",
    status_code=201,
    dependencies=Write,
    responses={**WRITE_ERRORS, 415: UNSUPPORTED_MEDIA},
    openapi_extra=OPENAPI_BODY,
)
async def add(
    request: Request,
    repo: RepoDep,
    lock: WriteLockDep,
    settings: SettingsDep,
    path: Annotated[
        str, Query(min_length=1, max_length=4096, description="where in the work tree")
    ],
) -> AddOut:
    """Upload a file (multipart field `file`) to `path` in the working tree and stage it.

    The body is streamed to disk and refused with 413 past the server's upload limit."""
    rel = validate_repo_path(path, allow_glob=False)
    with upload_tempfile(repo) as (tmp, out):
        size = await receive_file(request, out, settings.max_upload_bytes)
        out.close()
        return await run_in_threadpool(stage_upload, repo, lock, tmp, rel, size)


@router.post("/commit", status_code=201, dependencies=Write, responses=WRITE_ERRORS)
def commit(body: CommitIn, repo: RepoDep, lock: WriteLockDep) -> CommitSummary:
    """Commit the staged files onto the current branch."""
    with lock:
        oid = repo.commit(body.message, allow_empty=body.allow_empty)
    return CommitSummary.of(oid, repo.read_commit(oid))


@router.get("/log", dependencies=Read, responses=READ_ERRORS)
def log(
    repo: RepoDep,
    rev: Rev = HEAD,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> LogOut:
    """Commits reachable from `rev`, newest first, a page at a time."""
    if rev == HEAD and repo.head_commit() is None:
        return LogOut(commits=[], next_offset=None)
    start = resolve(repo, rev)
    found = repo.log(start, limit=offset + limit + 1)
    page = found[offset : offset + limit]
    more = len(found) > offset + limit
    return LogOut(
        commits=[CommitSummary.of(oid, c) for oid, c in page],
        next_offset=offset + limit if more else None,
    )


@router.get("/show/{rev:path}", dependencies=Read, responses=READ_ERRORS)
def show(rev: str, repo: RepoDep) -> CommitDetail:
    """A commit: metadata, every file, and the files changed against its first parent."""
    oid = resolve(repo, rev)
    commit = repo.read_commit(oid)
    files = repo.flatten_tree(commit.tree)
    parent_files = repo.commit_files(commit.parents[0]) if commit.parents else {}
    summary = CommitSummary.of(oid, commit)
    return CommitDetail(
        **summary.model_dump(),
        tree=commit.tree,
        files=[FileEntry.of(path, entry) for path, entry in sorted(files.items())],
        changes=[FileChangeOut.of(c) for c in diff_file_maps(parent_files, files)],
    )


@router.get("/diff", dependencies=Read, responses=READ_ERRORS)
def diff(repo: RepoDep, a: Rev, b: Rev) -> DiffOut:
    """What changed from `a` to `b`: files, and for two run commits their params, metrics (with
    deltas) and package versions."""
    a_id, b_id = resolve(repo, a), resolve(repo, b)
    a_commit, b_commit = repo.read_commit(a_id), repo.read_commit(b_id)
    files = diff_file_maps(repo.flatten_tree(a_commit.tree), repo.flatten_tree(b_commit.tree))
    old, new = read_snapshot(repo, a_commit), read_snapshot(repo, b_commit)
    return DiffOut(
        a=a_id,
        b=b_id,
        files=[FileChangeOut.of(c) for c in files],
        run=RunDiffOut.of(diff_snapshots(old, new)) if old and new else None,
    )


@router.post("/checkout", dependencies=Write, responses=WRITE_ERRORS)
def checkout(body: CheckoutIn, repo: RepoDep, lock: WriteLockDep) -> CheckoutOut:
    """Make the working tree, index and HEAD match `rev` (409 over uncommitted changes)."""
    validate_revision(body.rev)
    with lock:
        oid = repo.checkout(body.rev, force=body.force, create_branch=body.create_branch)
    return CheckoutOut(commit=oid, branch=repo.head_branch())
