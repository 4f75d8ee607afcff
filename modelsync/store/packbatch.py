"""The batch that writes a pack: objects gathered into one new pack file, fsync'd once.

A batch appends each object's record (``[codec byte][payload]``) to a temporary pack,
``pack/tmp-<owner>-<uuid>.pack``, whose ``<owner>`` (``owner.Owner.token``) names the writing
process (``pack_writer`` reads it back, so that the store removes what a dead writer left). On
``close`` the pack is fsync'd, renamed ``pack-*`` (``raw-*`` if it holds objects stored raw to
be compressed later) and only then indexed: its ``.idx`` makes it visible, so a crash leaves at
worst an unreferenced pack.

Threads: large objects are hashed, compressed and written by the store's batch workers
(``PackOwner.workers``), each record written at its reserved offset outside the batch's lock;
small ones (``INLINE_UP_TO``) on the calling thread. A large batch flushes its pack on a
``modelsync-pack-sync_*`` thread of its own every ``SYNC_EVERY`` bytes, stopped when the batch
closes or aborts.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

from ..util.fileio import atomic_write
from ..util.hashing import BytesLike, sha256_hex
from ..util.owner import Liveness, Owner, liveness
from .base import CompressionReport
from .compression import DEFERRED, MIN_SIZE, RAW, deferred_header, encode
from .packindex import IDX_MAGIC, encode_entries
from .packs import PackLookup

TMP_PREFIX = "tmp-"
PACK_PREFIX = "pack-"
DEFERRED_PREFIX = "raw-"
"""Packs holding objects stored raw to be compressed later are named ``raw-*``."""
SYNC_EVERY = 64 << 20
"""A batch flushes its pack in the background every this many bytes, so that the fsync in
``close`` finds little left to write: the disk works while the workers still compress."""
INLINE_UP_TO = 128 << 10
"""A batch puts an object this small at once on the calling thread: handing it to a worker
costs more than hashing and compressing it, and wakes threads that contend for the GIL."""


class PackOwner(Protocol):
    """The store a batch writes its pack for (``DiskStore``): what the batch asks of it."""

    pack_dir: Path
    packs: PackLookup
    """Where a closed batch's pack is added, so that its objects are found at once."""

    def has(self, oid: str) -> bool: ...

    def freshen(self, oid: str) -> None: ...

    def workers(self) -> ThreadPoolExecutor:
        """The threads that put a batch's large objects; only a counted batch, while open,
        may use them."""
        ...

    def batch_opened(self) -> None:
        """A counted batch opens: the store keeps its workers, and compresses nothing."""
        ...

    def batch_ended(self) -> None:
        """A counted batch closed or aborted."""
        ...


class PackBatch:
    """Collects objects into one new pack; it becomes visible, fsync'd once, on ``close``.

    ``counted``: the batch counts as this process writing, which pauses background compression
    and keeps the store's workers while it is open (the store's own rewrites are not counted:
    they copy records on their own thread and never ``submit``).
    """

    def __init__(self, store: PackOwner, *, counted: bool = True) -> None:
        self._store = store
        self._counted = counted
        self._deferred = False
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._tmp_path: Path | None = None
        self._offset = 0
        self._entries: dict[str, tuple[int, int]] = {}
        self._claimed: set[str] = set()
        self._futures: list[Future[str]] = []
        self._closed = False
        self._synced = 0
        self._syncer: ThreadPoolExecutor | None = None
        self._syncs: list[Future[None]] = []
        if counted:
            store.batch_opened()

    def __enter__(self) -> PackBatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _claim(self, oid: str) -> bool:
        """True if this call should write ``oid``: no one in the batch or store has it."""
        with self._lock:
            if oid in self._claimed:
                return False
            self._claimed.add(oid)
        if self._store.has(oid):
            self._store.freshen(oid)
            return False
        return True

    def _append(self, oid: str, header: bytes, payload: BytesLike) -> int:
        """Reserve the record's place under the lock, then write it there outside the lock,
        so that worker threads copy their records into the page cache in parallel.
        ``header`` is the codec byte (and, for a deferred record, its element width)."""
        length = len(header) + len(payload)
        with self._lock:
            if header[:1] == bytes([DEFERRED]):
                self._deferred = True
            if self._file is None:
                self._store.pack_dir.mkdir(parents=True, exist_ok=True)
                self._tmp_path = self._store.pack_dir / _temporary_pack_name()
                self._file = open(self._tmp_path, "wb")  # noqa: SIM115 - closed in close/abort
            offset = self._offset
            self._offset += length
            fd = self._file.fileno()
        _write_at(fd, [header, payload], offset)
        with self._lock:
            self._entries[oid] = (offset, length)
            if self._offset - self._synced >= SYNC_EVERY:
                self._synced = self._offset
                if self._syncer is None:
                    self._syncer = ThreadPoolExecutor(1, thread_name_prefix="modelsync-pack-sync")
                self._syncs.append(self._syncer.submit(_fdatasync, fd))
        return length

    def _finish_syncs(self, *, check: bool) -> None:
        with self._lock:
            syncs, self._syncs = self._syncs, []
            syncer, self._syncer = self._syncer, None
        if syncer is not None:
            syncer.shutdown(wait=True)
        if check:
            for future in syncs:
                future.result()

    def put(self, data: BytesLike, *, planes: int = 1, compress_later: bool = False) -> str:
        oid = sha256_hex(data)
        if self._claim(oid):
            if compress_later and len(data) >= MIN_SIZE:
                self._append(oid, deferred_header(planes), data)
            else:
                codec, payload = encode(data, planes)
                self._append(oid, bytes([codec]), payload)
        return oid

    def put_known(self, oid: str, data: BytesLike, *, planes: int = 1) -> None:
        """Put bytes whose id the caller has just computed, without hashing them again."""
        if self._claim(oid):
            codec, payload = encode(data, planes)
            self._append(oid, bytes([codec]), payload)

    def copy_record(self, oid: str, record: bytes) -> None:
        """Copy a stored record as it is (the store's rewrites)."""
        with self._lock:
            self._claimed.add(oid)
        self._append(oid, record[:1], memoryview(record)[1:])

    def compress_record(self, oid: str, record: bytes, report: CompressionReport) -> int:
        """Copy a ``DEFERRED`` record compressed (or raw where that does not pay), after
        checking its bytes against its id; returns the new record's length."""
        with self._lock:
            self._claimed.add(oid)
        data = memoryview(record)[2:]
        if sha256_hex(data) != oid:
            report.corrupt.append(oid)
            return self._append(oid, bytes([RAW]), data)
        codec, payload = encode(data, record[1])
        return self._append(oid, bytes([codec]), payload)

    def submit(
        self, data: BytesLike, *, planes: int = 1, compress_later: bool = False
    ) -> Future[str]:
        if len(data) <= INLINE_UP_TO:
            done: Future[str] = Future()
            try:
                done.set_result(self.put(data, planes=planes, compress_later=compress_later))
            except Exception as exc:  # reported through the future (and wait), as from a worker
                done.set_exception(exc)
            self._futures.append(done)
            return done
        future = self._store.workers().submit(
            self.put, data, planes=planes, compress_later=compress_later
        )
        self._futures.append(future)
        return future

    def wait(self) -> None:
        """Block until every submitted object is written into the pack (or raise its error)."""
        futures, self._futures = self._futures, []
        wait(futures)
        for future in futures:
            future.result()

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.wait()
            self._finish_syncs(check=True)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        try:
            self._publish()
        except BaseException:
            self._discard_file()
            raise
        finally:
            self._ended()

    def _publish(self) -> None:
        if self._file is None or self._tmp_path is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        prefix = DEFERRED_PREFIX if self._deferred else PACK_PREFIX
        name = f"{prefix}{uuid.uuid4().hex}"
        pack = self._store.pack_dir / f"{name}.pack"
        os.replace(self._tmp_path, pack)
        self._tmp_path = pack  # until its index exists, a failure leaves it unreferenced
        atomic_write(pack.with_suffix(".idx"), IDX_MAGIC + encode_entries(self._entries))
        self._tmp_path = None
        self._store.packs.add(name, self._entries)

    def _discard_file(self) -> None:
        """Close and remove the pack being written, which nothing refers to (a failed write,
        sync or rename leaves no file behind); a pack whose index exists stays."""
        if self._file is not None:
            self._file.close()
        path = self._tmp_path
        if path is not None and not path.with_suffix(".idx").exists():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _ended(self) -> None:
        if self._counted:
            self._store.batch_ended()

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        for future in self._futures:
            future.cancel()
        wait(self._futures)
        self._finish_syncs(check=False)
        self._discard_file()
        self._ended()


def _temporary_pack_name() -> str:
    return f"{TMP_PREFIX}{Owner.current().token()}-{uuid.uuid4().hex}.pack"


def pack_writer(name: str) -> Liveness:
    """Whether the process writing the temporary pack ``name`` still runs (UNKNOWN for any
    other file, and for a pack named by a writer elsewhere or before names had owners)."""
    if not (name.startswith(TMP_PREFIX) and name.endswith(".pack")):
        return Liveness.UNKNOWN
    token, _, _unique = name[len(TMP_PREFIX) : -len(".pack")].rpartition("-")
    owner = Owner.from_token(token)
    return liveness(owner) if owner is not None else Liveness.UNKNOWN


def _fdatasync(fd: int) -> None:
    getattr(os, "fdatasync", os.fsync)(fd)


def _write_at(fd: int, parts: list[BytesLike], offset: int) -> None:
    """Write ``parts`` back to back at ``offset`` (``pwritev`` may write less than asked)."""
    views = [memoryview(part).cast("B") for part in parts]
    while views:
        written = os.pwritev(fd, views, offset)
        offset += written
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]
