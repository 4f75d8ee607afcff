"""Durable file primitives: atomic writes, directory fsync and lock files.

A file is never modified in place: it is written to a temporary sibling, flushed and fsync'd,
renamed over its final name, and the directory is fsync'd so the rename itself survives a crash.

A lock file names its owner; one whose owner is gone (killed, crashed, its host rebooted) is
stale and the next writer removes it, so a crash never blocks later writers. A lock held by a
running process, or by one on another host, is waited for and then reported with its owner.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ..errors import ReadOnlyRepository
from .hashing import BytesLike
from .owner import Liveness, Owner, liveness

_log = logging.getLogger(__name__)


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

    The file holds its owner (``owner.Owner``: pid, host, boot, start time). Waits up to
    ``timeout`` seconds for another writer to let go, then raises ``LockTimeout``; a lock whose
    owner is gone (see ``LockHolder.stale``) is removed at once, with one warning logged.
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
                self._fd = _create_lock(self.lock_path)
                return
            except FileExistsError:
                pass
            except OSError as exc:
                raise _translate_os_error(self.lock_path, exc) from exc
            try:
                holder, removed = _examine_lock(self.lock_path, remove_stale=True)
            except OSError as exc:
                raise _translate_os_error(self.lock_path, exc) from exc
            if removed and holder is not None:
                _log.warning("removed stale lock %s: %s", self.lock_path, holder.why_stale())
                continue
            if time.monotonic() >= deadline:
                raise LockTimeout(self.lock_path, holder)
            if holder is not None:  # else it went meanwhile: try again at once
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

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
    def __init__(self, lock_path: Path, holder: LockHolder | None = None) -> None:
        super().__init__(str(lock_path))
        self.lock_path = lock_path
        self.holder = holder

    @property
    def owner_description(self) -> str | None:
        """Who holds the lock and since when, if its file names an owner."""
        if self.holder is None or self.holder.owner is None:
            return None
        return self.holder.describe()


UNKNOWN_OWNER_STALE_AFTER = 3600.0
"""A lock file that names no owner is stale once untouched this long. It is empty when its
writer died (or the disk filled) between creating and writing it, or holds a bare pid when a
version that recorded no owner wrote it: only its age can tell, and a young one may be in use."""
_MAX_OWNER_BYTES = 4096


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock file, as its content and age tell."""

    owner: Owner | None
    """None when the file names no owner (see ``UNKNOWN_OWNER_STALE_AFTER``)."""
    age: float
    """Seconds since the lock was taken (the file's mtime)."""

    @property
    def stale(self) -> bool:
        """Left by a writer that is gone: safe to remove."""
        if self.owner is None:
            return self.age > UNKNOWN_OWNER_STALE_AFTER
        return liveness(self.owner) is Liveness.GONE

    def describe(self) -> str:
        """``process 42 on host gpu-01, taken 3 min ago``."""
        who = self.owner.describe() if self.owner is not None else "an unknown writer"
        return f"{who}, taken {_format_age(self.age)} ago"

    def why_stale(self) -> str:
        if self.owner is None:
            return f"it names no owner and was taken {_format_age(self.age)} ago"
        return f"{self.owner.describe()} is no longer running"


def read_lock(lock_path: Path) -> LockHolder | None:
    """Who holds ``lock_path``; None when there is no such lock."""
    holder, _removed = _examine_lock(lock_path, remove_stale=False)
    return holder


def remove_stale_lock(lock_path: Path) -> LockHolder | None:
    """Remove ``lock_path`` if it is stale; the holder it named, or None if it stays (or was
    not there)."""
    holder, removed = _examine_lock(lock_path, remove_stale=True)
    return holder if removed else None


def _create_lock(lock_path: Path) -> int:
    """Create ``lock_path`` holding this process as its owner; a failure leaves no file.

    The owner is written before the lock appears: into an unnamed file (``O_TMPFILE``) that a
    hard link then puts at ``lock_path``, failing like ``O_EXCL`` when a lock is there. A writer
    killed at any point thus leaves no lock, or one that names its owner, never an empty file
    that only its age could tell stale. Where the file system has no unnamed files, the owner is
    written to a named temporary file, linked, and the temporary name removed.
    """
    owner = Owner.current().encode()
    try:
        fd = os.open(lock_path.parent, os.O_TMPFILE | os.O_WRONLY, 0o644)
    except OSError as exc:
        if exc.errno not in _NO_TMPFILE:
            raise
        return _create_lock_through_a_named_file(lock_path, owner)
    try:
        _write_all(fd, owner)
        _link_unnamed(fd, lock_path)
    except FileNotFoundError:  # no /proc to name the unnamed file by
        os.close(fd)
        return _create_lock_through_a_named_file(lock_path, owner)
    except BaseException:
        os.close(fd)
        raise
    return fd


_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)
"""What ``open(O_TMPFILE)`` fails with where the file system or kernel has no unnamed files."""


def _link_unnamed(fd: int, path: Path) -> None:
    """Give the unnamed file open at ``fd`` the name ``path`` (FileExistsError if taken):
    ``linkat`` of ``/proc/self/fd/<fd>`` following that link (plain ``link()``, which
    ``os.link`` calls without a directory descriptor, would link the /proc entry itself)."""
    fds = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(str(fd), path, src_dir_fd=fds, follow_symlinks=True)
    finally:
        os.close(fds)


def _create_lock_through_a_named_file(lock_path: Path, owner: bytes) -> int:
    directory = lock_path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{lock_path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o644)
        _write_all(fd, owner)
        os.link(tmp_name, lock_path)
    except BaseException:
        os.close(fd)
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _examine_lock(lock_path: Path, *, remove_stale: bool) -> tuple[LockHolder | None, bool]:
    """Who holds ``lock_path`` (None: no one), and whether this call removed it as stale."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return None, False
    try:
        st = os.fstat(fd)
        owner = Owner.decode(os.read(fd, _MAX_OWNER_BYTES))
        holder = LockHolder(owner, max(0.0, time.time() - st.st_mtime))
        if not (remove_stale and holder.stale):
            return holder, False
        return holder, _unlink_if_still_named(fd, st, lock_path)
    finally:
        os.close(fd)


def _unlink_if_still_named(fd: int, st: os.stat_result, lock_path: Path) -> bool:
    """Remove the stale lock open at ``fd``, if ``lock_path`` still names that very file.

    Two writers may judge one lock stale at the same time. Were each simply to unlink the path,
    the second could remove the lock the first has just taken in its place, and both would go
    on as its holder. So a breaker holds an exclusive flock on the stale file itself from
    checking that the path still names it until the unlink: a second breaker waits, then finds
    the path gone, or naming a new lock (another inode: the stale one stays open here, so its
    number cannot be reused meanwhile), and backs off. A new lock can appear at the path only
    after the unlink (O_EXCL), so what is unlinked is exactly the file judged stale, whose
    content (its owner) never changes once written. The kernel drops a flock when its holder
    dies, so a breaker killed midway blocks no one. Where the file system has no flock, the
    lock cannot be removed safely: it stays, and is waited for like a live one.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP):
            return False
        raise
    try:
        named = os.stat(lock_path)
    except FileNotFoundError:
        return False
    if (named.st_dev, named.st_ino) != (st.st_dev, st.st_ino):
        return False
    os.unlink(lock_path)
    return True


def _format_age(seconds: float) -> str:
    whole = int(seconds)
    if whole < 120:
        return f"{whole} s"
    if whole < 2 * 3600:
        return f"{whole // 60} min"
    if whole < 2 * 86400:
        return f"{whole // 3600} h"
    return f"{whole // 86400} days"
