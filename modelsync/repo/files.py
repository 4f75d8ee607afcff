"""File content in and out of the object store, streamed.

A small file is one blob. A larger one is cut by content-defined chunking (FastCDC), so that an
insertion changes only the chunks around it, and stored as a ``file`` object listing its chunks.
The file is read through a fixed window; chunks are hashed and compressed on the store's worker
threads (both release the GIL) and the window is reused only once they are written, so memory
stays bounded whatever the file's size.
"""

from __future__ import annotations

import contextlib
import functools
import io
import mmap
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, wait
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ObjectCorrupt
from ..model.objects import ChunkedFile, EntryKind, MalformedObject
from ..store import Batch, ObjectReader
from ..util.hashing import sha256_hex

if TYPE_CHECKING:
    from pyfastcdc import FastCDC

SMALL_FILE_LIMIT = 1 << 20
CDC_AVG = 1 << 20
CDC_MIN = 1 << 20
CDC_MAX = 8 << 20
WINDOW = 32 << 20

@functools.cache
def _chunker() -> FastCDC:
    """The chunker, built (and pyfastcdc imported) when a first large file is cut."""
    from pyfastcdc import FastCDC

    return FastCDC(avg_size=CDC_AVG, min_size=CDC_MIN, max_size=CDC_MAX)


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
        chunks = [view[c.offset : c.offset + c.length] for c in _chunker().cut_buf(view[:filled])]
        if eof:
            yield chunks
            return
        carry = chunks.pop()
        yield chunks


@contextlib.contextmanager
def mapped_windows(path: Path, window: int = WINDOW) -> Iterator[Iterator[list[memoryview]]]:
    """The content-defined chunks of a file, a window at a time, as views of a read-only map.

    Mapping instead of reading saves copying every byte out of the page cache. The windows keep
    ``iter_cdc_windows``'s contract (done with window k before asking for window k + 2), which
    lets window k's pages be dropped from this process then (a later touch would read them back
    from the page cache): resident memory stays at a few windows whatever the file's size. The
    chunks are exactly those of ``iter_cdc_windows``.
    """
    with open(path, "rb") as handle:
        mm = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    windows = _cut_mapped(mm, window)
    try:
        yield windows
    finally:
        windows.close()
        # Views still held elsewhere (a pending write) keep the map alive until they go.
        with contextlib.suppress(BufferError):
            mm.close()


def _cut_mapped(mm: mmap.mmap, window: int) -> Generator[list[memoryview], None, None]:
    view = memoryview(mm)
    size = len(view)
    start = previous_start = 0
    while start < size:
        end = min(size, start + window)
        chunks = [(c.offset, c.length) for c in _chunker().cut_buf(view[start:end])]
        if end < size and len(chunks) > 1:
            chunks.pop()
        _drop_pages(mm, previous_start)
        previous_start = start
        yield [view[start + offset : start + offset + length] for offset, length in chunks]
        start += sum(length for _, length in chunks)


def _drop_pages(mm: mmap.mmap, end: int) -> None:
    if hasattr(mmap, "MADV_DONTNEED") and end >= mmap.PAGESIZE:
        mm.madvise(mmap.MADV_DONTNEED, 0, end - end % mmap.PAGESIZE)


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
    if kind == "blob":
        data = path.read_bytes()
        oid = batch.put(data)
        if on_bytes:
            on_bytes(len(data))
        return kind, oid
    with mapped_windows(path) as windows:
        return kind, batch.put(_store_chunks(batch, windows, on_bytes).to_bytes())


def _store_chunks(
    batch: Batch, windows: Iterator[list[memoryview]], on_bytes: Callable[[int], None] | None
) -> ChunkedFile:
    chunks: list[tuple[str, int]] = []
    previous: list[tuple[Future[str], int]] = []

    def collect(pending: list[tuple[Future[str], int]]) -> None:
        for future, length in pending:
            chunks.append((future.result(), length))
            if on_bytes:
                on_bytes(length)

    try:
        for views in windows:
            current = [(batch.submit(view), len(view)) for view in views]
            collect(previous)
            previous = current
        collect(previous)
    finally:
        for future, _ in previous:
            future.cancel()
        wait([future for future, _ in previous])
    return ChunkedFile(size=sum(length for _, length in chunks), chunks=tuple(chunks))


def hash_file(path: Path, size: int) -> str:
    """The id ``store_file`` would give ``path``, computed without writing anything."""
    if entry_kind_for_size(size) == "blob":
        return sha256_hex(path.read_bytes())
    with mapped_windows(path) as windows:
        chunks = [(sha256_hex(c), len(c)) for views in windows for c in views]
    return sha256_hex(ChunkedFile(size=sum(n for _, n in chunks), chunks=tuple(chunks)).to_bytes())


def iter_content(store: ObjectReader, kind: EntryKind, oid: str) -> Iterator[bytes]:
    """The bytes of a blob or chunked file, piece by piece, each verified on read."""
    if kind == "blob":
        yield store.get(oid)
        return
    try:
        listing = ChunkedFile.from_bytes(store.get(oid))
    except MalformedObject as exc:
        raise ObjectCorrupt(oid, str(exc), malformed=True) from exc
    for chunk_id, _length in listing.chunks:
        yield store.get(chunk_id)
