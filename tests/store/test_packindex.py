"""A pack's index answers lookups from its sorted entries, exactly as a dict of them would."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelsync.store.packindex import ENTRY, PackIndex, encode_entries

oids = st.binary(min_size=4, max_size=8).map(lambda b: hashlib.sha256(b).hexdigest())
locations = st.dictionaries(oids, st.tuples(st.integers(0, 2**40), st.integers(0, 2**31)))


@given(locations, st.lists(oids, max_size=20))
def test_lookups_match_a_dict(stored: dict[str, tuple[int, int]], others: list[str]) -> None:
    index = PackIndex.from_locations(stored)
    assert len(index) == len(stored)
    assert list(index) == sorted(stored)
    assert dict(index) == stored
    for oid in others:
        assert index.get(oid) == stored.get(oid)
        assert (oid in index) == (oid in stored)


def test_ids_sharing_a_first_byte_are_told_apart() -> None:
    stored = {f"ab{i:062x}": (i, i + 1) for i in range(300)}
    stored |= {f"ac{i:062x}": (i, 7) for i in range(3)}
    index = PackIndex(encode_entries(stored))
    for oid, location in stored.items():
        assert index[oid] == location
    assert f"ab{300:062x}" not in index
    assert "aa" + "0" * 62 not in index
    assert "ff" * 32 not in index


@pytest.mark.parametrize("key", ["", "xyz", "ab" * 31, "ab" * 33, 42])
def test_what_is_not_an_id_is_not_found(key: object) -> None:
    index = PackIndex.from_locations({"ab" * 32: (0, 1)})
    assert index.get(key) is None  # type: ignore[call-overload]


def test_truncated_entries_are_refused() -> None:
    with pytest.raises(ValueError, match="truncated"):
        PackIndex(b"\0" * (ENTRY.size + 1))
