"""Compressing later: a low-priority thread that runs while deferred packs wait, then ends.

A pack batch may store objects raw (``compress_later``) so that a large first snapshot is
written at disk speed. The store starts a ``BackgroundCompressor`` when a batch ends while such
packs exist; its thread rewrites them compressed, only while no batch is open in this process,
at the lowest CPU priority (on Linux a thread is scheduled on its own, so ``nice 19`` gives it
only time the training and everything else leave over). A failure is logged and the raw packs
stay readable as they are, for the next pass or ``modelsync gc``.

The thread lives only while there is work: it runs a pass, another if it was woken meanwhile,
and ends. ``wake`` and the decision to end are taken under one lock, so a wake is never lost:
either the running thread takes it, or ``wake`` says the thread has ended and the store starts
a new compressor. The compressor is handed the store's two callables, not the store: it knows
nothing of packs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable

from .base import CompressionReport

_log = logging.getLogger(__name__)
_LOWEST_PRIORITY = 19
THREAD_NAME = "modelsync-compress"

CompressPass = Callable[[Callable[[], bool]], CompressionReport]
"""One compress-later pass (``DiskStore.compress_deferred``), asking its argument between
objects whether to stop."""
WaitUntilIdle = Callable[[threading.Event], bool]
"""Blocks while a batch is open; True if the event was set meanwhile (``wait_until_idle``)."""


class BackgroundCompressor:
    """One thread of compress-later passes, started at once with a pass to run."""

    def __init__(self, compress: CompressPass, wait_until_idle: WaitUntilIdle) -> None:
        self._compress = compress
        self._wait_until_idle = wait_until_idle
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._woken = True
        self._ended = False
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def wake(self) -> bool:
        """Ask for one more pass. False when this thread will not run it (it has ended, been
        stopped, or stayed in the parent of a forked process): start a new compressor."""
        if self._pid != os.getpid():  # checked first: the parent's thread may hold the lock
            return False
        with self._lock:
            if self._ended or self._stop.is_set():
                return False
            self._woken = True
            return True

    def request_stop(self) -> None:
        """Make the pass under way stop before its next object; the thread then ends."""
        self._stop.set()

    def join(self) -> None:
        if self._pid == os.getpid():
            self._thread.join()

    def _run(self) -> None:
        _lower_priority()
        while self._take_wake():
            try:
                self._compress(self._should_stop)
            except Exception as exc:  # a background thread's boundary: nothing may escape
                _log.warning("modelsync: compressing stored objects failed: %s", exc)

    def _take_wake(self) -> bool:
        """Whether to run another pass (woken since the last one began); if not, the thread
        ends here, and later wakes return False."""
        with self._lock:
            if self._woken and not self._stop.is_set():
                self._woken = False
                return True
            self._ended = True
            return False

    def _should_stop(self) -> bool:
        return self._wait_until_idle(self._stop)


def _lower_priority() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _LOWEST_PRIORITY)
