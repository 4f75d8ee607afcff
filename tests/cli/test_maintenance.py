"""fsck, gc and reindex from the command line."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from modelsync.checkpoints import save_checkpoint
from modelsync.model.objects import ChunkedFile
from modelsync.repo.repository import Repo
from modelsync.store import DiskStore

Cli = Callable[..., Result]


@pytest.fixture
def head(repo: Repo) -> str:
    Path("a.txt").write_text("a")
    repo.add(["a.txt"])
    return repo.commit("first")


def test_fsck_of_a_healthy_repository(cli: Cli, repo: Repo, head: str) -> None:
    result = cli("fsck")
    assert result.exit_code == 0
    assert result.stdout.startswith("checked ")
    report = json.loads(cli("fsck", "--json").stdout)
    assert report["ok"] is True
    assert report["corrupt"] == report["missing"] == report["dangling_refs"] == []


def test_fsck_exits_non_zero_and_names_the_corrupt_object(cli: Cli, repo: Repo, head: str) -> None:
    loose = repo.control_dir / "objects" / head[:2] / head[2:]
    data = bytearray(loose.read_bytes())
    data[len(data) // 2] ^= 0xFF
    loose.write_bytes(bytes(data))
    result = cli("fsck")
    assert result.exit_code == 1
    assert f"corrupt object {head}" in result.stdout
    assert result.stderr.strip() == "error: fsck found 1 problem"
    as_json = cli("fsck", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["corrupt"] == [head]


def test_fsck_names_missing_objects(cli: Cli, repo: Repo, head: str) -> None:
    tree = repo.read_commit(head).tree
    repo.store.remove({tree})
    report = json.loads(cli("fsck", "--json").stdout)
    assert [m["id"] for m in report["missing"]] == [tree]


def test_gc_dry_run_then_gc(cli: Cli, repo: Repo, head: str) -> None:
    Path("a.txt").write_text("b")
    repo.add(["a.txt"])
    repo.commit("second")
    repo.reset("HEAD~1", mode="hard")
    before = set(repo.store.iter_ids())
    preview = json.loads(cli("gc", "--dry-run", "--prune-now", "--json").stdout)
    assert preview["dry_run"] is True
    assert len(preview["unreachable"]) == 3
    assert set(repo.store.iter_ids()) == before
    assert cli("gc", "--prune-now").stdout.startswith("removed 3 unreachable objects")
    assert set(Repo.open().store.iter_ids()) == before - set(preview["unreachable"])


def test_reindex(cli: Cli, repo: Repo, head: str) -> None:
    repo.catalog.clear()
    assert cli("reindex").stdout.strip() == "reindexed 1 commits"
    assert repo.catalog.commit_ids_with_prefix(head[:8]) == [head]


def test_gc_says_what_it_compressed_of_what_was_stored_raw(cli: Cli, repo: Repo) -> None:
    repo.store.background_compression = False  # left for gc to do
    with repo.store.batch() as batch:
        batch.put(b"a compressible chunk " * 50_000, compress_later=True)
    repo.close()
    lines = cli("gc").stdout.splitlines()
    assert lines[0] == "removed 0 unreachable objects (0 B)"
    assert lines[1].startswith("compressed 1 objects stored raw: 1.0 MiB -> ")
    assert cli("gc").stdout.splitlines() == ["removed 0 unreachable objects (0 B)"]


# ------------------------------------------------------------ gc never deletes unreadable history
def objects_on_disk(repo: Repo) -> dict[str, bytes]:
    root = repo.control_dir / "objects"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def flip_stored_byte(repo: Repo, oid: str) -> None:
    """Flip the last byte of ``oid``'s stored record, loose or in a pack."""
    store = repo.store
    assert isinstance(store, DiskStore) and store.has(oid)
    loose = store._loose_path(oid)
    if loose.exists():
        path, offset = loose, loose.stat().st_size - 1
    else:
        location = store.packs.locate(oid)
        assert location is not None
        name, start, length = location
        path, offset = store.pack_dir / f"{name}.pack", start + length - 1
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def run_head(repo: Repo, head: str) -> str:
    """A run of three commits, each with a chunked file, that only its branch reaches."""
    repo.checkout("HEAD", create_branch="runs/r")
    for step in range(3):
        Path("weights.bin").write_bytes(random.Random(step).randbytes(1_100_000))
        repo.add(["weights.bin"])
        last = repo.commit(f"step {step}")
    repo.checkout("main")
    return last


def damage(repo: Repo, run_head: str, what: str) -> str:
    """Make one object the run's history hangs from unreadable; return its id."""
    if what == "commit":
        flip_stored_byte(repo, run_head)
        return run_head
    if what == "tree":
        tree = repo.read_commit(run_head).tree
        flip_stored_byte(repo, tree)
        return tree
    weights = repo.commit_files(run_head)["weights.bin"]
    [(chunk, _size), *_] = ChunkedFile.from_bytes(repo.store.get(weights.oid)).chunks
    repo.store.remove({chunk})
    return chunk


def assert_gc_refuses(cli: Cli, repo: Repo, bad: str, *args: str) -> None:
    before = objects_on_disk(repo)
    result = cli("gc", *args)
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert bad in line
    assert "run 'modelsync fsck'" in line
    assert objects_on_disk(repo) == before


@pytest.mark.parametrize("what", ["commit", "tree", "missing chunk"])
def test_gc_removes_nothing_below_an_unreadable_object(
    cli: Cli, repo: Repo, run_head: str, what: str
) -> None:
    bad = damage(repo, run_head, what)
    assert_gc_refuses(cli, repo, bad, "--prune-now")


def test_gc_removes_nothing_below_a_corrupt_checkpoint_manifest(
    cli: Cli, repo: Repo, head: str
) -> None:
    torch = pytest.importorskip("torch")
    for step in range(2):
        last = save_checkpoint(repo, {"w": torch.full((1000,), float(step))}, branch="runs/fit")
    manifest = repo.commit_files(last)["checkpoint"].oid
    flip_stored_byte(repo, manifest)
    assert_gc_refuses(cli, repo, manifest, "--prune-now")


@pytest.mark.parametrize("args", [(), ("--dry-run", "--prune-now")], ids=["aged", "dry run"])
def test_every_kind_of_gc_refuses_below_an_unreadable_object(
    cli: Cli, repo: Repo, run_head: str, args: tuple[str, ...]
) -> None:
    bad = damage(repo, run_head, "commit")
    assert_gc_refuses(cli, repo, bad, *args)


def test_gc_removes_nothing_a_ref_holding_garbage_reached(
    cli: Cli, repo: Repo, run_head: str
) -> None:
    (repo.control_dir / "refs/heads/runs/r").write_text("not an object id\n")
    assert_gc_refuses(cli, repo, "refs/heads/runs/r", "--prune-now")
