"""The object store interface, shared by the disk store and its in-memory twin."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from types import TracebackType
from typing import Protocol

from ..hashing import BytesLike


class ObjectWriter(Protocol):
    """Puts objects; returns their ids. A pack batch and a store both are writers."""

    def put(self, data: BytesLike, *, planes: int = 1) -> str: ...

    def put_known(self, oid: str, data: BytesLike, *, planes: int = 1) -> None: ...

    def submit(self, data: BytesLike, *, planes: int = 1) -> Future[str]: ...


class ObjectStore(ObjectWriter, Protocol):
    def get(self, oid: str) -> bytes: ...

    def read_into(self, oid: str, out: memoryview) -> None:
        """Decode an object into ``out``, which must be exactly its size; verified like get."""
        ...

    def has(self, oid: str) -> bool: ...

    def iter_ids(self) -> Iterator[str]: ...

    def stored_size(self, oid: str) -> int: ...

    def written_at(self, oid: str) -> float:
        """When the object was last written or reused (gc keeps recent ones)."""
        ...

    def freshen(self, oid: str) -> None: ...

    def remove(self, oids: set[str]) -> int: ...

    def batch(self) -> Batch: ...

    def refresh(self) -> None: ...

    def remove_stale_temporaries(self) -> int: ...

    def close(self) -> None: ...


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
