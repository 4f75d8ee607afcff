"""The object store interface, split by capability, shared by the disk store and its in-memory
twin.

A store is read, written, batched and maintained by different code, so each of those is a small
protocol of its own (as restic splits its repository into ``BlobLoader``, ``BlobSaver``, ...):
a function that only reads objects takes an ``ObjectReader``, a checkpoint's tensors go to an
``ObjectWriter`` (a store or a batch), and only gc and fsck need ``Maintenance``.
``ObjectStore`` is all of them, what a repository holds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol

from ..util.hashing import BytesLike


@dataclass
class CompressionReport:
    """What a compress-later pass did: objects stored raw first, now compressed where it pays."""

    packs: int = 0
    objects: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    corrupt: list[str] = field(default_factory=list)
    finished: bool = True

    def add(self, other: CompressionReport) -> None:
        self.packs += other.packs
        self.objects += other.objects
        self.bytes_before += other.bytes_before
        self.bytes_after += other.bytes_after
        self.corrupt += other.corrupt
        self.finished = self.finished and other.finished


class ObjectReader(Protocol):
    """Gets objects by id, each verified against its id on read."""

    def get(self, oid: str) -> bytes: ...

    def read_into(self, oid: str, out: memoryview) -> None:
        """Decode an object into ``out``, which must be exactly its size; verified like get."""
        ...

    def has(self, oid: str) -> bool: ...


class ObjectWriter(Protocol):
    """Puts objects; returns their ids. A pack batch and a store both are writers.

    ``compress_later=True`` asks to store the bytes raw now and compress them in a later pass
    (``compress_deferred``): a pack batch does; a store writing loose objects compresses at once.
    """

    def put(self, data: BytesLike, *, planes: int = 1, compress_later: bool = False) -> str: ...

    def put_known(self, oid: str, data: BytesLike, *, planes: int = 1) -> None: ...

    def submit(
        self, data: BytesLike, *, planes: int = 1, compress_later: bool = False
    ) -> Future[str]: ...


class Batch(ObjectWriter, Protocol):
    """Objects put through a batch become visible together, with one fsync, when it closes."""

    def __enter__(self) -> Batch: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def wait(self) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class Batching(Protocol):
    """Opens batches, and keeps the threads they write on for a writer that opens many."""

    def batch(self) -> Batch: ...

    def hold_workers(self) -> None:
        """Keep the threads batches write on between batches, until ``release_workers``."""
        ...

    def release_workers(self) -> None: ...


class Maintenance(Protocol):
    """What gc and fsck ask of a store: every id, sizes and ages, removal, repair passes."""

    def iter_ids(self) -> Iterator[str]: ...

    def stored_size(self, oid: str) -> int: ...

    def written_at(self, oid: str) -> float:
        """When the object was last written or reused (gc keeps recent ones)."""
        ...

    def freshen(self, oid: str) -> None: ...

    def remove(self, oids: set[str]) -> int: ...

    def compress_deferred(self, should_stop: Callable[[], bool] | None = None) -> CompressionReport:
        """Compress the objects stored raw to be compressed later; ids and content never change.
        ``should_stop`` is asked between objects (it may wait); True ends the pass early."""
        ...

    def refresh(self) -> None: ...

    def remove_stale_temporaries(self) -> int: ...

    def check_files(self, corrupt: Collection[str] = ()) -> list[tuple[Path, str]]:
        """The damaged files of the store, each with what is wrong (fsck): those that hold any
        of the ``corrupt`` objects, and those damaged whatever objects they hold."""
        ...


class ObjectStore(ObjectReader, ObjectWriter, Batching, Maintenance, Protocol):
    """Every capability at once: what a repository holds, and closes when it closes."""

    def close(self) -> None:
        """Stop the store's threads; it stays usable (a batch starts them again)."""
        ...
