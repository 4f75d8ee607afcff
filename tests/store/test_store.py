"""The object stores: write once, read back verified, loose or packed, on disk or in memory."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsync.errors import ObjectCorrupt, ObjectMissing
from modelsync.store import DiskStore, MemoryStore
from modelsync.store.disk import STALE_AFTER
from modelsync.store.packbatch import INLINE_UP_TO
from modelsync.util.hashing import sha256_hex

# Raw bytes, and bytes with enough repetition that zstd keeps the compressed form.
payloads = st.one_of(
    st.binary(max_size=4096),
    st.builds(
        lambda unit, count: unit * count, st.binary(min_size=1, max_size=16), st.integers(1, 2000)
    ),
)
PLANES = st.sampled_from([1, 2, 4, 8])
FUNCTION_SCOPED = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DiskStore]:
    store = DiskStore(tmp_path / "objects")
    yield store
    store.close()


@pytest.fixture
def unattended(tmp_path: Path) -> Iterator[DiskStore]:
    """A store without background compression: its packs change only when the test says so (a
    background pass rewrites a ``raw-*`` pack, and a test damaging it would race that pass)."""
    store = DiskStore(tmp_path / "objects", background_compression=False)
    yield store
    store.close()


def _pack_files(store: DiskStore) -> list[Path]:
    return sorted(store.pack_dir.glob("*.pack")) if store.pack_dir.is_dir() else []


@FUNCTION_SCOPED
@given(data=payloads, planes=PLANES)
def test_any_bytes_round_trip_as_a_loose_object(store: DiskStore, data: bytes, planes: int) -> None:
    oid = store.put(data, planes=planes)
    assert oid == sha256_hex(data)
    assert store.get(oid) == data


@FUNCTION_SCOPED
@given(items=st.lists(st.tuples(payloads, PLANES, st.booleans()), max_size=8))
def test_any_bytes_round_trip_through_a_pack(
    store: DiskStore, items: list[tuple[bytes, int, bool]]
) -> None:
    with store.batch() as batch:
        oids = [batch.put(data, planes=n, compress_later=later) for data, n, later in items]
    for oid, (data, _planes, _later) in zip(oids, items, strict=True):
        assert store.get(oid) == data
    # A second handle reads the pack from its index on disk, not from the writer's memory;
    # read_into reads raw records straight into the caller's buffer, others through its own.
    fresh = DiskStore(store.root)
    for oid, (data, _planes, _later) in zip(oids, items, strict=True):
        assert fresh.get(oid) == data
        out = bytearray(len(data))
        fresh.read_into(oid, memoryview(out))
        assert out == data


def test_batch_objects_become_visible_together_on_close(store: DiskStore) -> None:
    with store.batch() as batch:
        oid = batch.put(b"in a pack")
        assert not store.has(oid)
    assert store.has(oid)
    assert len(_pack_files(store)) == 1


def test_submitted_objects_are_written_by_close(store: DiskStore) -> None:
    with store.batch() as batch:
        futures = [batch.submit(bytes([i]) * 1000, planes=4) for i in range(20)]
    assert [store.get(f.result()) for f in futures] == [bytes([i]) * 1000 for i in range(20)]


def test_a_small_submitted_object_is_written_at_once_and_a_large_one_by_a_worker(
    store: DiskStore,
) -> None:
    small, large = b"s" * INLINE_UP_TO, os.urandom(INLINE_UP_TO + 1)
    with store.batch() as batch:
        written_at_once = batch.submit(small)
        assert written_at_once.done()
        by_a_worker = batch.submit(large)
    assert store.get(written_at_once.result()) == small
    assert store.get(by_a_worker.result()) == large


@pytest.mark.parametrize("size", [16, INLINE_UP_TO + 1])
def test_a_submitted_object_that_fails_fails_the_batch(
    store: DiskStore, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    batch = store.batch()
    batch.put(b"written before")

    def disk_full(*args: object, **kwargs: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(batch, "_append", disk_full)
    batch.submit(os.urandom(size))
    with pytest.raises(OSError, match="No space left"):
        batch.close()
    assert _pack_files(store) == []


def test_an_aborted_batch_leaves_no_file(store: DiskStore) -> None:
    with pytest.raises(RuntimeError), store.batch() as batch:
        batch.put(b"doomed")
        raise RuntimeError("writer failed")
    assert _pack_files(store) == []
    assert list(store.pack_dir.iterdir()) == []


def test_a_batch_of_known_objects_writes_no_pack(store: DiskStore) -> None:
    store.put(b"already here")
    with store.batch() as batch:
        batch.put(b"already here")
    assert _pack_files(store) == []


def test_missing_object_is_reported_by_id(store: DiskStore) -> None:
    with pytest.raises(ObjectMissing, match="f" * 64):
        store.get("f" * 64)


def test_corrupt_loose_object_is_reported_by_id(store: DiskStore) -> None:
    oid = store.put(b"precious weights")
    path = store.root / oid[:2] / oid[2:]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ObjectCorrupt, match=oid):
        store.get(oid)


def test_corrupt_pack_record_is_reported_by_id(store: DiskStore) -> None:
    with store.batch() as batch:
        first = batch.put(b"first record")
        second = batch.put(b"second record")
    pack = _pack_files(store)[0]
    data = bytearray(pack.read_bytes())
    data[data.index(b"second")] ^= 0xFF
    pack.write_bytes(bytes(data))
    fresh = DiskStore(store.root)
    assert fresh.get(first) == b"first record"
    with pytest.raises(ObjectCorrupt, match=second):
        fresh.get(second)
    with pytest.raises(ObjectCorrupt, match=second):
        fresh.read_into(second, memoryview(bytearray(len(b"second record"))))


@pytest.mark.parametrize("later", [False, True], ids=["compressed", "stored raw"])
def test_a_truncated_pack_is_reported_by_id(unattended: DiskStore, later: bool) -> None:
    data = bytes(range(256)) * 64 if not later else os.urandom(1 << 16)
    with unattended.batch() as batch:
        oid = batch.put(data, planes=4, compress_later=later)
    (pack,) = _pack_files(unattended)
    os.truncate(pack, pack.stat().st_size - 10)
    fresh = DiskStore(unattended.root)
    with pytest.raises(ObjectCorrupt, match=f"{oid}.*truncated"):
        fresh.get(oid)
    with pytest.raises(ObjectCorrupt, match=f"{oid}.*truncated"):
        fresh.read_into(oid, memoryview(bytearray(len(data))))


def _truncated_raw_pack(store: DiskStore, *objects: bytes) -> tuple[list[str], Path]:
    """``objects`` stored raw (to be compressed later) in one pack cut short by 10 bytes."""
    with store.batch() as batch:
        oids = [batch.put(data, planes=4, compress_later=True) for data in objects]
    (pack,) = _pack_files(store)
    os.truncate(pack, pack.stat().st_size - 10)
    return oids, pack


def test_compression_leaves_a_truncated_pack_as_it_is_and_names_the_object(
    unattended: DiskStore,
) -> None:
    (oid,), pack = _truncated_raw_pack(unattended, os.urandom(1 << 16))
    damaged = pack.read_bytes()
    with pytest.raises(ObjectCorrupt, match=f"{oid}.*{pack.stem} is truncated"):
        unattended.compress_deferred()
    assert _pack_files(unattended) == [pack]
    assert pack.read_bytes() == damaged
    with pytest.raises(ObjectCorrupt, match=f"{oid}.*truncated"):
        DiskStore(unattended.root).get(oid)


def test_removing_objects_leaves_a_truncated_pack_as_it_is(unattended: DiskStore) -> None:
    first = os.urandom(1000)
    (drop, cut), pack = _truncated_raw_pack(unattended, first, os.urandom(1 << 16))
    with pytest.raises(ObjectCorrupt, match=f"{cut}.*truncated"):
        unattended.remove({drop})
    assert _pack_files(unattended) == [pack]
    assert DiskStore(unattended.root).get(drop) == first


def test_iter_ids_lists_loose_and_packed_objects(store: DiskStore) -> None:
    loose = store.put(b"loose")
    with store.batch() as batch:
        packed = batch.put(b"packed")
    assert sorted(DiskStore(store.root).iter_ids()) == sorted([loose, packed])


def test_remove_rewrites_a_pack_without_the_removed_objects(store: DiskStore) -> None:
    with store.batch() as batch:
        keep = batch.put(b"keep me")
        drop = batch.put(b"drop me")
    loose = store.put(b"loose garbage")
    assert store.remove({drop, loose}) == 2
    fresh = DiskStore(store.root)
    assert sorted(fresh.iter_ids()) == [keep]
    assert fresh.get(keep) == b"keep me"


@pytest.mark.parametrize(
    ("stale_name", "fresh_name"),
    [
        ("tmp-crashed.pack", "tmp-writing.pack"),
        # what atomic_write leaves of a pack index when its writer dies
        (".pack-0123.idx.k2j3h4.tmp", ".pack-4567.idx.a8b9c0.tmp"),
    ],
    ids=["pack", "pack index"],
)
def test_stale_temporaries_are_removed_but_fresh_ones_are_kept(
    store: DiskStore, stale_name: str, fresh_name: str
) -> None:
    store.pack_dir.mkdir(parents=True)
    stale = store.pack_dir / stale_name
    fresh = store.pack_dir / fresh_name
    for path in (stale, fresh):
        path.write_bytes(b"partial")
    old = time.time() - STALE_AFTER - 60
    os.utime(stale, (old, old))
    assert store.remove_stale_temporaries() == 1
    assert not stale.exists()
    assert fresh.exists()


def test_memory_store_twin_behaves_like_the_disk_store() -> None:
    store = MemoryStore()
    with store.batch() as batch:
        oid = batch.put(b"same interface")
    assert store.get(oid) == b"same interface"
    assert store.has(oid)
    assert list(store.iter_ids()) == [oid]
    assert store.remove({oid}) == 1
    with pytest.raises(ObjectMissing):
        store.get(oid)


def test_a_reader_follows_objects_that_another_process_repacked(store: DiskStore) -> None:
    with store.batch() as batch:
        keep = batch.put(b"survives gc")
        drop = batch.put(b"garbage")
    reader = DiskStore(store.root)
    assert reader.has(drop)
    store.remove({drop})
    assert reader.get(keep) == b"survives gc"
    assert sorted(reader.iter_ids()) == [keep]


def test_a_writer_finds_its_objects_again_after_another_process_rewrote_its_pack(
    store: DiskStore,
) -> None:
    with store.batch() as batch:
        keep = batch.put(b"survives gc")
        drop = batch.put(b"garbage")
    other = DiskStore(store.root)
    other.remove({drop})  # rewrites the writer's pack into a new one
    assert store.get(keep) == b"survives gc"
    with store.batch() as batch:
        assert batch.put(b"survives gc") == keep
    assert not store.has(drop)
    assert len(_pack_files(store)) == 1  # the second batch found it and wrote nothing


def _written_into_two_packs(store: DiskStore, data: bytes) -> tuple[str, Path]:
    """Write ``data`` through two batches open at once (both miss it, so both write it); the
    object's id and the pack the index names, the newer."""
    first, second = store.batch(), store.batch()
    oid = first.put(data)
    assert second.put(data) == oid
    first.close()
    before = set(_pack_files(store))
    second.close()
    (newer,) = set(_pack_files(store)) - before
    return oid, newer


def _remove_pack(pack: Path) -> None:
    """What another process's rewrite does last."""
    pack.unlink()
    pack.with_suffix(".idx").unlink()


def test_an_object_in_two_of_this_process_packs_is_found_when_one_goes(
    store: DiskStore,
) -> None:
    """Two open batches may both write the same object; when the pack the index names is
    removed (by another process), the object is found in the other one."""
    oid, newer = _written_into_two_packs(store, b"written twice")
    _remove_pack(newer)
    store.refresh()
    assert store.has(oid)
    assert store.get(oid) == b"written twice"


def test_a_process_opening_many_packs_finds_every_object_in_them(store: DiskStore) -> None:
    """Once misses have searched the packs from other processes often enough, one set of
    their ids answers misses: objects in any of those packs, and in packs loaded later, must
    still be found."""
    oids = []
    for i in range(20):
        with store.batch() as batch:
            oids.append(batch.put(f"commit {i}".encode()))
    resumed = DiskStore(store.root)
    for i in range(3):  # misses that search every pack, then build the set
        assert not resumed.has(sha256_hex(f"not stored {i}".encode()))
    assert all(resumed.has(oid) for oid in oids)
    with resumed.batch() as batch:
        assert batch.put(b"commit 0") == oids[0]
        new = batch.put(b"a new object")
    assert resumed.get(new) == b"a new object"
    with store.batch() as batch:  # another process writes a pack after the set was built
        later = batch.put(b"written later elsewhere")
    before = len(_pack_files(store))
    resumed.refresh()
    with resumed.batch() as batch:
        assert batch.put(b"written later elsewhere") == later
    assert len(_pack_files(store)) == before  # found, not written again
    resumed.close()


def test_a_reader_racing_the_forgetting_of_a_pack_still_finds_the_object(
    store: DiskStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a pack is forgotten, an object it shared with another of this process's packs is
    out of the index for a moment: a reader that looked then must still find it."""
    oid, newer = _written_into_two_packs(store, b"written twice")
    answers: list[bool] = []
    close_pack_file = store._close_pack_file

    def slow_close_pack_file(name: str) -> None:
        reader = threading.Thread(target=lambda: answers.append(store.has(oid)))
        reader.start()
        time.sleep(0.2)  # the reader misses the index and waits for the lock
        close_pack_file(name)
        readers.append(reader)

    readers: list[threading.Thread] = []
    monkeypatch.setattr(store, "_close_pack_file", slow_close_pack_file)
    _remove_pack(newer)
    store.refresh()
    for reader in readers:
        reader.join()
    assert answers == [True]
