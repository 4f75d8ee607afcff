"""A run as the catalog lists it, and whether a ``running`` run is still alive.

Listing runs reads each run's row, whose ``run.json`` was validated when it was indexed. A
``RunRow`` holds the fields a listing shows, parsed with ``json`` alone: ``modelsync runs``
answers without pydantic's start-up. ``to_info()`` gives the full ``RunInfo`` model.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import sqlite3

    from ..model.metadata import RunInfo

STALE_AFTER = 60.0


class RunLiveness(Protocol):
    """What ``effective_status`` reads of a run (a ``RunInfo`` or a ``RunRow``)."""

    @property
    def status(self) -> Any: ...
    @property
    def hostname(self) -> str | None: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def heartbeat(self) -> float | None: ...


@dataclass(frozen=True)
class RunRow:
    name: str
    status: str
    start_time: float
    parent: str | None = None
    tags: list[str] = field(default_factory=list)
    end_time: float | None = None
    pid: int | None = None
    hostname: str | None = None
    head: str | None = None
    heartbeat: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    stored: str = field(default="{}", repr=False, compare=False)
    """The row's ``run.json``, for ``to_info``."""

    @classmethod
    def from_row(cls, row: sqlite3.Row, latest: Mapping[str, float]) -> RunRow:
        info = json.loads(row["info"])
        return cls(
            name=info["name"],
            status=info.get("status", "running"),
            start_time=info["start_time"],
            parent=info.get("parent"),
            tags=list(info.get("tags", ())),
            end_time=info.get("end_time"),
            pid=info.get("pid"),
            hostname=info.get("hostname"),
            head=row["head"],
            heartbeat=row["heartbeat"],
            metrics=dict(latest),
            stored=row["info"],
        )

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; None while the run has not ended."""
        return None if self.end_time is None else self.end_time - self.start_time

    def to_info(self) -> RunInfo:
        """The full, validated model, with this row's catalog fields."""
        from ..model.metadata import RunInfo

        info = RunInfo.from_stored(self.stored.encode("utf-8"))
        return info.model_copy(
            update={"head": self.head, "heartbeat": self.heartbeat, "metrics": dict(self.metrics)}
        )


def effective_status(run: RunLiveness, *, stale_after: float = STALE_AFTER) -> Any:
    """``crashed`` for a run that says ``running`` but was killed without a chance to say so.

    On the host that runs it, a run lives exactly as long as its process; seen from another
    host, as long as its writer's heartbeat (every ``HEARTBEAT_INTERVAL`` seconds) is fresher
    than ``stale_after`` seconds.
    """
    if run.status != "running":
        return run.status
    if run.hostname == socket.gethostname() and run.pid is not None:
        return "running" if pid_alive(run.pid) else "crashed"
    fresh = run.heartbeat is not None and time.time() - run.heartbeat < stale_after
    return "running" if fresh else "crashed"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
