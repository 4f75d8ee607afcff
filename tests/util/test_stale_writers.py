"""What a writer that died leaves behind (lock files, unfinished packs) does not block the next.

A lock whose owner is gone on this host is removed by the next writer, with one line saying so;
one held by a running process, or by one on another host, is waited for and then reported with
its owner. fsck lists stale locks, ``fsck --repair`` and gc remove them. An unfinished pack goes
with the next batch or gc as soon as its writer is gone.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import Result

from modelsync.errors import IndexLocked, RefLocked
from modelsync.repo.repository import Repo
from modelsync.store import DiskStore
from modelsync.util import fileio
from modelsync.util.fileio import UNKNOWN_OWNER_STALE_AFTER, LockFile, LockTimeout, read_lock
from modelsync.util.owner import Owner

Cli = Callable[..., Result]

TAKE_LOCK = """
import os, sys
from pathlib import Path
from modelsync.util.fileio import LockFile
LockFile(Path(sys.argv[1])).acquire()
if sys.argv[2] == "exit":
    os._exit(0)
print("locked", flush=True)
sys.stdin.read()  # held until the test closes our stdin or kills us
"""

OPEN_BATCH = """
import os, sys
from pathlib import Path
from modelsync.store import DiskStore
batch = DiskStore(Path(sys.argv[1])).batch()
batch.put(os.urandom(1000))
if sys.argv[2] == "exit":
    os._exit(0)
print("writing", flush=True)
sys.stdin.read()
"""


def _run_and_exit(script: str, target: Path) -> None:
    """Run ``script`` in a process that exits without cleaning up (as a crash would)."""
    subprocess.run([sys.executable, "-c", script, str(target), "exit"], check=True)


@pytest.fixture
def running() -> Iterator[Callable[[str, Path], subprocess.Popen[str]]]:
    """Start ``script`` in a process that keeps what it took until the test ends or kills it."""
    children: list[subprocess.Popen[str]] = []

    def start(script: str, target: Path) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, "-c", script, str(target), "hold"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        assert child.stdout is not None
        assert child.stdout.readline().strip() in ("locked", "writing")
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()


def _kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait()


def _broken_locks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "removed stale lock" in r.getMessage()]


def _write_lock(lock_path: Path, content: bytes, age: float = 0.0) -> None:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path.write_bytes(content)
    if age:
        then = time.time() - age
        os.utime(lock_path, (then, then))


def _impatient(repo: Repo) -> Repo:
    """The same repository, waiting only briefly for a lock."""
    config = repo.control_dir / "config.toml"
    config.write_text(config.read_text().replace("lock_timeout = 10.0", "lock_timeout = 0.05"))
    return Repo.open(repo.work_tree)


@pytest.fixture
def committed(repo: Repo) -> Repo:
    Path("a.txt").write_text("a")
    repo.add(["a.txt"])
    repo.commit("first")
    return repo


# ------------------------------------------------------------------------------ lock files
def test_a_lock_file_names_its_owner(tmp_path: Path) -> None:
    with LockFile(tmp_path / "ref") as lock:
        holder = read_lock(lock.lock_path)
        assert holder is not None
        assert holder.owner == Owner.current()
        assert not holder.stale


def test_a_lock_held_by_a_running_process_blocks_and_names_it(
    committed: Repo, running: Callable[[str, Path], subprocess.Popen[str]]
) -> None:
    holder = running(TAKE_LOCK, committed.control_dir / "refs/heads/main")
    repo = _impatient(committed)
    Path("a.txt").write_text("blocked")
    repo.add(["a.txt"])
    expected = f"locked by process {holder.pid} on host {os.uname().nodename}, taken"
    with pytest.raises(RefLocked, match=expected):
        repo.commit("blocked")
    assert (repo.control_dir / "refs/heads/main.lock").exists()
    repo.close()


def test_a_lock_left_by_a_killed_process_is_removed_by_the_next_ref_update(
    committed: Repo,
    running: Callable[[str, Path], subprocess.Popen[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    lock_path = committed.control_dir / "refs/heads/main.lock"
    holder = running(TAKE_LOCK, committed.control_dir / "refs/heads/main")
    _kill(holder)
    repo = _impatient(committed)
    Path("a.txt").write_text("after the crash")
    repo.add(["a.txt"])
    second = repo.commit("second")
    assert repo.resolve("main") == second
    assert _broken_locks(caplog) == [
        f"removed stale lock {lock_path}: process {holder.pid} on host "
        f"{os.uname().nodename} is no longer running"
    ]
    assert not lock_path.exists()
    repo.close()


def test_a_lock_left_by_a_process_that_exited_is_removed_by_the_next_add(
    committed: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    _run_and_exit(TAKE_LOCK, committed.control_dir / "index")
    repo = _impatient(committed)
    Path("b.txt").write_text("b")
    repo.add(["b.txt"])
    assert "b.txt" in repo.status().staged
    assert len(_broken_locks(caplog)) == 1
    repo.close()


def test_a_lock_whose_pid_now_belongs_to_another_process_is_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    me = Owner.current()
    assert me.start is not None, "needs /proc"
    earlier = replace(me, start=me.start - 1)  # this pid, taken by a process before us
    _write_lock(tmp_path / "ref.lock", earlier.encode())
    with LockFile(tmp_path / "ref", timeout=0.05):
        assert read_lock(tmp_path / "ref.lock") is not None
    assert len(_broken_locks(caplog)) == 1


def test_a_lock_from_before_this_host_rebooted_is_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    me = Owner.current()
    assert me.boot is not None, "needs /proc"
    _write_lock(tmp_path / "ref.lock", replace(me, boot="an-earlier-boot").encode())
    with LockFile(tmp_path / "ref", timeout=0.05):
        pass
    assert len(_broken_locks(caplog)) == 1


def test_a_lock_from_another_host_is_reported_with_its_owner_and_age_and_kept(
    committed: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    lock_path = committed.control_dir / "refs/heads/main.lock"
    elsewhere = Owner(pid=4242, host="gpu-07.example", boot="another-boot", start=99)
    _write_lock(lock_path, elsewhere.encode(), age=2 * 3600 + 60)
    repo = _impatient(committed)
    Path("a.txt").write_text("blocked")
    repo.add(["a.txt"])
    message = "locked by process 4242 on host gpu-07.example, taken 2 h ago"
    with pytest.raises(RefLocked, match=message) as raised:
        repo.commit("blocked")
    assert "remove that file" not in str(raised.value)
    assert lock_path.read_bytes() == elsewhere.encode()
    assert _broken_locks(caplog) == []
    repo.close()


@pytest.mark.parametrize("content", [b"", b"12345"], ids=["empty", "a bare pid"])
def test_a_lock_naming_no_owner_is_judged_by_its_age(
    committed: Repo, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    lock_path = committed.control_dir / "index.lock"
    _write_lock(lock_path, content)
    repo = _impatient(committed)
    Path("a.txt").write_text("changed")
    with pytest.raises(IndexLocked, match="remove that file"):
        repo.add(["a.txt"])
    _write_lock(lock_path, content, age=UNKNOWN_OWNER_STALE_AFTER + 60)
    repo.add(["a.txt"])
    assert len(_broken_locks(caplog)) == 1
    repo.close()


def test_a_full_disk_while_writing_the_owner_leaves_no_lock_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(OSError) as raised:
        LockFile(tmp_path / "ref").acquire()
    monkeypatch.undo()
    assert raised.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_of_two_writers_removing_one_stale_lock_only_one_takes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race, played out: this writer has judged the lock stale; before it removes it,
    another removes it and takes the lock. This one must then wait, not remove the new lock."""
    me = Owner.current()
    assert me.start is not None, "needs /proc"
    _write_lock(tmp_path / "ref.lock", replace(me, start=me.start - 1).encode())
    other = LockFile(tmp_path / "ref", timeout=0.05)
    remove = fileio._unlink_if_still_named

    def the_other_first(fd: int, st: os.stat_result, lock_path: Path) -> bool:
        monkeypatch.setattr(fileio, "_unlink_if_still_named", remove)
        other.acquire()
        return remove(fd, st, lock_path)

    monkeypatch.setattr(fileio, "_unlink_if_still_named", the_other_first)
    with pytest.raises(LockTimeout):
        LockFile(tmp_path / "ref", timeout=0.05).acquire()
    holder = read_lock(tmp_path / "ref.lock")
    assert holder is not None and holder.owner == me
    other.release()


# ------------------------------------------------------------------------ fsck --repair, gc
def test_fsck_lists_a_stale_lock_and_repair_removes_it(cli: Cli, committed: Repo) -> None:
    lock_path = committed.control_dir / "refs/heads/main.lock"
    _run_and_exit(TAKE_LOCK, committed.control_dir / "refs/heads/main")
    listed = cli("fsck")
    assert listed.exit_code == 0
    assert f"stale lock {lock_path}: process " in listed.stdout
    assert lock_path.exists()
    report = json.loads(cli("fsck", "--json").stdout)
    assert [lock["path"] for lock in report["stale_locks"]] == [str(lock_path)]
    repaired = cli("fsck", "--repair")
    assert f"removed stale lock {lock_path}: process " in repaired.stdout
    assert not lock_path.exists()
    assert json.loads(cli("fsck", "--json").stdout)["stale_locks"] == []


def test_fsck_leaves_a_live_lock_alone(
    cli: Cli, committed: Repo, running: Callable[[str, Path], subprocess.Popen[str]]
) -> None:
    running(TAKE_LOCK, committed.control_dir / "index")
    assert json.loads(cli("fsck", "--repair", "--json").stdout)["stale_locks"] == []
    assert (committed.control_dir / "index.lock").exists()


def test_gc_removes_stale_locks(cli: Cli, committed: Repo) -> None:
    _run_and_exit(TAKE_LOCK, committed.control_dir / "refs/heads/main")
    _run_and_exit(TAKE_LOCK, committed.control_dir / "HEAD")
    report = json.loads(cli("gc", "--json").stdout)
    assert sorted(lock["path"] for lock in report["stale_locks_removed"]) == [
        str(committed.control_dir / "HEAD.lock"),
        str(committed.control_dir / "refs/heads/main.lock"),
    ]
    assert list(committed.control_dir.rglob("*.lock")) == []


# ------------------------------------------------------------------------- unfinished packs
def _unfinished_packs(root: Path) -> set[str]:
    return {p.name for p in (root / "pack").glob("tmp-*.pack")}


def test_the_next_batch_removes_a_dead_writers_unfinished_pack_and_keeps_a_live_ones(
    tmp_path: Path, running: Callable[[str, Path], subprocess.Popen[str]]
) -> None:
    root = tmp_path / "objects"
    running(OPEN_BATCH, root)
    [live] = _unfinished_packs(root)
    _run_and_exit(OPEN_BATCH, root)
    assert len(_unfinished_packs(root)) == 2
    store = DiskStore(root)
    with store.batch() as batch:
        batch.put(b"the next writer")
    assert _unfinished_packs(root) == {live}
    store.close()


def test_gc_removes_a_dead_writers_unfinished_pack_at_once(
    cli: Cli, committed: Repo, running: Callable[[str, Path], subprocess.Popen[str]]
) -> None:
    root = committed.control_dir / "objects"
    running(OPEN_BATCH, root)
    [live] = _unfinished_packs(root)
    _run_and_exit(OPEN_BATCH, root)
    assert len(_unfinished_packs(root)) == 2
    unnamed = root / "pack" / "tmp-written-before-packs-named-their-writer.pack"
    unnamed.write_bytes(b"partial")
    assert cli("gc").exit_code == 0
    # whose the unnamed one is cannot be told: the one-hour rule holds for it
    assert _unfinished_packs(root) == {live, unnamed.name}
