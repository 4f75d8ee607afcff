"""Rewriting packs: removing objects from them (gc), and compressing later, at once or on a
low-priority thread.

A pack is never changed: it is copied, less what goes, into a new pack through a batch of the
store's (uncounted: it pauses nothing), and the old pack is removed only once the new one is
fsync'd and indexed. Ids never change and every object stays readable throughout; a crash
leaves both packs, or the old one and an unreferenced new one. A rewrite holds an exclusive
``flock`` on the old pack, so two processes never rewrite the same one: a pack another process
holds is skipped, left for a later pass.

Store first, compress later: a batch may write objects raw (codec ``DEFERRED``, in a ``raw-*``
pack) when compressing them would hold up the writer. ``Repacker.compress_deferred`` rewrites
each such pack with those objects compressed where that pays; a deferred object whose bytes do
not match its id is copied as it is, marked raw, so that fsck still reports it and no pass
retries it.

The store starts a ``BackgroundCompressor`` when a batch ends while ``raw-*`` packs exist; its
thread runs compress-later passes only while no batch is open in this process, at the lowest
CPU priority (on Linux a thread is scheduled on its own, so ``nice 19`` gives it only time the
training and everything else leave over). A failure is logged and the raw packs stay readable
as they are, for the next pass or ``modelsync gc``.

The thread lives only while there is work: it runs a pass, another if it was woken meanwhile,
and ends. ``wake`` and the decision to end are taken under one lock, so a wake is never lost:
either the running thread takes it, or ``wake`` says the thread has ended and the store starts
a new compressor. The compressor is handed the store's two callables, not the store: it knows
nothing of packs.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Protocol

from ..errors import ObjectCorrupt
from .base import CompressionReport
from .compression import DEFERRED
from .packbatch import DEFERRED_PREFIX, PackBatch, PackOwner

_log = logging.getLogger(__name__)
_LOWEST_PRIORITY = 19
THREAD_NAME = "modelsync-compress"

CompressPass = Callable[[Callable[[], bool]], CompressionReport]
"""One compress-later pass (``DiskStore.compress_deferred``), asking its argument between
objects whether to stop."""
WaitUntilIdle = Callable[[threading.Event], bool]
"""Blocks while a batch is open; True if the event was set meanwhile (``wait_until_idle``)."""


class _Stopped(Exception):
    """A compress-later pass was asked to stop: its unfinished pack is discarded."""


class PackedStore(PackOwner, Protocol):
    """The store whose packs are rewritten (``DiskStore``)."""

    def drop_pack(self, name: str) -> None:
        """Forget pack ``name`` and remove its files, its index first: a rewrite's last step."""
        ...


class Repacker:
    """Rewrites the packs of one store, one rewrite at a time in this process."""

    def __init__(self, store: PackedStore) -> None:
        self._store = store
        self._rewriting = threading.Lock()

    def remove(self, oids: set[str]) -> int:
        """Rewrite each loaded pack that holds any of ``oids`` without them (and with its
        deferred objects compressed); how many objects went. A pack another process is
        rewriting is left alone."""
        removed = 0
        with self._rewriting:
            for name, members in self._store.packs.items():
                doomed = {oid for oid in members if oid in oids}
                if doomed and self._rewrite_pack(name, doomed, CompressionReport()):
                    removed += len(doomed)
        return removed

    def compress_deferred(self, should_stop: Callable[[], bool] | None = None) -> CompressionReport:
        """Rewrite every loaded ``raw-*`` pack into a compressed one, then remove it.

        ``should_stop`` is asked before each object (it may block, as the background thread's
        does while a batch is open); True discards the unfinished pack and ends the pass with
        ``finished=False``. Packs another process is rewriting are skipped (also unfinished).
        """
        report = CompressionReport()
        with self._rewriting:
            for name in self._store.packs.names(DEFERRED_PREFIX):
                try:
                    if not self._rewrite_pack(name, set(), report, should_stop):
                        report.finished = False
                except _Stopped:
                    report.finished = False
                    break
        return report

    def _rewrite_pack(
        self,
        name: str,
        drop: set[str],
        report: CompressionReport,
        should_stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Copy pack ``name``, less ``drop``, into a new pack with its deferred objects
        compressed; once that pack is durable and indexed, remove the old one.

        Returns False, changing nothing, when another process holds the pack (it is being
        rewritten there) or it is already gone. A deferred object whose bytes do not match its
        id is copied as it is (marked raw): fsck still reports it, and no pass retries it. A
        pack shorter than its index says raises ``ObjectCorrupt`` and stays as it is: copying
        a cut record would turn "pack truncated" into a corrupt object in a pack that is not.
        """
        try:
            fd = os.open(self._store.pack_dir / f"{name}.pack", os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            if os.fstat(fd).st_nlink == 0:
                return False  # rewritten by another process while we opened it
            members = self._store.packs.members(name)
            if not members:
                return False
            compressed_before = report.objects
            with PackBatch(self._store, counted=False) as batch:
                for oid, (offset, length) in sorted(members.items(), key=lambda m: m[1][0]):
                    if oid in drop:
                        continue
                    if should_stop is not None and should_stop():
                        raise _Stopped
                    record = os.pread(fd, length, offset)
                    if len(record) != length:
                        raise ObjectCorrupt(oid, f"pack {name} is truncated")
                    if record[:1] == bytes([DEFERRED]) and len(record) >= 2:
                        report.bytes_before += length
                        report.objects += 1
                        report.bytes_after += batch.compress_record(oid, record, report)
                    else:
                        batch.copy_record(oid, record)
            if report.objects != compressed_before:
                report.packs += 1
            self._store.drop_pack(name)
            return True
        finally:
            os.close(fd)


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
