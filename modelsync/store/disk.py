"""The object store on disk: loose objects and append-only pack files.

Layout under ``.modelsync/objects/``::

    ab/cdef...           a loose object: one codec byte, then the (maybe compressed) payload
    pack/<name>.pack     records of [codec byte][payload], back to back
    pack/<name>.idx      the pack's index: sorted (id, offset, length); its presence makes the
                         pack visible, so a crash mid-pack leaves only an unreferenced .pack
    pack/tmp-<owner>-<uuid>.pack
                         a pack being written; ``<owner>`` (``owner.Owner.token``) names the
                         writing process, so once it is gone the next batch or gc removes it

Objects put outside a batch are loose files, fsync'd one by one. A batch gathers many objects
into one pack written with a single fsync, which is what checkpoints and large files use.
Every read decodes the payload and checks that its SHA-256 is the id it was asked for; fsck
also holds each pack to its index (``check_files``): ids in order, records back to back from
the pack's first byte to its last, so a cut or damaged pack or index is named, not only the
objects it hides.

Store first, compress later: a batch may write objects raw (codec ``DEFERRED``) when compressing
them would hold up the writer. Their pack is named ``raw-*``; ``compress_deferred`` (run by a
low-priority background thread while this process writes nothing, and by gc) rewrites such a
pack into a compressed one and only then removes it. Ids never change, and every object stays
readable throughout: the old pack goes only after the new one is fsync'd and indexed, and a
reader that finds a pack gone looks the object up again.

``DiskStore`` is the façade; its parts are modules of their own: ``packs`` finds an object in
the loaded packs, ``packbatch`` writes a pack, ``repack`` rewrites packs (gc's removals and
compress-later, also in the background), ``packindex`` reads a pack's index where it lies.

Threads: the store starts each of its threads when there is work for it and stops it when that
work is done, so that a plain ``add`` leaves none running:

- ``modelsync-store_*``, the batch workers: they hash, compress and write a batch's large
  objects; started by the first one a batch hands over, stopped when the last open batch ends,
  unless a writer that opens batch after batch holds them (``hold_workers``).
- ``modelsync-pack-sync_*``: flushes a large batch's pack while it is written; one per batch,
  stopped when the batch closes or aborts.
- ``modelsync-compress`` (``repack.BackgroundCompressor``): started when a batch ends while
  ``raw-*`` packs exist, it compresses them while no batch is open, and ends when none is left.

``close`` stops them all (see there for the order); a repository closes its store last.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..errors import ObjectCorrupt, ObjectMissing
from ..util.fileio import atomic_output
from ..util.hashing import BytesLike, is_oid, sha256_hex
from ..util.owner import Liveness
from .base import CompressionReport
from .compression import DEFERRED, RAW, SCRATCH_LIMIT, CodecError, decode, decode_into, encode
from .packbatch import DEFERRED_PREFIX, TMP_PREFIX, PackBatch, pack_writer
from .packindex import PackIndex, read_index
from .packs import PackLookup
from .repack import BackgroundCompressor, Repacker

STALE_AFTER = 3600.0


def _worker_count() -> int:
    return max(2, min(8, os.cpu_count() or 2))


class DiskStore:
    """Loose objects and packs under ``root``.

    ``background_compression``: after this process closes a batch while ``raw-*`` packs exist,
    a low-priority thread compresses them whenever no batch is open here, and ends once none is
    left (``close`` stops it; what is left waits for the next time, or for gc).
    """

    def __init__(self, root: Path, *, background_compression: bool = True) -> None:
        self.root = root
        self.pack_dir = root / "pack"
        self.background_compression = background_compression
        self._lock = threading.RLock()
        self._scratch_buffers = threading.local()
        self.packs = PackLookup(self._lock)  # where each loaded pack's objects are
        self._fds: dict[str, int] = {}
        self._loaded = False
        self._executor: ThreadPoolExecutor | None = None  # the batch workers, while batches run
        self._activity = threading.Condition()
        self._open_batches = 0  # counted batches: while any is open, the workers are kept
        self._worker_holds = 0  # writers keeping the workers between batches (hold_workers)
        self._repacker = Repacker(self)
        self._background: BackgroundCompressor | None = None
        self._closed = False  # a closed store starts no more background passes
        self._swept = False  # the first batch removes the unfinished packs of dead writers

    # ----------------------------------------------------------------- reading
    def _loose_path(self, oid: str) -> Path:
        return self.root / oid[:2] / oid[2:]

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self.refresh()

    def refresh(self) -> None:
        """Catch up with other writers: load packs they finished, forget packs gc removed."""
        with self._lock:
            self._loaded = True
            on_disk = set()
            if self.pack_dir.is_dir():
                for idx_path in self.pack_dir.glob("*.idx"):
                    name = idx_path.stem
                    on_disk.add(name)
                    if name not in self.packs:
                        with contextlib.suppress(FileNotFoundError):
                            self.packs.load(name, idx_path.read_bytes())
            for name in set(self.packs.names()) - on_disk:
                self._forget_pack(name)

    def _pack_fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is None:
            fd = os.open(self.pack_dir / f"{name}.pack", os.O_RDONLY)
            self._fds[name] = fd
        return fd

    def _open_record(self, oid: str) -> tuple[int, int, int, str] | bytes:
        """Where ``oid``'s record is: (a descriptor of the caller's own to close, offset,
        length, pack name) in its pack, or the bytes of a loose object."""
        self._ensure_loaded()
        location = self.packs.locate(oid)
        if location is None:
            try:
                return self._loose_path(oid).read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                self.refresh()
                location = self.packs.locate(oid)
                if location is None:
                    raise ObjectMissing(oid) from None
        name, offset, length = location
        with self._lock:
            try:
                fd = self._pack_fd(name)
            except FileNotFoundError:
                # gc or compression in another process may have rewritten it: look again once.
                self.refresh()
                moved = self.packs.locate(oid)
                if moved is None or moved[0] == name:
                    raise ObjectMissing(oid, f"pack {name} is gone") from None
                name, offset, length = moved
                fd = self._pack_fd(name)
            # Our own descriptor: a rewrite in this process may close the pack's meanwhile.
            return os.dup(fd), offset, length, name

    def _read_record(self, oid: str) -> bytes:
        place = self._open_record(oid)
        if isinstance(place, bytes):
            return place
        fd, offset, length, name = place
        try:
            record = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        if len(record) != length:
            raise ObjectCorrupt(oid, f"pack {name} is truncated")
        return record

    def get(self, oid: str) -> bytes:
        if not is_oid(oid):
            raise ObjectMissing(oid)
        record = self._read_record(oid)
        if not record:
            raise ObjectCorrupt(oid, "empty record")
        try:
            data = decode(record[0], record[1:])
        except CodecError as exc:
            raise ObjectCorrupt(oid, f"undecodable: {exc}") from exc
        if sha256_hex(data) != oid:
            raise ObjectCorrupt(oid)
        return data

    def read_into(self, oid: str, out: memoryview) -> None:
        """Decode an object straight into ``out`` (exactly its size), verified like ``get``.

        A record stored raw is read from its pack straight into ``out``; a compressed one into
        a buffer this thread keeps, not a new one per object (fresh pages cost as much as the
        copy)."""
        if not is_oid(oid):
            raise ObjectMissing(oid)
        place = self._open_record(oid)
        if isinstance(place, bytes):
            record: BytesLike = place
        else:
            fd, offset, length, name = place
            try:
                if self._read_raw_into(fd, offset, length, out):
                    if sha256_hex(out) != oid:
                        raise ObjectCorrupt(oid)
                    return
                record = self._scratch(length)
                if os.preadv(fd, [record], offset) != length:
                    raise ObjectCorrupt(oid, f"pack {name} is truncated")
            finally:
                os.close(fd)
        if not record:
            raise ObjectCorrupt(oid, "empty record")
        try:
            decode_into(record[0], memoryview(record)[1:], out)
        except CodecError as exc:
            raise ObjectCorrupt(oid, f"undecodable: {exc}") from exc
        if sha256_hex(out) != oid:
            raise ObjectCorrupt(oid)

    @staticmethod
    def _read_raw_into(fd: int, offset: int, length: int, out: memoryview) -> bool:
        """Read a record whose payload is the object as it is (``RAW``, or ``DEFERRED`` with its
        one-byte header) straight into ``out``; False, ``out`` unspecified, for any other."""
        if length - len(out) not in (1, 2):
            return False
        head = bytearray(length - len(out))
        if os.preadv(fd, [head, out], offset) != length:
            return False
        return (len(head) == 1 and head[0] == RAW) or (
            len(head) == 2 and head[0] == DEFERRED and head[1] != 0
        )

    def _scratch(self, size: int) -> memoryview:
        """This thread's read buffer, at least ``size`` bytes, kept for its next object; a
        one-off buffer for a record larger than ``SCRATCH_LIMIT``."""
        if size > SCRATCH_LIMIT:
            return memoryview(bytearray(size))
        buffer: bytearray | None = getattr(self._scratch_buffers, "buffer", None)
        if buffer is None or len(buffer) < size:
            buffer = self._scratch_buffers.buffer = bytearray(size)
        return memoryview(buffer)[:size]

    def has(self, oid: str) -> bool:
        if not is_oid(oid):  # a ref's garbage, say: no object, and no path to look up
            return False
        self._ensure_loaded()
        return self.packs.locate(oid) is not None or self._loose_path(oid).is_file()

    def stored_size(self, oid: str) -> int:
        self._ensure_loaded()
        location = self.packs.locate(oid)
        if location is not None:
            return location[2]
        try:
            return self._loose_path(oid).stat().st_size
        except FileNotFoundError:
            raise ObjectMissing(oid) from None

    def written_at(self, oid: str) -> float:
        self._ensure_loaded()
        location = self.packs.locate(oid)
        path = self.pack_dir / f"{location[0]}.pack" if location else self._loose_path(oid)
        try:
            return path.stat().st_mtime
        except FileNotFoundError:
            raise ObjectMissing(oid) from None

    def freshen(self, oid: str) -> None:
        """Mark a reused object as recently written, so a concurrent gc's grace period keeps it
        (as git does): a writer that finds an object already stored is about to refer to it."""
        self._ensure_loaded()
        location = self.packs.locate(oid)
        path = self.pack_dir / f"{location[0]}.pack" if location else self._loose_path(oid)
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)

    def iter_ids(self) -> Iterator[str]:
        self.refresh()
        packs = [members for _name, members in self.packs.items()]
        seen: set[str] = set()
        for members in packs:
            fresh = [oid for oid in members if oid not in seen]
            seen.update(fresh)
            yield from fresh
        if not self.root.is_dir():
            return
        for fanout in sorted(self.root.iterdir()):
            if len(fanout.name) != 2 or not fanout.is_dir():
                continue
            for entry in fanout.iterdir():
                oid = fanout.name + entry.name
                if is_oid(oid) and oid not in seen:
                    yield oid

    # ---------------------------------------------------------------- checking
    def check_files(self, corrupt: Collection[str] = ()) -> list[tuple[Path, str]]:
        """The damaged pack files, each with what is wrong (fsck names them beside the objects
        they hold): an index that is cut short, not an index, out of order or describing
        records that do not lie back to back; a pack missing, cut short or longer than its
        index says; and each pack holding any of the ``corrupt`` objects.

        A ``.pack`` without its index is a write that never finished, no damage: nothing refers
        to it (``remove_stale_temporaries``).
        """
        damaged: list[tuple[Path, str]] = []
        suspects = set(corrupt)
        if not self.pack_dir.is_dir():
            return damaged
        for idx_path in sorted(self.pack_dir.glob("*.idx")):
            try:
                data = idx_path.read_bytes()
            except FileNotFoundError:
                continue  # removed by a rewrite meanwhile
            pack_path = idx_path.with_suffix(".pack")
            index = read_index(data)
            if isinstance(index, str):
                problem: tuple[Path, str] | None = (idx_path, index)
            else:
                problem = _pack_damage(pack_path, index)
                held = sum(1 for oid in suspects if oid in index)
                if problem is None and held:
                    problem = (pack_path, f"{held} of its objects do not match their ids")
            if problem is not None and idx_path.exists():  # else a rewrite removed the pack
                damaged.append(problem)
        return damaged

    # ----------------------------------------------------------------- writing
    def workers(self) -> ThreadPoolExecutor:
        """The batch workers, started by the first object an open batch hands them.

        Only a counted batch, while open, may use them: they stop once no batch is open and
        nobody holds them (``_stop_idle_workers``), and a batch counts itself open before its
        first ``submit``.
        """
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=_worker_count(), thread_name_prefix="modelsync-store"
                )
            return self._executor

    def put(self, data: BytesLike, *, planes: int = 1, compress_later: bool = False) -> str:
        """A loose object, compressed at once (``compress_later`` is for pack batches)."""
        oid = sha256_hex(data)
        self.put_known(oid, data, planes=planes)
        return oid

    def put_known(self, oid: str, data: BytesLike, *, planes: int = 1) -> None:
        if self.has(oid):
            self.freshen(oid)
        else:
            codec, payload = encode(data, planes)
            with atomic_output(self._loose_path(oid)) as out:
                out.write(bytes([codec]))
                out.write(payload)

    def submit(
        self, data: BytesLike, *, planes: int = 1, compress_later: bool = False
    ) -> Future[str]:
        """A loose object, put on the calling thread: each is fsync'd on its own, so workers
        would gain little, and the store keeps them for batches (see ``workers``)."""
        done: Future[str] = Future()
        try:
            done.set_result(self.put(data, planes=planes))
        except Exception as exc:  # reported through the future, as a batch's would be
            done.set_exception(exc)
        return done

    def batch(self) -> PackBatch:
        with self._lock:
            sweep, self._swept = not self._swept, True
        if sweep:
            self._remove_dead_writers_packs()
        return PackBatch(self)

    def batch_opened(self) -> None:
        with self._activity:
            self._open_batches += 1

    def batch_ended(self) -> None:
        """The last open batch stops the workers (unless held); a batch that leaves ``raw-*``
        packs behind has them compressed in the background."""
        with self._activity:
            self._open_batches -= 1
            self._activity.notify_all()
        self._stop_idle_workers()
        if self.background_compression and not self._closed and self.packs.names(DEFERRED_PREFIX):
            self._compress_in_background()

    def hold_workers(self) -> None:
        """Keep the batch workers between batches, until ``release_workers``: for a writer
        that opens batch after batch (a checkpoint writer, from its creation until its close).
        Starting them anew for each batch costs that writer's training loop more than the
        threads cost it idle (on 2 cores, an 8 MiB snapshot took about 30 ms instead of 23)."""
        with self._activity:
            self._worker_holds += 1

    def release_workers(self) -> None:
        """End one ``hold_workers``: the workers stop now if no batch is open."""
        with self._activity:
            self._worker_holds -= 1
        self._stop_idle_workers()

    def _stop_idle_workers(self) -> None:
        """Stop the workers if no batch is open and nobody holds them."""
        with self._activity:
            # Decided under the lock a batch counts itself open with: none can be using them.
            if self._open_batches or self._worker_holds:
                return
            idle_workers = self._take_workers()
        if idle_workers is not None:
            idle_workers.shutdown(wait=True)

    def _take_workers(self) -> ThreadPoolExecutor | None:
        with self._lock:
            executor, self._executor = self._executor, None
        return executor

    def _compress_in_background(self) -> None:
        """Have the compressor run a pass: the running one takes it, else a new one starts."""
        with self._lock:
            if self._closed:
                return
            if self._background is None or not self._background.wake():
                self._background = BackgroundCompressor(
                    self.compress_deferred, self.wait_until_idle
                )

    def wait_until_idle(self, stop: threading.Event) -> bool:
        """Block while a batch is open in this process; True if ``stop`` was set meanwhile."""
        with self._activity:
            while self._open_batches and not stop.is_set():
                self._activity.wait(0.5)
        return stop.is_set()

    def _notify_activity(self) -> None:
        with self._activity:
            self._activity.notify_all()

    # ---------------------------------------------------------------- removing
    def remove(self, oids: set[str]) -> int:
        """Delete objects (gc). Packs holding any of them are rewritten without them (and with
        their deferred objects compressed); a pack another process is rewriting is left alone."""
        self.refresh()
        removed = 0
        for oid in oids:
            path = self._loose_path(oid)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        return removed + self._repacker.remove(oids)

    def compress_deferred(self, should_stop: Callable[[], bool] | None = None) -> CompressionReport:
        """Rewrite every ``raw-*`` pack, this process's and other writers', into a compressed
        one, then remove it (``Repacker.compress_deferred``)."""
        self.refresh()
        return self._repacker.compress_deferred(should_stop)

    def _forget_pack(self, name: str) -> None:
        """Drop a pack from the lookup and close its descriptor, in one step for a reader."""
        with self._lock:
            self.packs.forget(name)
            self._close_pack_file(name)

    def _close_pack_file(self, name: str) -> None:
        fd = self._fds.pop(name, None)
        if fd is not None:
            os.close(fd)

    def drop_pack(self, name: str) -> None:
        """Forget pack ``name`` and remove its files, its index first (the end of a rewrite)."""
        self._forget_pack(name)
        for suffix in (".idx", ".pack"):
            with contextlib.suppress(FileNotFoundError):
                (self.pack_dir / f"{name}{suffix}").unlink()

    def remove_stale_temporaries(self) -> int:
        """Unfinished packs and temp files left by a crash: nothing refers to them.

        A ``tmp-*.pack`` goes as soon as its name says its writer is gone, and stays while that
        writer runs. Any other (its writer on another host, or not named: a loose object's temp
        file, a pack whose index was never written) goes only once untouched for
        ``STALE_AFTER`` seconds: a younger one may belong to a writer that is still running.
        """
        cutoff = time.time() - STALE_AFTER
        count = 0
        for path in self._temporaries():
            writer = pack_writer(path.name)
            with contextlib.suppress(FileNotFoundError):
                if writer is Liveness.GONE or (
                    writer is Liveness.UNKNOWN and path.stat().st_mtime < cutoff
                ):
                    path.unlink()
                    count += 1
        return count

    def _remove_dead_writers_packs(self) -> None:
        """Remove the ``tmp-*.pack`` files whose writers are gone: what a crash left goes with
        the next writer, at the cost of one listing of ``pack/`` per store."""
        try:
            names = os.listdir(self.pack_dir)
        except FileNotFoundError:
            return
        for name in names:
            if name.startswith(TMP_PREFIX) and pack_writer(name) is Liveness.GONE:
                with contextlib.suppress(FileNotFoundError):
                    (self.pack_dir / name).unlink()

    def _temporaries(self) -> Iterator[Path]:
        if self.pack_dir.is_dir():
            for path in self.pack_dir.iterdir():
                orphan_pack = path.suffix == ".pack" and not path.with_suffix(".idx").exists()
                # ``atomic_write``'s temp file of a pack index (``.<name>.idx.<random>.tmp``)
                unfinished_index = path.name.startswith(".") and path.suffix == ".tmp"
                if path.name.startswith(TMP_PREFIX) or orphan_pack or unfinished_index:
                    yield path
        if self.root.is_dir():
            for fanout in self.root.iterdir():
                if len(fanout.name) == 2 and fanout.is_dir():
                    yield from fanout.glob(".*.tmp")

    def close(self) -> None:
        """Stop this store's threads, then close its pack descriptors, in this order:

        1. the background compressor, which no later batch restarts: its pass stops before the
           next object and discards its unfinished pack (the ``raw-*`` packs it leaves stay
           readable, for the next process's pass or gc);
        2. the batch workers, held or not, once they have put what open batches gave them
           (close a batch before its store; one still open gets new workers if it submits);
        3. the pack descriptors, which nothing running reads any more.

        The store stays usable: a read reopens descriptors, a batch starts workers again.
        """
        with self._lock:
            self._closed = True
            background, self._background = self._background, None
        if background is not None:
            background.request_stop()
            self._notify_activity()  # out of wait_until_idle at once
            background.join()
        workers = self._take_workers()
        if workers is not None:  # joined outside the lock: a worker's put may need it
            workers.shutdown(wait=True)
        with self._lock:
            for name in list(self._fds):
                self._close_pack_file(name)


def _pack_damage(pack_path: Path, index: PackIndex) -> tuple[Path, str] | None:
    """What is wrong with a pack, or its index, given that the index reads; None if nothing."""
    end = index.extent()
    if end is None:
        return pack_path.with_suffix(".idx"), "its records overlap or leave gaps in the pack"
    try:
        size = pack_path.stat().st_size
    except FileNotFoundError:
        return pack_path, f"missing: its index lists {len(index)} objects"
    if size < end:
        return pack_path, f"cut short: {size} bytes, its index needs {end}"
    if size > end:
        return pack_path, f"its last {size - end} bytes are in no entry of its index"
    return None

