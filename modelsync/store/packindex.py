"""A pack's index, searched where it lies instead of loaded into a dict.

A ``.idx`` file is a magic line (``IDX_MAGIC``) and then fixed-size entries (32-byte id,
offset, length) sorted by id. Opening a store with many packs used to parse every entry of every
pack into a dict before the first object could be read: 80,000 objects cost 70 ms, paid by every
command. Here opening a pack keeps its bytes, and a lookup is a binary search among the entries
that share the id's first byte (git's fan-out, built on first lookup with one slice).
"""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Iterator, Mapping

IDX_MAGIC = b"MSIDX1\n"
ENTRY = struct.Struct("<32sQQ")
_LOCATION = struct.Struct("<QQ")
_ID_SIZE = 32


class PackIndex(Mapping[str, tuple[int, int]]):
    """Object id (hex) -> (offset, length) in the pack, over the sorted entries of its index."""

    def __init__(self, entries: bytes) -> None:
        if len(entries) % ENTRY.size:
            raise ValueError("pack index entries are truncated")
        self._entries = entries
        self._count = len(entries) // ENTRY.size
        self._first_bytes: bytes | None = None

    @classmethod
    def from_locations(cls, locations: Mapping[str, tuple[int, int]]) -> PackIndex:
        return cls(encode_entries(locations))

    @property
    def entries(self) -> bytes:
        return self._entries

    def _find(self, key: bytes) -> int:
        """The entry holding ``key``, or -1."""
        if self._first_bytes is None:
            # Every entry's first byte, in order: the fan-out bounds in one C-level slice.
            self._first_bytes = self._entries[:: ENTRY.size]
        first = key[0]
        lo = bisect.bisect_left(self._first_bytes, first)
        hi = bisect.bisect_right(self._first_bytes, first, lo)
        entries = self._entries
        while lo < hi:
            mid = (lo + hi) // 2
            at = mid * ENTRY.size
            probe = entries[at : at + _ID_SIZE]
            if probe < key:
                lo = mid + 1
            elif probe > key:
                hi = mid
            else:
                return mid
        return -1

    def __getitem__(self, oid: str) -> tuple[int, int]:
        try:
            key = bytes.fromhex(oid)
        except (TypeError, ValueError):
            raise KeyError(oid) from None
        if len(key) != _ID_SIZE:
            raise KeyError(oid)
        index = self._find(key)
        if index < 0:
            raise KeyError(oid)
        offset, length = _LOCATION.unpack_from(self._entries, index * ENTRY.size + _ID_SIZE)
        return offset, length

    def ids(self) -> Iterator[bytes]:
        """The ids it holds, as 32 raw bytes each."""
        entries = self._entries
        for at in range(0, len(entries), ENTRY.size):
            yield entries[at : at + _ID_SIZE]

    def __iter__(self) -> Iterator[str]:
        entries = self._entries
        for at in range(0, len(entries), ENTRY.size):
            yield entries[at : at + _ID_SIZE].hex()

    def __len__(self) -> int:
        return self._count

    def in_order(self) -> bool:
        """Whether the ids are strictly increasing, as written (lookups rely on it)."""
        return all(a < b for a, b in itertools.pairwise(self.ids()))

    def extent(self) -> int | None:
        """Where the last record ends, if the records lie back to back from offset 0 as a pack
        is written; None if they leave a gap or overlap (the index is damaged)."""
        entries = self._entries
        starts = range(_ID_SIZE, len(entries), ENTRY.size)
        spans = sorted(_LOCATION.unpack_from(entries, at) for at in starts)
        end = 0
        for offset, length in spans:
            if offset != end:
                return None
            end += length
        return end


def encode_entries(locations: Mapping[str, tuple[int, int]]) -> bytes:
    """The sorted entries of an index for ``locations`` (hex order is byte order)."""
    return b"".join(
        ENTRY.pack(bytes.fromhex(oid), offset, length)
        for oid, (offset, length) in sorted(locations.items())
    )


def read_index(data: bytes) -> PackIndex | str:
    """The index a ``.idx`` file's bytes hold, or what is wrong with them."""
    if not data.startswith(IDX_MAGIC):
        return "not a pack index: its first line is wrong"
    try:
        index = PackIndex(data[len(IDX_MAGIC) :])
    except ValueError:
        return "cut short: its last entry is incomplete"
    if not index.in_order():
        return "its ids are out of order"
    return index
