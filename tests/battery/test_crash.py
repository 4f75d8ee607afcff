"""kill -9 at any moment loses nothing: writers killed at seeded points leave a repository fsck
finds clean, holding every acknowledged commit bit for bit, that the next writer just uses.

Each writer (``_workers.py``: CLI add and commit, a run committing checkpoints, gc, background
compression) runs in its own process (those using torch forked from one that imported it) and
sends itself SIGKILL just before its n-th file operation (write, fsync, rename, create, unlink,
mkdir, or SQLite write; ``_io_hooks``), n drawn from a seeded generator over its first few
cycles: the same seed kills at the same operation of the same command, so a failure replays
(only the compressor's thread and the store's workers can reorder operations). A commit is
acknowledged once the call that made it has returned and the writer has printed its id. After
every kill: fsck, every acknowledged commit, and a new writer that must succeed without anyone
cleaning up; after the last, gc leaves no lock and no temporary pack behind. The kills, by the
kind of operation each came before, are counted in pytest's summary.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from modelsync.checkpoints import load_checkpoint
from modelsync.repo.repository import Repo
from modelsync.store import packbatch

from ._io_hooks import KILLED_BEFORE
from ._workers import CHECKPOINT_RUN, COMPRESSION_RUN, checkpoint_state, cycle_files, gc_files
from .conftest import (
    Tally,
    TorchWorkers,
    acknowledged,
    assert_commits_hold,
    assert_consistent,
    make_repo,
    modelsync,
    run_worker,
)

SEED = 13
KILLS = {"commits": 20, "gc": 20, "checkpoints": 15, "compression": 15}
SPANS = {"commits": 200, "gc": 300, "checkpoints": 200, "compression": 250}
"""The operations a kill point is drawn among: about a writer's first three cycles."""
CYCLES = 40
"""More cycles than any kill point needs: a writer that ends on its own was not killed."""
NEXT_WRITER = 1000
"""Generations from here on are the writers that check a kill left nothing in their way."""

Worker = Callable[..., CompletedProcess[str]]
Acknowledged = list[tuple[str, int, int]]


def kill_repeatedly(
    worker: Worker, scenario: str, repo: Path, tally: Tally
) -> Iterator[Acknowledged]:
    """Run ``KILLS[scenario]`` writers of ``scenario`` one after another, each killed before
    its n-th operation (n drawn from 1..``SPANS[scenario]``); yields what each acknowledged."""
    rng = random.Random(f"{SEED}-{scenario}")
    for generation in range(KILLS[scenario]):
        kill_at = rng.randint(1, SPANS[scenario])
        done = worker(scenario, repo, generation, CYCLES, BATTERY_KILL_AT=kill_at)
        assert done.returncode == -signal.SIGKILL, (
            f"{scenario} writer {generation}, to be killed before operation {kill_at}, "
            f"exited {done.returncode}: {done.stderr[-2000:]}"
        )
        tally.add("kills")
        tally.add(f"before a {done.stderr.splitlines()[-1].removeprefix(KILLED_BEFORE)}")
        yield acknowledged(done.stdout)


def next_commit_succeeds(repo: Path, generation: int) -> dict[str, dict[str, bytes]]:
    """A new ``modelsync add`` and ``commit`` succeed; returns what they committed."""
    done = run_worker("commits", repo, NEXT_WRITER + generation, 1)
    assert done.returncode == 0, f"the writer after kill {generation} failed: {done.stderr}"
    ((oid, _, cycle),) = acknowledged(done.stdout)
    return {oid: cycle_files(NEXT_WRITER + generation, cycle)}


def assert_nothing_left_behind(repo: Path) -> None:
    """gc, once every writer is gone, leaves no lock file and no temporary pack."""
    done = modelsync("gc", "--repo", str(repo))
    assert done.returncode == 0, done.stderr
    control = repo / ".modelsync"
    assert sorted(control.rglob("*.lock")) == []
    assert sorted((control / "objects" / "pack").glob(f"{packbatch.TMP_PREFIX}*")) == []



@pytest.mark.slow
def test_killed_cli_add_and_commit_lose_no_acknowledged_commit(
    tmp_path: Path, tally: Tally
) -> None:
    repo = make_repo(tmp_path / "repo")
    expected: dict[str, dict[str, bytes]] = {}
    for generation, acks in enumerate(kill_repeatedly(run_worker, "commits", repo, tally)):
        expected.update({oid: cycle_files(g, c) for oid, g, c in acks})
        assert_consistent(repo)
        assert_commits_hold(repo, expected)
        expected.update(next_commit_succeeds(repo, generation))
    assert_nothing_left_behind(repo)
    assert_consistent(repo)
    assert_commits_hold(repo, expected)


@pytest.mark.slow
def test_killed_gc_loses_no_acknowledged_commit(tmp_path: Path, tally: Tally) -> None:
    repo = make_repo(tmp_path / "repo")
    expected: dict[str, dict[str, bytes]] = {}
    for generation, acks in enumerate(kill_repeatedly(run_worker, "gc", repo, tally)):
        for oid, g, c in acks:
            first, second = gc_files(g, c)
            expected[oid] = {**first, **second}
        assert_consistent(repo)
        assert_commits_hold(repo, expected)
        expected.update(next_commit_succeeds(repo, generation))
    assert_nothing_left_behind(repo)
    assert_consistent(repo)
    assert_commits_hold(repo, expected)


def assert_checkpoints_hold(repo_path: Path, acks: Acknowledged) -> None:
    """Each acknowledged checkpoint loads back bit for bit."""
    with Repo.open(repo_path) as repo:
        for oid, generation, cycle in acks:
            loaded: dict[str, Any] = load_checkpoint(repo, oid)
            saved = checkpoint_state(generation, cycle)
            assert loaded.keys() == saved.keys(), oid
            for key, tensor in saved.items():
                assert loaded[key].dtype == tensor.dtype, f"{key} of {oid}"
                assert loaded[key].numpy().tobytes() == tensor.numpy().tobytes(), f"{key} of {oid}"


def kill_runs(
    torch_workers: TorchWorkers, scenario: str, run: str, repo: Path, tally: Tally
) -> Acknowledged:
    """Kill the run's writers one after another, checking after each kill, and resuming the
    run as the next writer; returns every checkpoint acknowledged."""
    every: Acknowledged = []
    kills = kill_repeatedly(torch_workers.run, scenario, repo, tally)
    for generation, acks in enumerate(kills):
        every += acks
        assert_consistent(repo)
        assert_checkpoints_hold(repo, every)
        resumed = torch_workers.run("resume", repo, run)
        assert resumed.returncode == 0, f"resuming after kill {generation}: {resumed.stderr}"
    return every


@pytest.mark.slow
def test_a_killed_run_loses_no_acknowledged_checkpoint(
    tmp_path: Path, torch_workers: TorchWorkers, tally: Tally
) -> None:
    repo = make_repo(tmp_path / "repo")
    every = kill_runs(torch_workers, "checkpoints", CHECKPOINT_RUN, repo, tally)
    last = torch_workers.run("checkpoints", repo, NEXT_WRITER, 2)
    assert last.returncode == 0, last.stderr
    assert_nothing_left_behind(repo)
    assert_consistent(repo)
    assert_checkpoints_hold(repo, every + acknowledged(last.stdout))


@pytest.mark.slow
def test_killed_compression_loses_no_acknowledged_checkpoint(
    tmp_path: Path, torch_workers: TorchWorkers, tally: Tally
) -> None:
    repo = make_repo(tmp_path / "repo")
    every = kill_runs(torch_workers, "compression", COMPRESSION_RUN, repo, tally)
    last = torch_workers.run("compression", repo, NEXT_WRITER, 2)
    assert last.returncode == 0, last.stderr
    assert_nothing_left_behind(repo)
    assert_consistent(repo)
    indexes = (repo / ".modelsync" / "objects" / "pack").glob(f"{packbatch.DEFERRED_PREFIX}*.idx")
    assert sorted(indexes) == [], "objects stored raw were left uncompressed"
    assert_checkpoints_hold(repo, every + acknowledged(last.stdout))
