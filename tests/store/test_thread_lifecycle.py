"""Every background thread has one owner and one lifecycle: it starts when there is work for
it, carries a ``modelsync-`` name, and is stopped by its owner's ``close`` (the repository's,
or the run's ``finish``). A plain ``add`` and ``commit`` leave none running.

No test waits for time to pass: threads are joined, and a join's timeout only turns a thread
that never ends into a failure instead of a hang.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import modelsync
from modelsync.repo.repository import Repo
from modelsync.store import packbatch

NEVER = 60.0  # seconds after which a thread that should have ended is taken not to end
LARGE = 4 << 20  # a file this large is cut into chunks the store's workers write


def modelsync_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("modelsync-") and t.is_alive()}


def named(prefix: str) -> set[threading.Thread]:
    return {t for t in modelsync_threads() if t.name.startswith(prefix)}


def raw_packs(repo: Repo) -> list[Path]:
    return sorted(repo.control_dir.glob(f"objects/pack/{packbatch.DEFERRED_PREFIX}*.idx"))


def put_compress_later(repo: Repo) -> None:
    with repo.store.batch() as batch:
        batch.put(os.urandom(256 << 10), compress_later=True)


def join_all(threads: set[threading.Thread]) -> None:
    for thread in threads:
        thread.join(NEVER)
        assert not thread.is_alive(), f"{thread.name} never ended"


def test_a_plain_add_and_commit_in_a_notebook_leave_no_thread_running(repo: Repo) -> None:
    (repo.work_tree / "data.bin").write_bytes(os.urandom(LARGE))
    before = modelsync_threads()
    notebook = Repo.open()
    notebook.add(["data.bin"])
    notebook.commit("data")
    assert modelsync_threads() - before == set()
    notebook.close()


def test_a_batch_keeps_named_workers_only_while_it_is_open(repo: Repo) -> None:
    before = modelsync_threads()
    with repo.store.batch() as batch:
        batch.submit(os.urandom(1 << 20)).result()
        assert named("modelsync-store_") - before
    assert modelsync_threads() - before == set()


def test_objects_stored_to_compress_later_are_compressed_by_a_thread_that_then_ends(
    repo: Repo,
) -> None:
    before = modelsync_threads()
    put_compress_later(repo)
    join_all(named("modelsync-compress") - before)
    assert raw_packs(repo) == []
    assert modelsync_threads() - before == set()


def test_closing_the_repository_stops_a_waiting_compressor(repo: Repo) -> None:
    before = modelsync_threads()
    busy = repo.store.batch()  # the compressor waits while this process writes
    put_compress_later(repo)
    assert named("modelsync-compress") - before
    repo.close()
    assert modelsync_threads() - before == set()
    busy.abort()  # the last batch ending starts no compressor in a closed store
    assert modelsync_threads() - before == set()
    assert len(raw_packs(repo)) == 1  # left for the next process, or gc


def test_closing_the_repository_stops_the_checkpoint_writers_thread(repo: Repo) -> None:
    torch = pytest.importorskip("torch")
    from modelsync.checkpoints import writer_for

    before = modelsync_threads()
    writer_for(repo).save_async({"w": torch.ones(1 << 18)}, branch="runs/x").result()
    assert named("modelsync-checkpoint") - before
    repo.close()
    assert modelsync_threads() - before == set()


def test_a_checkpoint_writer_keeps_the_store_workers_between_snapshots_until_it_closes(
    repo: Repo,
) -> None:
    torch = pytest.importorskip("torch")
    from modelsync.checkpoints import writer_for

    before = modelsync_threads()
    writer = writer_for(repo)
    writer.save({"w": torch.randn(1 << 18)}, branch="runs/x")  # a 1 MiB chunk: on a worker
    assert named("modelsync-store_") - before
    writer.close()
    assert modelsync_threads() - before == set()


def test_a_finished_run_leaves_no_thread_running(repo: Repo) -> None:
    before = modelsync_threads()
    with modelsync.start_run("lifecycle", repo=repo) as run:
        run.log_metrics({"loss": 1.0})
        assert named("modelsync-metrics-lifecycle") - before
    assert modelsync_threads() - before == set()
