"""fsck, gc and reindex from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from modelsync.repo import Repo

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
