"""Who left a file behind, and whether that process still runs.

A lock file records its owner, and a temporary pack's name carries one, so that a later process
can tell a file whose writer is gone (killed, crashed, its machine rebooted) from one still being
written, and remove it at once instead of blocking on it or waiting an hour.

A pid alone says little: pids are reused, and mean something only on the host, boot and pid
namespace that issued them. An owner therefore records all of these, and the process's start
time (Linux: field 22 of ``/proc/<pid>/stat``, clock ticks after boot), which tells the owner
from a later process that got the same pid. Where any of it cannot be read (no ``/proc``), or
the owner lives on another host or in another pid namespace, its state is ``UNKNOWN``: callers
then keep the file, or judge it by its age.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
from dataclasses import asdict, dataclass


class Liveness(enum.Enum):
    ALIVE = "alive"
    """The very process that wrote the file is running."""
    GONE = "gone"
    """It ended: its pid is free, reused by a later process, or this host rebooted since."""
    UNKNOWN = "unknown"
    """Another host or pid namespace, or this system cannot tell."""


@dataclass(frozen=True)
class Owner:
    """A process, identified well enough to tell whether it still runs."""

    pid: int
    host: str
    boot: str | None = None
    """The kernel's boot id (``/proc/sys/kernel/random/boot_id``)."""
    pid_ns: str | None = None
    """The pid namespace (``readlink /proc/self/ns/pid``): a container's pids are its own."""
    start: int | None = None
    """When the process started, in clock ticks after boot."""

    @classmethod
    def current(cls) -> Owner:
        """This process (computed once per process: a forked child is another owner)."""
        global _current
        pid = os.getpid()
        if _current is None or _current.pid != pid:
            _current = cls(
                pid=pid,
                host=os.uname().nodename,
                boot=_read_text("/proc/sys/kernel/random/boot_id"),
                pid_ns=_read_link("/proc/self/ns/pid"),
                start=_start_time(pid),
            )
        return _current

    def describe(self) -> str:
        return f"process {self.pid} on host {self.host}"

    # --------------------------------------------------------- as a lock file's content
    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> Owner | None:
        """The owner ``encode`` wrote; None for anything else (empty, a bare pid, garbage)."""
        try:
            raw = json.loads(data)
        except ValueError:
            return None
        if not isinstance(raw, dict):
            return None
        pid, host = raw.get("pid"), raw.get("host")
        if type(pid) is not int or pid < 1 or not isinstance(host, str):
            return None
        boot, pid_ns, start = raw.get("boot"), raw.get("pid_ns"), raw.get("start")
        return cls(
            pid=pid,
            host=host,
            boot=boot if isinstance(boot, str) else None,
            pid_ns=pid_ns if isinstance(pid_ns, str) else None,
            start=start if type(start) is int else None,
        )

    # ------------------------------------------------------------ as part of a file name
    def token(self) -> str:
        """``<pid>-<start>-<scope>``: file-name safe; ``scope`` digests host, boot and pid
        namespace, all that must match for the pid to mean this process."""
        return f"{self.pid}-{self.start if self.start is not None else 'x'}-{self._scope()}"

    @classmethod
    def from_token(cls, token: str) -> Owner | None:
        """The owner a ``token`` of this host, boot and pid namespace names; None for a token
        from elsewhere (or no token at all): who wrote it cannot be told from here."""
        me = cls.current()
        parts = token.split("-")
        if len(parts) != 3:
            return None
        pid, start, scope = parts
        if scope != me._scope() or not pid.isdigit() or not (start.isdigit() or start == "x"):
            return None
        if int(pid) < 1:
            return None
        return cls(
            pid=int(pid),
            host=me.host,
            boot=me.boot,
            pid_ns=me.pid_ns,
            start=int(start) if start != "x" else None,
        )

    def _scope(self) -> str:
        where = "\0".join((self.host, self.boot or "", self.pid_ns or ""))
        return hashlib.sha256(where.encode()).hexdigest()[:16]


_current: Owner | None = None


def liveness(owner: Owner) -> Liveness:
    """Whether ``owner`` still runs, as far as this process can tell."""
    me = Owner.current()
    if owner.host != me.host:
        return Liveness.UNKNOWN
    if owner.boot is not None and me.boot is not None and owner.boot != me.boot:
        return Liveness.GONE  # every process of an earlier boot is
    if owner.pid_ns != me.pid_ns:
        return Liveness.UNKNOWN  # a pid of another container on this kernel, not ours to look up
    found = _state_and_start(owner.pid)
    if found is not None:  # /proc tells a dead or a reused pid
        state, start = found
        if state in ("Z", "X"):
            return Liveness.GONE  # it exited and awaits its parent
        if owner.start is None:
            return Liveness.UNKNOWN
        return Liveness.ALIVE if start == owner.start else Liveness.GONE
    try:  # no /proc, or the pid is hidden from us there: does it exist at all?
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return Liveness.GONE
    except PermissionError:
        pass  # it exists, run by another user
    return Liveness.UNKNOWN  # alive, or a later process reusing the pid: no start time to tell


def _state_and_start(pid: int) -> tuple[str, int] | None:
    """State letter and start time of ``pid`` from ``/proc/<pid>/stat``; None if no such pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
        # the command name (field 2) is in parentheses and may hold spaces or parentheses
        fields = data[data.rindex(b")") + 2 :].split()
        return fields[0].decode(), int(fields[19])  # fields 3 and 22
    except (OSError, ValueError, IndexError):
        return None


def _start_time(pid: int) -> int | None:
    found = _state_and_start(pid)
    return found[1] if found else None


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as file:
            return file.read().strip() or None
    except (OSError, ValueError):
        return None


def _read_link(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None
