"""Compressing later: one low-priority thread per store that compresses deferred packs.

A pack batch may store objects raw (``compress_later``) so that a large first snapshot is
written at disk speed. This thread then rewrites those packs compressed, only while no batch is
open in this process, at the lowest CPU priority (on Linux a thread is scheduled on its own, so
``nice 19`` gives it only time the training and everything else leave over). A failure is
logged and the raw packs stay readable as they are, for the next pass or ``modelsync gc``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .disk import DiskStore

_log = logging.getLogger(__name__)
_LOWEST_PRIORITY = 19


class BackgroundCompressor:
    def __init__(self, store: DiskStore) -> None:
        self._store = store
        self._stop = threading.Event()
        self._pending = threading.Event()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="modelsync-compress", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        """False in a forked child (the thread stayed in the parent) or once stopped."""
        return self._pid == os.getpid() and self._thread.is_alive() and not self._stop.is_set()

    def wake(self) -> None:
        """There may be deferred packs: run a pass when the store is next idle."""
        self._pending.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._pending.set()

    def join(self) -> None:
        if self._pid == os.getpid():
            self._thread.join()

    def _run(self) -> None:
        _lower_priority()
        while True:
            self._pending.wait()
            if self._stop.is_set():
                return
            self._pending.clear()
            try:
                self._store.compress_deferred(self._should_stop)
            except Exception as exc:  # a background thread's boundary: nothing may escape
                _log.warning("modelsync: compressing stored objects failed: %s", exc)

    def _should_stop(self) -> bool:
        return self._store.wait_until_idle(self._stop)


def _lower_priority() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _LOWEST_PRIORITY)
