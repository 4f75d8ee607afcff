"""Writing checkpoints: capture on the training thread, hash/compress/write in the background.

``CheckpointWriter.capture`` walks a state dict (or a full Lightning checkpoint, or a module)
and takes what must be taken before training goes on: a CPU copy of each tensor that may have
changed. A tensor whose storage and version counter are those it had at the previous capture in
this process cannot have changed, so it is neither copied nor hashed again: the snapshot reuses
the chunk ids stored for it then. ``write`` hashes the copies, compresses them by byte planes
and puts them into a pack batch (on the store's worker threads, which release the GIL) and
writes the manifest; ``commit`` makes a commit of it through the ``CommitCheckpoint`` the writer
was made with. The writer knows the object store and that callable, nothing of repositories:
``saving`` gives each repository its writer, committing onto its branches.

Compression costs more CPU than hashing and writing together. Where someone waits for it (a
large snapshot saved synchronously, the first save of a big model; or any snapshot written while
a newer one is already queued behind it), the chunks are stored raw and the store compresses
them later (in the background while it is idle, or at gc); a snapshot written in the background
with nobody waiting is compressed as it is written. See ``CheckpointWriter.compression``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from ..errors import UsageError
from ..model.objects import FILE_MODE, CheckpointManifest, JSONValue, TensorRecord, TreeEntry
from ..store import ObjectStore, ObjectWriter
from .structure import encode_structure
from .tensors import (
    byte_planes,
    byte_view,
    check_storable,
    contiguous_cpu,
    dtype_name,
    staging_buffer,
)

if TYPE_CHECKING:
    import torch

CHUNK_SIZE = 4 << 20
COMPRESS_LATER_FROM = 32 << 20
"""With ``compression="auto"``, a snapshot saved synchronously with this many new tensor bytes
or more is stored raw and compressed later (compressing 32 MiB costs a core about 50 ms)."""

Compression = Literal["auto", "now", "later"]


class CommitCheckpoint(Protocol):
    """Makes a checkpoint commit onto ``branch`` (None: HEAD's branch); returns its id.

    It opens a batch, has ``write`` put the checkpoint's objects into it (``write`` returns the
    tree entry naming them), and commits a tree holding that entry once the batch is durable:
    objects before the ref that reaches them.
    """

    def __call__(
        self,
        write: Callable[[ObjectWriter], TreeEntry],
        *,
        message: str,
        branch: str | None,
        meta: dict[str, Any],
    ) -> str: ...


@dataclass
class _Stored:
    """Where one tensor's bytes went: filled in by ``write``, reused by later captures."""

    chunks: tuple[str, ...] | None = None


@dataclass
class _CacheEntry:
    tensor: torch.Tensor  # held so that its storage, and so its address, cannot be reused
    version: int
    stored: _Stored


@dataclass
class _PendingTensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    device: str
    planes: int
    stored: _Stored
    data: torch.Tensor | None  # a contiguous CPU tensor to write; None when reused
    staged: bool  # data is the writer's own copy: its buffer serves the next capture


@dataclass
class CheckpointStats:
    """What captures and their writes did: one snapshot's (``Snapshot.stats``), or the totals
    over every snapshot a writer wrote (``CheckpointWriter.stats``). ``bytes_reused`` were
    neither copied nor hashed."""

    snapshots: int = 0
    tensors: int = 0
    tensors_reused: int = 0
    bytes_total: int = 0
    bytes_reused: int = 0
    bytes_copied: int = 0
    bytes_hashed: int = 0
    chunks_hashed: int = 0
    bytes_compress_later: int = 0

    def add(self, other: CheckpointStats) -> None:
        """Count ``other`` in these totals."""
        for counter in fields(self):
            setattr(self, counter.name, getattr(self, counter.name) + getattr(other, counter.name))


@dataclass
class Snapshot:
    """A checkpoint captured in memory, ready for ``CheckpointWriter.write``.

    ``copied``: the capture copied the tensors, so training goes on while it is written (else
    the caller waits for the write). ``sequence`` numbers the writer's captures: a snapshot
    written while a later one exists tells the writer that it is behind."""

    structure: JSONValue
    tensors: list[_PendingTensor]
    meta: dict[str, Any]
    stats: CheckpointStats = field(default_factory=CheckpointStats)
    copied: bool = True
    sequence: int = 0

    @property
    def nbytes(self) -> int:
        return self.stats.bytes_total


def _identity(tensor: torch.Tensor) -> tuple[Any, ...]:
    """Two tensors with the same identity are the same values in the same memory."""
    if tensor.numel() == 0:
        return ("empty", id(tensor))
    return (
        str(tensor.device),
        tensor.untyped_storage().data_ptr(),
        tensor.storage_offset(),
        tuple(tensor.shape),
        tuple(tensor.stride()),
        tensor.dtype,
    )


def _version(tensor: torch.Tensor) -> int | None:
    """The version counter, bumped by every in-place change; None where torch keeps none."""
    if tensor.is_inference():
        return None
    return int(tensor._version)


def checkpoint_meta(obj: Any) -> dict[str, Any]:
    """Commit metadata a checkpoint carries itself: Lightning's epoch and global step."""
    meta: dict[str, Any] = {"kind": "checkpoint"}
    if isinstance(obj, dict):
        for key, meta_key in (("global_step", "step"), ("epoch", "epoch")):
            value = obj.get(key)
            if type(value) is int:
                meta[meta_key] = value
    return meta


class CheckpointWriter:
    """Stores checkpoints in one object store; remembers what it stored for this process.

    The ``CommitCheckpoint`` it is made with commits what ``commit``, ``save`` and
    ``save_async`` write. Use one writer per store per process (``saving.writer_for`` keeps a
    repository's), so that its memory of stored tensors spans every snapshot. ``capture`` may
    run on the training thread while an earlier snapshot is still being written on another;
    write snapshots in the order they were captured. With ``reuse_buffers``, the copies of one
    written snapshot are kept to receive the next capture's copies (fresh memory costs page
    faults, which dominate a large copy): that holds up to one snapshot's changed tensors
    between snapshots, until ``close``. Until ``close`` too, the store keeps its batch workers
    between snapshots (``hold_workers``), rather than starting them again for each.

    ``compression``: ``"now"`` compresses every chunk as it is written; ``"later"`` stores
    chunks raw (hashed, verified and packed all the same) for the store to compress later;
    ``"auto"`` does that where someone waits for the write: a snapshot captured without copies
    (``save``: the caller waits) with at least ``COMPRESS_LATER_FROM`` new bytes, or any
    snapshot written when a newer one was already captured (the writer is behind).
    """

    def __init__(
        self,
        store: ObjectStore,
        commit: CommitCheckpoint,
        *,
        chunk_size: int = CHUNK_SIZE,
        reuse_buffers: bool = True,
        compression: Compression = "auto",
    ) -> None:
        if chunk_size <= 0 or chunk_size % 64:
            raise ValueError("chunk_size must be a positive multiple of 64 bytes")
        if compression not in get_args(Compression):
            raise ValueError(f"compression must be one of {', '.join(get_args(Compression))}")
        self.store = store
        self._commit = commit
        self.chunk_size = chunk_size
        self.reuse_buffers = reuse_buffers
        self.compression = compression
        self.stats = CheckpointStats()
        self._captured = 0
        self._cache: dict[tuple[Any, ...], _CacheEntry] = {}
        self._spare: dict[tuple[int, bool], list[torch.Tensor]] = {}
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        # Snapshots come batch after batch: the store keeps its workers for them until close.
        self._holds_store_workers = True
        store.hold_workers()

    # ------------------------------------------------------------------ capture
    def capture(self, obj: Any, *, copy: bool = True, reuse: bool = True) -> Snapshot:
        """Take a snapshot of ``obj``: a state dict, a nested dict of tensors, or a module.

        ``copy=True`` copies every tensor that may have changed, so training may go on at once;
        ``copy=False`` keeps references (for a write that follows before anything changes).
        ``reuse=False`` forgets what earlier snapshots stored: every tensor is hashed again
        (needed only if tensors were changed behind torch's back, e.g. through ``.data`` or a
        numpy view, which does not bump the version counter).
        """
        import torch

        if isinstance(obj, torch.nn.Module):
            obj = obj.state_dict()
        with self._lock:
            previous = self._cache if reuse else {}
            spare, self._spare = self._spare, {}
            capture = _Capture(self, previous, copy, spare)
            structure = encode_structure(obj, capture.add)
            self._cache = capture.cache
            self._captured += 1
            sequence = self._captured
        meta = checkpoint_meta(obj)
        return Snapshot(structure, capture.pending, meta, capture.stats, copy, sequence)

    def _still_stored(self, stored: _Stored) -> bool:
        return stored.chunks is not None and all(self.store.has(oid) for oid in stored.chunks)

    # -------------------------------------------------------------------- write
    def write(self, snapshot: Snapshot, batch: ObjectWriter) -> str:
        """Hash, compress and write the snapshot's tensors and manifest into ``batch``.

        Returns the manifest's id. Objects become durable when the batch closes; close it
        before any ref points at the manifest.
        """
        later = self.compresses_later(snapshot)
        submitted: list[tuple[_PendingTensor, list[Future[str]]]] = []
        for pending in snapshot.tensors:
            if pending.data is None:
                continue
            view = byte_view(pending.data)
            futures = [
                batch.submit(
                    view[start : start + self.chunk_size],
                    planes=pending.planes,
                    compress_later=later,
                )
                for start in range(0, pending.nbytes, self.chunk_size)
            ]
            submitted.append((pending, futures))
            if later:
                snapshot.stats.bytes_compress_later += pending.nbytes
        for pending, futures in submitted:
            pending.stored.chunks = tuple(future.result() for future in futures)
            snapshot.stats.bytes_hashed += pending.nbytes
            snapshot.stats.chunks_hashed += len(futures)
        records = []
        for pending in snapshot.tensors:
            assert pending.stored.chunks is not None
            records.append(
                TensorRecord(
                    name=pending.name,
                    dtype=pending.dtype,
                    shape=pending.shape,
                    nbytes=pending.nbytes,
                    chunks=pending.stored.chunks,
                    device=pending.device,
                )
            )
        manifest = CheckpointManifest(self.chunk_size, tuple(records), snapshot.structure)
        oid = batch.put(manifest.to_bytes())
        for pending in snapshot.tensors:
            if pending.staged and pending.data is not None and self.reuse_buffers:
                self._keep_spare(pending.data)
            pending.data = None
        self._count(snapshot.stats)
        return oid

    def compresses_later(self, snapshot: Snapshot) -> bool:
        """Whether ``write`` stores this snapshot's new chunks raw, for later compression."""
        if self.compression != "auto":
            return self.compression == "later"
        with self._lock:
            if self._captured > snapshot.sequence:
                return True
        if snapshot.copied:
            return False
        new_bytes = sum(pending.nbytes for pending in snapshot.tensors if pending.data is not None)
        return new_bytes >= COMPRESS_LATER_FROM

    def _keep_spare(self, data: torch.Tensor) -> None:
        import torch

        flat = data.reshape(-1).view(torch.uint8)
        with self._lock:
            self._spare.setdefault((flat.numel(), flat.is_pinned()), []).append(flat)

    def _count(self, stats: CheckpointStats) -> None:
        with self._lock:
            self.stats.add(stats)

    # ------------------------------------------------------------------- commit
    def commit(
        self,
        snapshot: Snapshot,
        *,
        message: str | None = None,
        branch: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> str:
        """Write ``snapshot`` and commit it onto ``branch`` (default: HEAD's branch), through
        the writer's ``CommitCheckpoint``. Returns the commit id."""

        def write(batch: ObjectWriter) -> TreeEntry:
            manifest_oid = self.write(snapshot, batch)
            return TreeEntry("checkpoint", manifest_oid, snapshot.nbytes, FILE_MODE)

        commit_meta = {**snapshot.meta, **(meta or {})}
        text = message or checkpoint_message(commit_meta.get("step"), commit_meta.get("epoch"))
        return self._commit(write, message=text, branch=branch, meta=commit_meta)

    def save(
        self,
        obj: Any,
        *,
        message: str | None = None,
        branch: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> str:
        """Capture, write and commit in one call (the caller waits; tensors are not copied)."""
        return self.commit(self.capture(obj, copy=False), message=message, branch=branch, meta=meta)

    def save_async(
        self,
        obj: Any,
        *,
        message: str | None = None,
        branch: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Future[str]:
        """Capture now (copying what changed), then write and commit on a background thread.

        Snapshots are committed one at a time in the order they were taken. The future gives
        the commit id, or raises what went wrong.
        """
        snapshot = self.capture(obj)
        return self._background().submit(
            self.commit, snapshot, message=message, branch=branch, meta=meta
        )

    def _background(self) -> ThreadPoolExecutor:
        """The writer's one thread, started by the first ``save_async`` and stopped by ``close``
        (which the repository that keeps this writer calls in its own ``close``)."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="modelsync-checkpoint"
                )
            return self._executor

    def wait(self) -> None:
        """Block until every snapshot given to ``save_async`` so far is committed (or failed)."""
        with self._lock:
            executor = self._executor
        if executor is not None:
            executor.submit(lambda: None).result()

    def close(self) -> None:
        """Finish the pending background commits, stop the background thread, let the store
        stop its workers, free buffers."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        with self._lock:
            self._spare = {}
            release, self._holds_store_workers = self._holds_store_workers, False
        if release:
            self.store.release_workers()


class _Capture:
    """One walk over a checkpoint: the tensor table, and the cache for the next capture."""

    def __init__(
        self,
        writer: CheckpointWriter,
        previous: dict[tuple[Any, ...], _CacheEntry],
        copy: bool,
        spare: dict[tuple[int, bool], list[torch.Tensor]],
    ) -> None:
        self.writer = writer
        self.previous = previous
        self.copy = copy
        self.spare = spare
        self.pending: list[_PendingTensor] = []
        self.cache: dict[tuple[Any, ...], _CacheEntry] = {}
        self.index: dict[tuple[Any, ...], int] = {}
        self.stats = CheckpointStats(snapshots=1)

    def add(self, tensor: torch.Tensor, path: str) -> int:
        check_storable(tensor, path)
        identity = _identity(tensor)
        known = self.index.get(identity)
        if known is not None:
            return known
        nbytes = tensor.numel() * tensor.element_size()
        data: torch.Tensor | None = None
        stored = self._reused(identity)
        if stored is None:
            stored = _Stored()
            try:
                data = contiguous_cpu(tensor, copy=self.copy, into=self._buffer(tensor, nbytes))
            except RuntimeError as exc:
                what = f"{dtype_name(tensor.dtype)} tensor at {path or 'the top level'}"
                raise UsageError(f"cannot copy the {what} to the CPU: {exc}") from exc
            version = _version(tensor)
            if version is not None:
                self.cache[identity] = _CacheEntry(tensor, version, stored)
            if data.data_ptr() != tensor.data_ptr():
                self.stats.bytes_copied += nbytes
        else:
            self.stats.tensors_reused += 1
            self.stats.bytes_reused += nbytes
        self.stats.tensors += 1
        self.stats.bytes_total += nbytes
        self.pending.append(
            _PendingTensor(
                name=path,
                dtype=dtype_name(tensor.dtype),
                shape=tuple(tensor.shape),
                nbytes=nbytes,
                device=str(tensor.device),
                planes=byte_planes(tensor.dtype),
                stored=stored,
                data=data,
                staged=self.copy and data is not None and nbytes > 0,
            )
        )
        self.index[identity] = len(self.pending) - 1
        return len(self.pending) - 1

    def _buffer(self, tensor: torch.Tensor, nbytes: int) -> torch.Tensor | None:
        """Where an async capture copies a tensor: a spare buffer, or new (pinned off a GPU)."""
        if not self.copy or nbytes == 0:
            return None
        pinned = tensor.device.type == "cuda"
        spares = self.spare.get((nbytes, pinned))
        return spares.pop() if spares else staging_buffer(nbytes, pinned=pinned)

    def _reused(self, identity: tuple[Any, ...]) -> _Stored | None:
        """The stored bytes of a tensor unchanged since the previous capture, if any."""
        entry = self.previous.get(identity)
        if entry is None or _version(entry.tensor) != entry.version:
            return None
        if not self.writer._still_stored(entry.stored):
            return None
        self.cache[identity] = entry
        return entry.stored


def checkpoint_message(step: int | None, epoch: int | None) -> str:
    """A checkpoint commit's message when its maker gives none: ``checkpoint (epoch 3, step
    1200)``, naming what is known."""
    parts = [
        f"{label} {value}"
        for label, value in (("epoch", epoch), ("step", step))
        if value is not None
    ]
    return "checkpoint" + (f" ({', '.join(parts)})" if parts else "")

