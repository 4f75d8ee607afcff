"""The in-memory twin of the disk store, for tests and scratch work."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType

from ..errors import ObjectCorrupt, ObjectMissing
from ..util.hashing import BytesLike, sha256_hex
from .base import CompressionReport


class MemoryStore:
    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, data: BytesLike, *, planes: int = 1, compress_later: bool = False) -> str:
        oid = sha256_hex(data)
        with self._lock:
            self._objects.setdefault(oid, bytes(data))
        return oid

    def put_known(self, oid: str, data: BytesLike, *, planes: int = 1) -> None:
        with self._lock:
            self._objects.setdefault(oid, bytes(data))

    def submit(
        self, data: BytesLike, *, planes: int = 1, compress_later: bool = False
    ) -> Future[str]:
        future: Future[str] = Future()
        future.set_result(self.put(data, planes=planes))
        return future

    def get(self, oid: str) -> bytes:
        try:
            data = self._objects[oid]
        except KeyError:
            raise ObjectMissing(oid) from None
        if sha256_hex(data) != oid:
            raise ObjectCorrupt(oid)
        return data

    def read_into(self, oid: str, out: memoryview) -> None:
        data = self.get(oid)
        if len(data) != len(out):
            raise ObjectCorrupt(oid, f"{len(data)} bytes, expected {len(out)}")
        out[:] = data

    def has(self, oid: str) -> bool:
        return oid in self._objects

    def written_at(self, oid: str) -> float:
        """A memory store has no other writers: every object counts as old."""
        return 0.0

    def freshen(self, oid: str) -> None:
        return None

    def stored_size(self, oid: str) -> int:
        return len(self.get(oid))

    def iter_ids(self) -> Iterator[str]:
        yield from list(self._objects)

    def remove(self, oids: set[str]) -> int:
        with self._lock:
            doomed = [oid for oid in oids if oid in self._objects]
            for oid in doomed:
                del self._objects[oid]
        return len(doomed)

    def compress_deferred(self, should_stop: Callable[[], bool] | None = None) -> CompressionReport:
        """Nothing to do: a memory store keeps every object as it was given."""
        return CompressionReport()

    def batch(self) -> MemoryBatch:
        return MemoryBatch(self)

    def hold_workers(self) -> None:
        return None  # a memory store writes on the caller's thread: it has no workers

    def release_workers(self) -> None:
        return None

    def refresh(self) -> None:
        return None

    def remove_stale_temporaries(self) -> int:
        return 0

    def check_files(self, corrupt: Collection[str] = ()) -> list[tuple[Path, str]]:
        return []  # no files

    def close(self) -> None:
        return None


class MemoryBatch:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def __enter__(self) -> MemoryBatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def put(self, data: BytesLike, *, planes: int = 1, compress_later: bool = False) -> str:
        return self._store.put(data, planes=planes)

    def put_known(self, oid: str, data: BytesLike, *, planes: int = 1) -> None:
        self._store.put_known(oid, data, planes=planes)

    def submit(
        self, data: BytesLike, *, planes: int = 1, compress_later: bool = False
    ) -> Future[str]:
        return self._store.submit(data, planes=planes)

    def wait(self) -> None:
        return None

    def close(self) -> None:
        return None

    def abort(self) -> None:
        return None
