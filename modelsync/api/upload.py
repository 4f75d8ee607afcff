"""``POST /add``: a multipart file upload streamed to disk, size-limited, then staged.

The body is parsed as it arrives (python-multipart's push parser); the ``file`` part goes
straight into a temporary file under ``.modelsync/tmp/``, never whole into memory, and the
upload stops with 413 as soon as it passes the limit. Only a complete upload is moved into
the working tree (a rename on the same file system) and staged with ``Repo.add``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..model.objects import CONTROL_DIR, is_control_dir_name
from ..repo.repository import Repo
from .errors import ApiError, bad_request, too_large
from .schemas.repository import AddOut

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

UPLOAD_FIELD = "file"
UPLOAD_TMP_DIR = "tmp"

OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [UPLOAD_FIELD],
                    "properties": {UPLOAD_FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


class _FilePart:
    """Parser callbacks that keep the bytes of the one ``file`` part and drop the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.found = False
        self.pending: list[bytes] = []
        self._active = False
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> MultipartCallbacks:
        return cast(
            "MultipartCallbacks",
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def _part_begin(self) -> None:
        self._headers = {}
        self._active = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") != UPLOAD_FIELD.encode():
            return
        if self.found:
            raise bad_request(f"send exactly one {UPLOAD_FIELD!r} part", "invalid_upload")
        self.found = self._active = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._active:
            return
        self.size += end - start
        if self.size > self.limit:
            raise too_large(f"the file is larger than the upload limit of {self.limit} bytes")
        self.pending.append(bytes(data[start:end]))

    def _part_end(self) -> None:
        self._active = False

    def take(self) -> list[bytes]:
        pieces, self.pending = self.pending, []
        return pieces


@contextlib.contextmanager
def upload_tempfile(repo: Repo) -> Iterator[tuple[Path, IO[bytes]]]:
    """A temporary file inside the control directory, removed unless it was moved away."""
    directory = repo.control_dir / UPLOAD_TMP_DIR
    directory.mkdir(exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield path, out
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def receive_file(request: Request, out: IO[bytes], limit: int) -> int:
    """Stream the request's ``file`` part into ``out``; return its size in bytes."""
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the file as multipart/form-data with a {UPLOAD_FIELD!r} field",
        )
    part = _FilePart(limit)
    try:
        parser = MultipartParser(boundary, part.callbacks())
        async for chunk in request.stream():
            parser.write(chunk)
            pieces = part.take()
            if pieces:
                await run_in_threadpool(out.writelines, pieces)
        parser.finalize()
    except MultipartParseError as exc:
        raise bad_request(f"malformed multipart body: {exc}", "invalid_upload") from exc
    if not part.found:
        raise bad_request(f"the body has no {UPLOAD_FIELD!r} part", "invalid_upload")
    out.flush()
    os.fsync(out.fileno())
    return part.size


def _check_inside(repo: Repo, path: Path) -> None:
    """Refuse a destination that leaves the work tree or enters the control directory, even
    through a symbolic link somewhere on the way."""
    work_tree = repo.work_tree.resolve()
    real_parent = path.parent.resolve()
    if not real_parent.is_relative_to(work_tree):
        raise bad_request(f"{path.name!r} would be written outside the repository", "invalid_path")
    inside = real_parent.relative_to(work_tree).parts
    if inside and is_control_dir_name(inside[0]):
        raise bad_request(f"{path.name!r} would be written into {CONTROL_DIR}", "invalid_path")


def stage_upload(repo: Repo, lock: threading.Lock, tmp: Path, rel: str, size: int) -> AddOut:
    """Move a finished upload to ``rel`` in the work tree and stage it."""
    dest = repo.work_tree / rel
    with lock:
        _check_inside(repo, dest)
        if dest.is_dir() and not dest.is_symlink():
            raise bad_request(f"{rel!r} is a directory in the working tree", "invalid_path")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise bad_request(f"a parent of {rel!r} is a file", "invalid_path") from None
        _check_inside(repo, dest)
        os.replace(tmp, dest)
        changed = repo.add([str(dest)])
    return AddOut(path=rel, size=size, changed=rel in changed)
