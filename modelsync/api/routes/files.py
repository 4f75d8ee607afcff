"""Downloads: any file of any commit, streamed from the object store."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from ...model.layout import HEAD
from ...repo.files import iter_content
from ..deps import RepoDep
from ..errors import bad_request
from ..lookup import commit_entry, resolve
from ..security import require_read, validate_repo_path
from .responses import READ_ERRORS

router = APIRouter(tags=["files"])

BINARY: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the file's bytes",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def attachment(filename: str) -> str:
    """A Content-Disposition value that survives any file name (RFC 6266 / 5987)."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/files/{path:path}",
    dependencies=[Depends(require_read)],
    responses={**READ_ERRORS, **BINARY},
    response_class=StreamingResponse,
)
def download_file(
    path: str,
    repo: RepoDep,
    rev: Annotated[str, Query(min_length=1, max_length=256)] = HEAD,
) -> StreamingResponse:
    """The content of `path` as committed in `rev`, as an attachment (never rendered inline)."""
    validate_repo_path(path)
    commit = repo.read_commit(resolve(repo, rev))
    entry = commit_entry(repo, commit, path)
    if entry.kind not in ("blob", "file"):
        raise bad_request(
            f"{path!r} is a {entry.kind}; download it from /checkpoints/download", "not_a_file"
        )
    return StreamingResponse(
        iter_content(repo.store, entry.kind, entry.oid),
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(entry.size),
            "Content-Disposition": attachment(path.rsplit("/", 1)[-1]),
            "Cache-Control": "no-store",
        },
    )
