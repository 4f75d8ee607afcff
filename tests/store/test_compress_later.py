"""Store first, compress later: raw packs are rewritten compressed, ids and content unchanged,
every object readable at every moment, and a crash at any step leaves a clean repository."""

from __future__ import annotations

import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from modelsync.checkpoints import load_checkpoint, save_checkpoint, writer_for
from modelsync.errors import ObjectCorrupt
from modelsync.repo.repository import Repo
from modelsync.store import DiskStore, packbatch
from modelsync.store.compression import DEFERRED

EVENTUALLY = 60.0  # seconds a background thread gets before a test gives up on it


def trained_floats(count: int, seed: int) -> bytes:
    """float32 weights as training leaves them: small values around zero (they compress)."""
    rng = random.Random(seed)
    return struct.pack(f"<{count}f", *(rng.gauss(0.0, 0.02) for _ in range(count)))


def packs(store: DiskStore, prefix: str = "") -> list[Path]:
    if not store.pack_dir.is_dir():
        return []
    found = store.pack_dir.glob(f"{prefix}*.pack")
    return sorted(p for p in found if p.with_suffix(".idx").exists())


def stored_bytes(store: DiskStore) -> int:
    return sum(p.stat().st_size for p in packs(store))


@pytest.fixture
def store(tmp_path: Path) -> DiskStore:
    return DiskStore(tmp_path / "objects", background_compression=False)


def put_raw(store: DiskStore, chunks: list[bytes]) -> list[str]:
    with store.batch() as batch:
        return [batch.put(chunk, planes=4, compress_later=True) for chunk in chunks]


CHUNKS = [trained_floats(16384, seed) for seed in range(6)]


def test_objects_put_to_compress_later_are_stored_raw_in_a_raw_pack(store: DiskStore) -> None:
    oids = put_raw(store, CHUNKS)
    (pack,) = packs(store)
    assert pack.name.startswith(packbatch.DEFERRED_PREFIX)
    assert pack.stat().st_size == sum(2 + len(chunk) for chunk in CHUNKS)
    assert pack.read_bytes()[0] == DEFERRED
    for oid, chunk in zip(oids, CHUNKS, strict=True):
        assert store.get(oid) == chunk
        out = bytearray(len(chunk))
        store.read_into(oid, memoryview(out))
        assert out == chunk


def test_compressing_later_keeps_every_id_and_byte_and_shrinks_the_pack(store: DiskStore) -> None:
    oids = put_raw(store, CHUNKS)
    raw_size = stored_bytes(store)
    report = store.compress_deferred()
    assert report.finished and report.packs == 1 and report.objects == len(CHUNKS)
    assert packs(store, packbatch.DEFERRED_PREFIX) == []
    assert stored_bytes(store) == report.bytes_after < 0.9 * raw_size
    fresh = DiskStore(store.root, background_compression=False)
    assert sorted(fresh.iter_ids()) == sorted(oids)
    for oid, chunk in zip(oids, CHUNKS, strict=True):
        assert fresh.get(oid) == chunk
        assert store.get(oid) == chunk
    assert store.compress_deferred().objects == 0


def test_other_objects_of_a_raw_pack_are_copied_as_they_were(store: DiskStore) -> None:
    with store.batch() as batch:
        raw = batch.put(CHUNKS[0], planes=4, compress_later=True)
        small = batch.put(b"a manifest, compressed at once " * 8)
    store.compress_deferred()
    fresh = DiskStore(store.root, background_compression=False)
    assert fresh.get(raw) == CHUNKS[0]
    assert fresh.get(small) == b"a manifest, compressed at once " * 8


def test_a_pass_asked_to_stop_leaves_the_raw_pack_whole_and_no_temporary(store: DiskStore) -> None:
    oids = put_raw(store, CHUNKS)
    before = sorted(store.pack_dir.iterdir())
    asked = []

    def stop_after_two() -> bool:
        asked.append(1)
        return len(asked) > 2

    report = store.compress_deferred(stop_after_two)
    assert not report.finished
    assert sorted(store.pack_dir.iterdir()) == before
    assert [store.get(oid) for oid in oids] == CHUNKS


def test_a_corrupt_raw_object_is_kept_as_it_is_and_still_reported(store: DiskStore) -> None:
    good, bad = put_raw(store, CHUNKS[:2])
    (pack,) = packs(store)
    data = bytearray(pack.read_bytes())
    data[2 + len(CHUNKS[0]) + 2 + 100] ^= 0xFF  # a byte inside the second record's data
    pack.write_bytes(bytes(data))
    report = store.compress_deferred()
    assert report.corrupt == [bad]
    assert packs(store, packbatch.DEFERRED_PREFIX) == []  # not retried by every later pass
    fresh = DiskStore(store.root, background_compression=False)
    assert fresh.get(good) == CHUNKS[0]
    with pytest.raises(ObjectCorrupt, match=bad):
        fresh.get(bad)


def test_gc_removes_garbage_from_a_raw_pack_and_compresses_the_rest(store: DiskStore) -> None:
    keep, drop = put_raw(store, CHUNKS[:2])
    assert store.remove({drop}) == 1
    assert packs(store, packbatch.DEFERRED_PREFIX) == []
    fresh = DiskStore(store.root, background_compression=False)
    assert list(fresh.iter_ids()) == [keep]
    assert fresh.get(keep) == CHUNKS[0]


def test_a_reader_whose_index_is_older_follows_the_objects_into_the_new_pack(
    store: DiskStore,
) -> None:
    oids = put_raw(store, CHUNKS)
    reader = DiskStore(store.root, background_compression=False)
    assert reader.has(oids[0])  # its index names the raw pack
    store.compress_deferred()
    assert [reader.get(oid) for oid in oids] == CHUNKS


def test_a_reader_that_saw_both_packs_keeps_finding_objects_when_the_raw_one_goes(
    store: DiskStore, tmp_path: Path
) -> None:
    """While a rewrite finishes, the raw pack and its compressed copy both exist; another
    process may load the copy's index, then the raw pack's. When the rewrite then removes the
    raw pack, that process must still find every object, in the copy."""
    oids = put_raw(store, CHUNKS)
    (raw_pack,) = packs(store)
    raw_files = [raw_pack, raw_pack.with_suffix(".idx")]
    kept = [tmp_path / "kept.pack", tmp_path / "kept.idx"]
    for path, copy in zip(raw_files, kept, strict=True):
        os.link(path, copy)
    store.compress_deferred()
    reader = DiskStore(store.root, background_compression=False)
    reader.refresh()  # loads the compressed pack
    for path, copy in zip(raw_files, kept, strict=True):
        os.link(copy, path)  # back to the moment both packs exist
    reader.refresh()  # loads the raw pack too: its entries now name the raw pack
    for path in raw_files:
        path.unlink()  # what the rewrite does last
    assert [reader.get(oid) for oid in oids] == CHUNKS


def test_objects_stay_readable_by_every_reader_while_packs_are_compressed(
    store: DiskStore,
) -> None:
    written: list[tuple[str, bytes]] = []
    errors: list[BaseException] = []
    done = threading.Event()
    lock = threading.Lock()

    def read_everything(reader: DiskStore) -> None:
        try:
            while not done.is_set():
                with lock:
                    known = list(written)
                for oid, chunk in known:
                    assert reader.get(oid) == chunk
                    out = bytearray(len(chunk))
                    reader.read_into(oid, memoryview(out))
                    assert out == chunk
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    readers = [store, DiskStore(store.root, background_compression=False)]
    threads = [threading.Thread(target=read_everything, args=(r,)) for r in readers]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(8):
            chunks = [trained_floats(8192, 100 * round_ + i) for i in range(3)]
            oids = put_raw(store, chunks)
            with lock:
                written.extend(zip(oids, chunks, strict=True))
            assert store.compress_deferred().finished
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert packs(store, packbatch.DEFERRED_PREFIX) == []


# ------------------------------------------------------------------------ crash safety
def test_a_crash_before_the_new_index_leaves_the_raw_pack_in_use(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = save_raw_checkpoint(repo)

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed before the index was written")

    monkeypatch.setattr(packbatch, "atomic_write", crash)
    with pytest.raises(KeyboardInterrupt):
        repo.store.compress_deferred()
    monkeypatch.undo()
    assert_clean_after_restart(repo, commit)


def test_a_crash_between_new_index_and_old_pack_removal_leaves_both_readable(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = save_raw_checkpoint(repo)

    def crash(self: DiskStore, name: str) -> None:
        (self.pack_dir / f"{name}.idx").unlink()  # the first half of drop_pack
        raise KeyboardInterrupt("killed between the two unlinks")

    monkeypatch.setattr(DiskStore, "drop_pack", crash)
    with pytest.raises(KeyboardInterrupt):
        repo.store.compress_deferred()
    monkeypatch.undo()
    assert_clean_after_restart(repo, commit)


def test_kill_9_at_any_moment_of_a_compression_leaves_a_clean_repository(
    repo: Repo, tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    commit = save_raw_checkpoint(repo, megabytes=24)
    script = textwrap.dedent(
        f"""
        from modelsync.repo.repository import Repo
        repo = Repo.open({str(repo.work_tree)!r})
        print("ready", flush=True)
        repo.store.compress_deferred()
        print("done", flush=True)
        """
    )
    rng = random.Random(5)
    for _ in range(4):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        check = open_quiet(repo)
        assert check.fsck().ok
        assert torch.equal(load_checkpoint(check, commit)["w"], weights(24))
        check.close()
    assert_clean_after_restart(repo, commit, megabytes=24)


def weights(megabytes: int) -> Any:
    torch = pytest.importorskip("torch")
    generator = torch.Generator().manual_seed(11)
    return torch.randn(megabytes * (1 << 18), generator=generator) * 0.02


def save_raw_checkpoint(repo: Repo, megabytes: int = 2) -> str:
    repo.store.background_compression = False
    writer_for(repo).compression = "later"
    commit = save_checkpoint(repo, {"w": weights(megabytes)})
    assert packs(repo.store, packbatch.DEFERRED_PREFIX)
    return commit


def open_quiet(repo: Repo) -> Repo:
    """The repository as a fresh process sees it, without a background compression thread."""
    fresh = Repo.open(repo.work_tree)
    fresh.store.background_compression = False
    return fresh


def assert_clean_after_restart(repo: Repo, commit: str, megabytes: int = 2) -> None:
    """What a fresh process finds: fsck clean, the checkpoint intact, and a pass that ends
    with nothing left raw."""
    torch = pytest.importorskip("torch")
    fresh = open_quiet(repo)
    assert fresh.fsck().ok
    assert fresh.store.compress_deferred().finished
    assert packs(fresh.store, packbatch.DEFERRED_PREFIX) == []
    assert fresh.fsck().ok
    assert torch.equal(load_checkpoint(fresh, commit)["w"], weights(megabytes))
    fresh.close()


# ------------------------------------------------------------- when the writer defers
def test_a_large_snapshot_saved_while_the_caller_waits_is_stored_raw(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelsync.checkpoints import writer as writer_module

    monkeypatch.setattr(writer_module, "COMPRESS_LATER_FROM", 1 << 20)
    repo.store.background_compression = False
    writer = writer_for(repo)
    big = writer.capture({"w": weights(1)}, copy=False)
    assert writer.compresses_later(big)
    commit = writer.commit(big)
    assert big.stats.bytes_compress_later == 1 << 20
    small = writer.capture({"w": weights(1)[:1000]}, copy=False)
    assert not writer.compresses_later(small)
    writer.commit(small)
    in_background = writer.capture({"w": weights(1) + 1})  # copied: training goes on
    assert not writer.compresses_later(in_background)
    writer.commit(in_background)
    assert len(packs(repo.store, packbatch.DEFERRED_PREFIX)) == 1
    report = repo.gc()
    assert report.compressed.objects == 1
    assert packs(repo.store, packbatch.DEFERRED_PREFIX) == []
    assert repo.fsck().ok
    torch = pytest.importorskip("torch")
    assert torch.equal(load_checkpoint(repo, commit)["w"], weights(1))


def test_a_writer_behind_its_captures_stores_raw(repo: Repo) -> None:
    writer = writer_for(repo)
    first = writer.capture({"w": weights(1)[:1000]})
    second = writer.capture({"w": weights(1)[1000:2000]})
    assert writer.compresses_later(first)  # a newer snapshot already waits
    assert not writer.compresses_later(second)


@pytest.mark.parametrize("policy", ["now", "later"])
def test_an_explicit_policy_overrides_the_size_rule(repo: Repo, policy: str) -> None:
    writer = writer_for(repo)
    writer.compression = policy  # type: ignore[assignment]
    snapshot = writer.capture({"w": weights(1)[:1000]})
    writer.capture({"w": weights(1)[:2000]})
    assert writer.compresses_later(snapshot) == (policy == "later")


def test_an_unknown_policy_is_refused(repo: Repo) -> None:
    from modelsync.checkpoints import BranchCommitter, CheckpointWriter

    with pytest.raises(ValueError, match="compression must be one of"):
        CheckpointWriter(
            repo.store, BranchCommitter(repo), compression="sometimes"  # type: ignore[arg-type]
        )


# ------------------------------------------------------------------------ background
def compressing_threads() -> set[threading.Thread]:
    """Background passes alive now (other tests' unclosed stores may have left some)."""
    return {t for t in threading.enumerate() if t.name == "modelsync-compress" and t.is_alive()}


def wait_until(condition: Any) -> None:
    deadline = time.monotonic() + EVENTUALLY
    while not condition():
        assert time.monotonic() < deadline, "the background thread never got there"
        time.sleep(0.02)


def test_the_background_thread_compresses_raw_packs_once_no_batch_is_open(
    tmp_path: Path,
) -> None:
    before = compressing_threads()
    store = DiskStore(tmp_path / "objects")
    busy = store.batch()  # a writer in the middle of a snapshot
    oids = put_raw(store, CHUNKS)
    time.sleep(0.3)
    assert len(packs(store, packbatch.DEFERRED_PREFIX)) == 1  # it waits for the writer
    busy.close()
    wait_until(lambda: not packs(store, packbatch.DEFERRED_PREFIX))
    assert [store.get(oid) for oid in oids] == CHUNKS
    store.close()
    assert compressing_threads() <= before


def test_closing_the_store_stops_a_waiting_background_pass(tmp_path: Path) -> None:
    before = compressing_threads()
    store = DiskStore(tmp_path / "objects")
    busy = store.batch()
    put_raw(store, CHUNKS)
    store.close()  # returns although a batch is still open
    busy.abort()  # the last batch ending does not start a pass in a closed store
    assert compressing_threads() <= before
    assert len(packs(store, packbatch.DEFERRED_PREFIX)) == 1
    assert [p.name for p in store.pack_dir.iterdir() if p.name.startswith("tmp-")] == []
