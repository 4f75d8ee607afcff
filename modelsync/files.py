"""File content in and out of the object store, streamed.

A small file is one blob. A larger one is cut by content-defined chunking (FastCDC), so that an
insertion changes only the chunks around it, and stored as a ``file`` object listing its chunks.
The file is read through a fixed window; chunks are hashed and compressed on the store's worker
threads (both release the GIL) and the window is reused only once they are written, so memory
stays bounded whatever the file's size.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

from pyfastcdc import FastCDC

from .errors import ObjectCorrupt
from .fileio import atomic_output
from .hashing import sha256_hex
from .objects import ChunkedFile, EntryKind, MalformedObject
from .store import Batch, ObjectStore

SMALL_FILE_LIMIT = 1 << 20
CDC_AVG = 1 << 20
CDC_MIN = 1 << 20
CDC_MAX = 8 << 20
WINDOW = 32 << 20

_chunker = FastCDC(avg_size=CDC_AVG, min_size=CDC_MIN, max_size=CDC_MAX)


def iter_cdc_windows(stream: io.BufferedIOBase, window: int = WINDOW) -> Iterator[list[memoryview]]:
    """Yield the content-defined chunks of ``stream``, a window's worth at a time.

    Two buffers take turns, so the views of one window stay valid while the next is read: a
    consumer must be done with window k before it asks for window k + 2. Cut points depend only
    on the bytes from the previous cut onwards, so carrying each window's last (possibly
    truncated) chunk into the next gives exactly the chunks of cutting the whole stream at once.
    """
    buffers = [bytearray(window), bytearray(window)]
    carry = memoryview(b"")
    turn = 0
    while True:
        view = memoryview(buffers[turn])
        turn ^= 1
        filled = len(carry)
        view[:filled] = carry
        eof = False
        while filled < window:
            read = stream.readinto(view[filled:])
            if not read:
                eof = True
                break
            filled += read
        if filled == 0:
            return
        chunks = [view[c.offset : c.offset + c.length] for c in _chunker.cut_buf(view[:filled])]
        if eof:
            yield chunks
            return
        carry = chunks.pop()
        yield chunks


def entry_kind_for_size(size: int) -> EntryKind:
    """How a file of ``size`` bytes is stored: one blob, or a ``file`` object of chunks."""
    return "blob" if size <= SMALL_FILE_LIMIT else "file"


def store_file(
    batch: Batch, path: Path, size: int, on_bytes: Callable[[int], None] | None = None
) -> tuple[EntryKind, str]:
    """Write ``path``'s content through ``batch``; return the tree entry kind and object id.

    ``on_bytes`` is called with the number of bytes stored each time a piece is done.
    """
    kind = entry_kind_for_size(size)
    with open(path, "rb") as stream:
        if kind == "blob":
            data = stream.read()
            oid = batch.put(data)
            if on_bytes:
                on_bytes(len(data))
            return kind, oid
        return kind, batch.put(_store_chunks(batch, stream, on_bytes).to_bytes())


def _store_chunks(
    batch: Batch, stream: io.BufferedIOBase, on_bytes: Callable[[int], None] | None
) -> ChunkedFile:
    chunks: list[tuple[str, int]] = []
    previous: list[tuple[Future[str], int]] = []

    def collect(pending: list[tuple[Future[str], int]]) -> None:
        for future, length in pending:
            chunks.append((future.result(), length))
            if on_bytes:
                on_bytes(length)

    for views in iter_cdc_windows(stream):
        current = [(batch.submit(view), len(view)) for view in views]
        collect(previous)
        previous = current
    collect(previous)
    return ChunkedFile(size=sum(length for _, length in chunks), chunks=tuple(chunks))


def hash_file(path: Path, size: int) -> str:
    """The id ``store_file`` would give ``path``, computed without writing anything."""
    with open(path, "rb") as stream:
        if entry_kind_for_size(size) == "blob":
            return sha256_hex(stream.read())
        chunks = [(sha256_hex(c), len(c)) for views in iter_cdc_windows(stream) for c in views]
    return sha256_hex(ChunkedFile(size=sum(n for _, n in chunks), chunks=tuple(chunks)).to_bytes())


def iter_content(store: ObjectStore, kind: EntryKind, oid: str) -> Iterator[bytes]:
    """The bytes of a blob or chunked file, piece by piece, each verified on read."""
    if kind == "blob":
        yield store.get(oid)
        return
    try:
        listing = ChunkedFile.from_bytes(store.get(oid))
    except MalformedObject as exc:
        raise ObjectCorrupt(oid, str(exc)) from exc
    for chunk_id, _length in listing.chunks:
        yield store.get(chunk_id)


def write_content(store: ObjectStore, kind: EntryKind, oid: str, dest: Path, mode: int) -> None:
    """Materialise a stored file at ``dest`` atomically (temp file, fsync, rename)."""
    with atomic_output(dest) as out:
        for piece in iter_content(store, kind, oid):
            out.write(piece)
    os.chmod(dest, mode)
