"""Numbered file operations for the battery's worker processes: kill or fail the n-th one.

Installed in worker processes only, never in the test process. ``install`` wraps what ModelSync
writes through, so that every call is one numbered operation of this process:

- writes: ``os.write`` (regular files), ``os.pwrite``, ``os.pwritev``, ``os.writev``, and
  ``write``/``writelines`` of every file opened for writing through ``open``/``io.open``
  (``os.fdopen``, ``tempfile`` and ``pathlib`` open files through them);
- syncs: ``os.fsync``, ``os.fdatasync``; renames: ``os.rename``, ``os.replace``;
- for kills only, also what changes a directory or the catalog: ``os.open`` with ``O_CREAT``,
  opening a file for writing, ``os.unlink``/``os.remove``, ``os.mkdir``, and SQLite statements
  that write.

Settings come from the environment, so that a command run under them is the real command:
``BATTERY_KILL_AT=n`` sends this process SIGKILL just before its n-th operation (after one
last line on stderr naming its kind);
``BATTERY_FAIL_AT=n`` with ``BATTERY_FAIL_ERRNO=EIO|ENOSPC`` makes the n-th write, sync or
rename raise that ``OSError`` instead (once); ``BATTERY_REPORT=path`` receives, at exit, the
counts as JSON (``ops``, ``fault_ops``, ``fired``: the kind of operation that failed, or null);
``BATTERY_FSIZE=n`` limits every file this process writes to n bytes. ``configure`` applies the
same settings again, counting from zero (a forked child, or a fault armed mid-way).
"""

from __future__ import annotations

import atexit
import builtins
import errno
import io
import json
import os
import resource
import signal
import sqlite3
import stat
import threading
from collections.abc import Callable, Mapping
from typing import Any

FAULT_KINDS = frozenset({"write", "fsync", "rename"})
KILLED_BEFORE = "battery: killed before a "
"""The last line on stderr of a killed process names the kind of operation it did not do."""
_WRITING_SQL = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "BEGIN", "COMMIT", "DROP")


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.configure({})

    def configure(self, settings: Mapping[str, str]) -> None:
        self.ops = 0
        self.fault_ops = 0
        self.kill_at = int(settings.get("BATTERY_KILL_AT", "0"))
        self.fail_at = int(settings.get("BATTERY_FAIL_AT", "0"))
        self.fail_errno = getattr(errno, settings.get("BATTERY_FAIL_ERRNO", "EIO"))
        self.fired: str | None = None
        self.report = settings.get("BATTERY_REPORT")
        if "BATTERY_FSIZE" in settings:
            _limit_file_size(int(settings["BATTERY_FSIZE"]))


def _limit_file_size(limit: int) -> None:
    """No file may grow past ``limit`` bytes: a write beyond fails with EFBIG (the disk-full
    battery's stand-in for a small file system where it cannot mount one)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


_state = _State()
_real: dict[str, Any] = {}


def operation(kind: str, target: object) -> None:
    """Count one operation of ``kind`` on ``target``; kill or fail here if it is the chosen one."""
    with _state.lock:
        _state.ops += 1
        kill = _state.ops == _state.kill_at
        fail = False
        if kind in FAULT_KINDS:
            _state.fault_ops += 1
            fail = _state.fault_ops == _state.fail_at
            if fail:
                _state.fired = kind
    if kill:
        last_words = f"{KILLED_BEFORE}{kind}\n".encode()
        _real.get("write", os.write)(2, last_words)
        os.kill(os.getpid(), signal.SIGKILL)
    if fail:
        code = _state.fail_errno
        if kind == "rename":  # as the OS's error would, it names the file; a write's does not
            raise OSError(code, os.strerror(code), os.fsdecode(target))
        raise OSError(code, os.strerror(code))


def _counted(kind: str, name: str, target_of: Callable[..., object] = lambda *a: a[0]) -> None:
    real = _real[name] = getattr(os, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        operation(kind, target_of(*args))
        return real(*args, **kwargs)

    setattr(os, name, wrapper)


def _is_regular(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


class _CountedFile:
    """A file opened for writing whose ``write`` calls are numbered operations."""

    def __init__(self, file: Any, name: object) -> None:
        self._file = file
        self._name = name

    def write(self, data: Any) -> Any:
        operation("write", self._name)
        return self._file.write(data)

    def writelines(self, lines: Any) -> None:
        operation("write", self._name)
        self._file.writelines(lines)

    def __enter__(self) -> _CountedFile:
        self._file.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.__exit__(*exc)

    def __iter__(self) -> Any:
        return iter(self._file)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def _counted_open(real: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if not any(flag in mode for flag in "wax+"):
            return real(file, mode, *args, **kwargs)
        if not isinstance(file, int):
            operation("create", file)
        return _CountedFile(real(file, mode, *args, **kwargs), file)

    return wrapper


class _CountedConnection(sqlite3.Connection):
    """A SQLite connection whose writing statements are numbered operations (kills only)."""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        _sql_operation(sql)
        return super().execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        _sql_operation(sql)
        return super().executemany(sql, *args)


def _sql_operation(sql: str) -> None:
    if sql.lstrip().upper().startswith(_WRITING_SQL):
        operation("sql", sql.split(None, 1)[0])


def configure(settings: Mapping[str, str]) -> None:
    """Count from zero again, killing or failing as ``settings`` (the variables above) say."""
    with _state.lock:
        _state.configure(settings)


def counts() -> dict[str, Any]:
    """Operations so far, write/sync/rename ones among them, and which kind failed if one did."""
    with _state.lock:
        return {"ops": _state.ops, "fault_ops": _state.fault_ops, "fired": _state.fired}


def write_report() -> None:
    """Write ``counts()`` where ``BATTERY_REPORT`` says, if it says."""
    if _state.report:
        with _real["open"](_state.report, "w") as out:
            json.dump(counts(), out)


def install() -> None:
    """Wrap the operations above in this process, as the environment says."""
    for name in ("pwrite", "pwritev", "writev"):
        _counted("write", name)
    real_write = _real["write"] = os.write

    def write(fd: int, data: Any) -> int:
        if _is_regular(fd):
            operation("write", fd)
        return real_write(fd, data)

    os.write = write
    for name in ("fsync", "fdatasync"):
        _counted("fsync", name)
    for name in ("rename", "replace"):
        _counted("rename", name)
    for name in ("unlink", "remove"):
        _counted("unlink", name)
    _counted("mkdir", "mkdir")
    real_os_open = _real["os_open"] = os.open

    def os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            operation("create", path)
        return real_os_open(path, flags, *args, **kwargs)

    os.open = os_open
    _real["open"] = io.open
    io.open = builtins.open = _counted_open(io.open)
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("factory", _CountedConnection)
        return real_connect(*args, **kwargs)

    sqlite3.connect = connect  # type: ignore[assignment]
    configure(os.environ)
    atexit.register(write_report)
