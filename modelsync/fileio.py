"""Durable file primitives: atomic writes, directory fsync and lock files.

A file is never modified in place: it is written to a temporary sibling, flushed and fsync'd,
renamed over its final name, and the directory is fsync'd so the rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from .errors import ReadOnlyRepository
from .hashing import BytesLike


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _translate_os_error(path: Path, exc: OSError) -> Exception:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ReadOnlyRepository(f"cannot write {path}: {exc.strerror}")
    return exc


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Temporary files are created 0600; what we rename into place gets the mode a plain
# open() would have given it. Read once, at import, because umask() is process-global.
_FILE_MODE = 0o666 & ~_read_umask()


def atomic_write(path: Path, data: BytesLike, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _translate_os_error(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), _FILE_MODE)
            tmp.write(data)
            tmp.flush()
            if durable:
                os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    if durable:
        fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_output(
    path: Path, *, durable: bool = True
) -> Iterator[tempfile._TemporaryFileWrapper[bytes]]:
    """Stream into a temporary sibling of ``path``; rename it into place only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed or removed below, never leaked
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent, delete=False
    )
    try:
        os.fchmod(tmp.fileno(), _FILE_MODE)
        yield tmp
        tmp.flush()
        if durable:
            os.fsync(tmp.fileno())
        tmp.close()
        os.replace(tmp.name, path)
    except BaseException:
        tmp.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp.name)
        raise
    if durable:
        fsync_dir(path.parent)


class LockFile:
    """An exclusive ``<path>.lock`` created with O_EXCL, as git does for refs.

    Waits up to ``timeout`` seconds for another writer to let go, then raises ``LockTimeout``.
    """

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                self._fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                os.write(self._fd, str(os.getpid()).encode())
                return
            except FileExistsError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(self.lock_path) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
            except OSError as exc:
                raise _translate_os_error(self.lock_path, exc) from exc

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.lock_path)

    def __enter__(self) -> LockFile:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class LockTimeout(Exception):
    def __init__(self, lock_path: Path) -> None:
        super().__init__(str(lock_path))
        self.lock_path = lock_path
