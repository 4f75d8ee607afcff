"""Branches and tags: list, create, delete. Runs are the branches under ``runs/``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ...model.layout import TAG_PREFIX
from ...repo.refs import check_ref_name
from ...repo.repository import Repo
from ..deps import RepoDep, WriteLockDep
from ..errors import conflict, not_found
from ..schemas.repository import RefIn, RefOut, TagIn
from ..security import require_read, require_write, validate_revision
from .responses import READ_ERRORS, WRITE_ERRORS

router = APIRouter(tags=["refs"])
Read = [Depends(require_read)]
Write = [Depends(require_write)]


@router.get("/branches", dependencies=Read, responses=READ_ERRORS)
def list_branches(repo: RepoDep) -> list[RefOut]:
    """Every branch (run branches included) and the commit it points at."""
    current = repo.head_branch()
    return [
        RefOut(name=n, commit=oid, current=n == current)
        for n, oid in sorted(repo.branches().items())
    ]


@router.post("/branches", status_code=201, dependencies=Write, responses=WRITE_ERRORS)
def create_branch(body: RefIn, repo: RepoDep, lock: WriteLockDep) -> RefOut:
    """Create a branch at `rev` (409 if it exists, unless `force`)."""
    check_ref_name(body.name)
    validate_revision(body.rev)
    with lock:
        if not body.force and repo.branch_head(body.name) is not None:
            raise conflict(f"a branch named {body.name!r} already exists", "ref_exists")
        oid = repo.create_branch(body.name, body.rev, force=body.force)
    return RefOut(name=body.name, commit=oid, current=repo.head_branch() == body.name)


@router.delete("/branches/{name:path}", dependencies=Write, responses=WRITE_ERRORS)
def delete_branch(name: str, repo: RepoDep, lock: WriteLockDep) -> RefOut:
    """Delete a branch (400 if it is checked out)."""
    check_ref_name(name)
    with lock:
        if repo.branch_head(name) is None:
            raise not_found(f"no branch named {name!r}", "unknown_revision")
        oid = repo.delete_branch(name)
    return RefOut(name=name, commit=oid)


@router.get("/tags", dependencies=Read, responses=READ_ERRORS)
def list_tags(repo: RepoDep) -> list[RefOut]:
    """Every tag (run labels such as `runs/foo@best` included) and the commit it names."""
    return [RefOut(name=n, commit=repo.peel(oid)) for n, oid in sorted(repo.tags().items())]


@router.post("/tags", status_code=201, dependencies=Write, responses=WRITE_ERRORS)
def create_tag(body: TagIn, repo: RepoDep, lock: WriteLockDep) -> RefOut:
    """Tag `rev` (annotated when `message` is given; 409 if the tag exists, unless `force`)."""
    check_ref_name(body.name, "tag")
    validate_revision(body.rev)
    with lock:
        if not body.force and _tag_exists(repo, body.name):
            raise conflict(f"a tag named {body.name!r} already exists", "ref_exists")
        oid = repo.create_tag(body.name, body.rev, message=body.message, force=body.force)
    return RefOut(name=body.name, commit=oid)


@router.delete("/tags/{name:path}", dependencies=Write, responses=WRITE_ERRORS)
def delete_tag(name: str, repo: RepoDep, lock: WriteLockDep) -> RefOut:
    """Delete a tag."""
    check_ref_name(name, "tag")
    with lock:
        if not _tag_exists(repo, name):
            raise not_found(f"no tag named {name!r}", "unknown_revision")
        oid = repo.peel(repo.delete_tag(name))
    return RefOut(name=name, commit=oid)


def _tag_exists(repo: Repo, name: str) -> bool:
    return repo.refs.resolve(TAG_PREFIX + name) is not None
