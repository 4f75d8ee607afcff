"""A full disk is one line and harmless: ``add``, ``commit``, a run's checkpoint, ``gc`` and
``reindex`` run on a small file system filled to leave 0 to 128 pages free, and each

- fails with one ``error:`` line and no traceback, or succeeds (a warning allowed); a lenient
  run never raises, it warns in one line each time and training goes on;
- leaves a repository fsck finds consistent, the branch at its old commit or (success) at the
  new one, and every commit made so far holding its content bit for bit;
- succeeds once the space is freed, with nobody cleaning up.

The file system is a tmpfs mounted for the test when running as root (unmounted after it); else
(or with ``BATTERY_DISK=fsize``) every file a command writes is limited in size instead
(``RLIMIT_FSIZE``: writes past it fail with EFBIG), which is the closest stand-in.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelsync.checkpoints import load_checkpoint
from modelsync.repo.repository import Repo

from ._workers import checkpoint_state, cycle_files, gc_files
from .conftest import (
    Tally,
    TorchWorkers,
    acknowledged,
    assert_commits_hold,
    assert_consistent,
    assert_one_line_failure_or_success,
    head,
    make_repo,
    modelsync,
    run_worker,
)

PAGE = 4096
LEVELS = [0, 1, 2, 4, 8, 16, 32, 64, 128]
"""Pages left free, one attempt each."""
DISK_SIZE = 32 << 20


class SmallDisk:
    """Where a test puts its repository; ``fill`` leaves ``free`` bytes of space, ``settings``
    are what a worker needs to feel it (nothing, on a real small file system)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.settings: dict[str, object] = {}

    def fill(self, free: int) -> None:
        raise NotImplementedError

    def free(self) -> None:
        raise NotImplementedError


class Tmpfs(SmallDisk):
    """A tmpfs of ``DISK_SIZE`` bytes, filled by one preallocated file."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._filler = root / "filler"

    def fill(self, free: int) -> None:
        self.free()
        stat = os.statvfs(self.root)
        size = stat.f_bavail * stat.f_frsize - free
        if size > 0:
            fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)


class FileSizeLimit(SmallDisk):
    """No file a worker writes may grow past ``free`` bytes."""

    def fill(self, free: int) -> None:
        self.settings = {"BATTERY_FSIZE": free}

    def free(self) -> None:
        self.settings = {}


def _mount_tmpfs(path: Path) -> bool:
    if os.geteuid() != 0 or os.environ.get("BATTERY_DISK") == "fsize":
        return False
    mount = ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(path)]
    return subprocess.run(mount, capture_output=True, check=False).returncode == 0


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    root = tmp_path / "disk"
    root.mkdir()
    if not _mount_tmpfs(root):
        yield FileSizeLimit(root)
        return
    try:
        yield Tmpfs(root)
    finally:
        subprocess.run(["umount", str(root)], check=True)



def write(repo: Path, files: dict[str, bytes]) -> list[str]:
    for rel, data in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(data)
    return [str(repo / rel) for rel in files]


def on_full_disk(disk: SmallDisk, free: int, *args: str) -> Any:
    disk.fill(free)
    try:
        return modelsync(*args, **disk.settings)
    finally:
        disk.free()


def committed(repo: Path, old: str | None) -> str:
    """The commit HEAD moved to from ``old`` (which it must have)."""
    new = head(repo)
    assert new is not None and new != old
    return new


@pytest.mark.slow
def test_add_on_a_full_disk_is_one_line_and_recovers(disk: SmallDisk, tally: Tally) -> None:
    repo = make_repo(disk.root / "repo")
    expected: dict[str, dict[str, bytes]] = {}
    for attempt, pages in enumerate(LEVELS):
        files = cycle_files(1, attempt)
        paths = write(repo, files)
        old = head(repo)
        add = on_full_disk(disk, pages * PAGE, "add", "--repo", str(repo), *paths)
        assert_one_line_failure_or_success(add, f"add with {pages} pages free")
        assert head(repo) == old
        assert_consistent(repo)
        assert modelsync("add", "--repo", str(repo), *paths).returncode == 0
        done = modelsync("commit", "--repo", str(repo), "-m", f"attempt {attempt}")
        assert done.returncode == 0, done.stderr
        expected[committed(repo, old)] = files
        assert_commits_hold(repo, expected)
        tally.add("add")


@pytest.mark.slow
def test_commit_on_a_full_disk_is_one_line_and_recovers(disk: SmallDisk, tally: Tally) -> None:
    repo = make_repo(disk.root / "repo")
    expected: dict[str, dict[str, bytes]] = {}
    for attempt, pages in enumerate(LEVELS):
        files = cycle_files(2, attempt)
        assert modelsync("add", "--repo", str(repo), *write(repo, files)).returncode == 0
        old = head(repo)
        commit = ["commit", "--repo", str(repo), "-m", f"attempt {attempt}"]
        done = on_full_disk(disk, pages * PAGE, *commit)
        assert_one_line_failure_or_success(done, f"commit with {pages} pages free")
        if done.returncode:
            assert head(repo) == old, f"commit with {pages} pages free failed, yet HEAD moved"
            assert_consistent(repo)
            done = modelsync(*commit)
            assert done.returncode == 0, done.stderr
        expected[committed(repo, old)] = files
        assert_consistent(repo)
        assert_commits_hold(repo, expected)
        tally.add("commit")


@pytest.mark.slow
def test_gc_on_a_full_disk_is_one_line_and_recovers(disk: SmallDisk, tally: Tally) -> None:
    repo = make_repo(disk.root / "repo")
    expected: dict[str, dict[str, bytes]] = {}
    for attempt, pages in enumerate(LEVELS):
        made = run_worker("garbage", repo, attempt, 1)
        assert made.returncode == 0, made.stderr
        ((oid, generation, cycle),) = acknowledged(made.stdout)
        first, second = gc_files(generation, cycle)
        expected[oid] = {**first, **second}
        done = on_full_disk(disk, pages * PAGE, "gc", "--prune-now", "--repo", str(repo))
        assert_one_line_failure_or_success(done, f"gc with {pages} pages free")
        assert_consistent(repo)
        assert_commits_hold(repo, expected)
        done = modelsync("gc", "--prune-now", "--repo", str(repo))
        assert done.returncode == 0, done.stderr
        assert_consistent(repo)
        assert_commits_hold(repo, expected)
        tally.add("gc")


@pytest.mark.slow
def test_reindex_on_a_full_disk_is_one_line_and_recovers(disk: SmallDisk, tally: Tally) -> None:
    repo = make_repo(disk.root / "repo")
    assert run_worker("commits", repo, 0, 3).returncode == 0
    assert run_worker("resume", repo, "indexed").returncode == 0
    for pages in LEVELS:
        done = on_full_disk(disk, pages * PAGE, "reindex", "--repo", str(repo))
        assert_one_line_failure_or_success(done, f"reindex with {pages} pages free")
        assert_consistent(repo)
        done = modelsync("reindex", "--repo", str(repo))
        assert done.returncode == 0, done.stderr
        runs = modelsync("runs", "--json", "--repo", str(repo))
        assert runs.returncode == 0, runs.stderr
        assert [run["name"] for run in json.loads(runs.stdout)["runs"]] == ["indexed"]
        tally.add("reindex")


def assert_checkpoint_holds(repo: Path, commit: str, generation: int) -> None:
    with Repo.open(repo) as opened:
        loaded: dict[str, Any] = load_checkpoint(opened, commit)
    for key, tensor in checkpoint_state(generation, 0).items():
        assert loaded[key].numpy().tobytes() == tensor.numpy().tobytes(), f"{key} of {commit}"


@pytest.mark.slow
def test_a_lenient_run_on_a_full_disk_warns_and_recovers(
    disk: SmallDisk, torch_workers: TorchWorkers, tally: Tally
) -> None:
    repo = make_repo(disk.root / "repo")
    for attempt, pages in enumerate(LEVELS):
        disk.fill(pages * PAGE)
        try:
            done = torch_workers.run("lenient-checkpoint", repo, attempt, **disk.settings)
        finally:
            disk.free()
        where = f"a run with {pages} pages free"
        assert done.returncode == 0, f"{where}: {done.stderr}"
        result = json.loads(done.stdout)
        assert result["error"] is None, f"{where} raised {result['error']}"
        assert all("\n" not in message for message in result["warnings"]), where
        if result["commit"] is not None:
            assert_checkpoint_holds(repo, result["commit"], attempt)
        assert_consistent(repo)
        after = torch_workers.run("checkpoints", repo, 100 + attempt, 1)
        assert after.returncode == 0, f"the run after {where}: {after.stderr}"
        ((oid, generation, _),) = acknowledged(after.stdout)
        assert_checkpoint_holds(repo, oid, generation)
        tally.add("checkpoint")
