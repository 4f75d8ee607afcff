"""fsck finds damage by object id; gc removes only what nothing reaches; reindex is exact."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from modelsync.repo.repository import Repo


def commit_files(repo: Repo, files: dict[str, str], message: str = "update") -> str:
    for name, content in files.items():
        Path(name).write_text(content)
    repo.add(list(files))
    return repo.commit(message)


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def loose_path(repo: Repo, oid: str) -> Path:
    return repo.control_dir / "objects" / oid[:2] / oid[2:]


def test_a_healthy_repository_is_clean(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "a", "b.txt": "b"})
    report = repo.fsck()
    assert report.ok
    assert report.checked == len(list(repo.store.iter_ids()))


def test_fsck_names_a_corrupt_loose_object(repo: Repo) -> None:
    head = commit_files(repo, {"a.txt": "a"})
    flip_last_byte(loose_path(repo, head))
    report = Repo.open(repo.work_tree).fsck()
    assert report.corrupt == [head]
    assert not report.ok


def test_fsck_names_a_corrupt_pack_record(repo: Repo) -> None:
    content = random.Random(2).randbytes(200)  # incompressible: stored as is, findable
    Path("weights.bin").write_bytes(content)
    repo.add(["weights.bin"])
    repo.commit("weights")
    blob = repo.commit_files("HEAD")["weights.bin"].oid
    assert not loose_path(repo, blob).exists()
    [pack] = [
        p for p in (repo.control_dir / "objects/pack").glob("*.pack") if content in p.read_bytes()
    ]
    data = pack.read_bytes()
    pack.write_bytes(data.replace(content, content[:-1] + bytes([content[-1] ^ 0xFF])))
    report = Repo.open(repo.work_tree).fsck()
    assert report.corrupt == [blob]


def test_fsck_names_a_missing_object_and_who_refers_to_it(repo: Repo) -> None:
    first = commit_files(repo, {"a.txt": "a"})
    commit_files(repo, {"a.txt": "b"})
    loose_path(repo, first).unlink()
    report = Repo.open(repo.work_tree).fsck()
    assert [oid for oid, _context in report.missing] == [first]
    assert "commit" in report.missing[0][1]


def test_fsck_names_a_ref_that_points_at_nothing(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "a"})
    (repo.control_dir / "refs/heads/broken").write_text("0" * 64 + "\n")
    assert repo.fsck().dangling_refs == ["refs/heads/broken"]


def test_gc_removes_unreachable_objects_and_dry_run_removes_nothing(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "kept"})
    orphan = commit_files(repo, {"a.txt": "orphaned", "big.txt": "x" * 1000})
    orphan_files = repo.commit_files(orphan)
    repo.reset("HEAD~1", mode="hard")
    everything = set(repo.store.iter_ids())

    preview = repo.gc(dry_run=True, grace=0)
    assert set(repo.store.iter_ids()) == everything
    assert preview.removed == 0
    doomed = {orphan, repo.read_commit(orphan).tree, orphan_files["big.txt"].oid}
    assert doomed <= set(preview.unreachable)

    report = repo.gc(grace=0)
    assert report.removed == len(preview.unreachable)
    assert set(repo.store.iter_ids()) == everything - set(preview.unreachable)
    assert repo.fsck().ok
    assert Path("a.txt").read_text() == "kept"


def test_gc_keeps_staged_and_tagged_objects(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "a"})
    tagged = commit_files(repo, {"a.txt": "tagged"})
    repo.create_tag("keep", message="annotated")
    repo.reset("HEAD~1", mode="hard")
    Path("staged.txt").write_text("staged, never committed")
    repo.add(["staged.txt"])
    repo.gc(grace=0)
    assert repo.resolve("keep") == tagged
    assert repo.fsck().ok
    [change] = repo.diff(staged=True)
    assert change.new is not None
    assert repo.read_file_bytes(change.new) == b"staged, never committed"


@pytest.fixture
def catalog_rows(repo: Repo) -> list[tuple[object, ...]]:
    commit_files(repo, {"a.txt": "1"})
    repo.create_branch("side")
    commit_files(repo, {"a.txt": "2"})
    repo.commit_tree(
        repo.read_commit(repo.resolve("HEAD")).tree,
        "run",
        ref="refs/heads/runs/r",
        meta={"run": "r", "step": 7, "epoch": 1, "metrics": {"loss": float("nan")}},
    )
    repo.checkout("HEAD", create_branch="tmp")
    repo.checkout(repo.resolve("HEAD"))
    commit_files(repo, {"a.txt": "detached"})
    return [tuple(row) for row in repo.catalog.query("SELECT * FROM commits ORDER BY id")]


def test_reindex_rebuilds_identical_rows(
    repo: Repo, catalog_rows: list[tuple[object, ...]]
) -> None:
    (repo.control_dir / "index.db").unlink()
    fresh = Repo.open(repo.work_tree)
    assert fresh.reindex() == len(catalog_rows)
    rows = [tuple(row) for row in fresh.catalog.query("SELECT * FROM commits ORDER BY id")]
    assert rows == catalog_rows
    fresh.close()


def test_gc_keeps_recent_unreachable_objects_for_a_concurrent_writer(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "kept"})
    pending = repo.store.put(b"written by another process, ref not moved yet")
    report = repo.gc()
    assert pending not in report.unreachable
    assert repo.store.has(pending)


def test_gc_prunes_unreachable_objects_once_the_grace_period_is_over(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "kept"})
    stale = repo.store.put(b"left behind long ago")
    hour_ago = time.time() - 7200
    os.utime(repo.store._loose_path(stale), (hour_ago, hour_ago))  # type: ignore[attr-defined]
    report = repo.gc()
    assert stale in report.unreachable
    assert not repo.store.has(stale)


def test_reusing_a_stored_object_freshens_it_against_gc(repo: Repo) -> None:
    data = b"an old object a new commit is about to reuse"
    oid = repo.store.put(data)
    path = repo.store._loose_path(oid)  # type: ignore[attr-defined]
    hour_ago = time.time() - 7200
    os.utime(path, (hour_ago, hour_ago))
    with repo.store.batch() as batch:
        batch.put(data)
    assert oid not in repo.gc().unreachable
    assert repo.store.has(oid)
