"""The catalog heals: a commit is done once its ref moved, and a missing, damaged or lagging
catalog never answers for less than the refs reach.

- A catalog write that fails after the ref moved (a full disk, a damaged file) is a warning;
  the commit stands and the next command indexes it.
- A failure before the ref moves is one ``error:`` line and the ref stays.
- A missing ``index.db`` is rebuilt on first use; a file that is not a database is one line
  pointing to ``reindex``, which moves it aside and rebuilds.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

import modelsync
from modelsync.catalog.db import PENDING_INFIX, Catalog
from modelsync.errors import CatalogCorrupt, CatalogWarning
from modelsync.repo.refs import LockedRef
from modelsync.repo.repository import Repo
from modelsync.runs import read as runs

Cli = Callable[..., Result]
RUN_REF = "refs/heads/runs/r1"


@pytest.fixture
def tracked(repo: Repo) -> Repo:
    """A repository with one finished run, r1, of three commits (start, checkpoint, end)."""
    with modelsync.start_run("r1", repo=repo, params={"lr": 0.1}) as run:
        run.log_metrics({"loss": 0.5})
        run._commit("snapshot", "halfway")
    repo.close()
    return repo


def _catalog_files(repo: Repo) -> list[Path]:
    return sorted(repo.control_dir.glob("index.db*"))


def _notes(repo: Repo) -> list[Path]:
    return sorted(repo.control_dir.glob(f"index.db{PENDING_INFIX}*"))


def _disk_full(*_args: Any, **_kwargs: Any) -> None:
    raise sqlite3.OperationalError("database or disk is full")


def _indexed(repo: Repo, oid: str) -> bool:
    rows = repo.catalog.query("SELECT 1 FROM commits WHERE id = ?", (oid,))
    return bool(rows)


def _commit_a_file(cli: Cli, content: str) -> Result:
    Path("a.txt").write_text(content)
    assert cli("add", "a.txt").exit_code == 0
    return cli("commit", "-m", f"write {content}")


def _runs_json(cli: Cli) -> dict[str, Any]:
    result = cli("runs", "--json")
    assert result.exit_code == 0, result.output
    listing: dict[str, Any] = json.loads(result.stdout)
    return listing


# ------------------------------------------------------------ the ref moved
def test_a_commit_whose_catalog_write_finds_the_disk_full_succeeds_with_a_warning(
    cli: Cli, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Catalog, "record_commit", _disk_full)
    result = _commit_a_file(cli, "one")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    head = repo.refs.resolve("refs/heads/main")
    assert head is not None
    assert line == (
        f"warning: commit {head[:12]} is made, but the catalog could not index it "
        "(database or disk is full); the next command that reads the catalog indexes it"
    )
    assert len(_notes(repo)) == 1


def test_the_next_command_indexes_a_commit_the_catalog_missed(
    cli: Cli, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(Catalog, "record_commit", _disk_full)
        assert _commit_a_file(cli, "one").exit_code == 0
    head = repo.refs.resolve("refs/heads/main")
    assert head is not None
    result = cli("log", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    assert [entry["id"] for entry in json.loads(result.stdout)] == [head]
    assert _indexed(repo, head)
    assert _notes(repo) == []


def test_a_run_commit_the_catalog_missed_is_listed_by_the_next_command(
    cli: Cli, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = modelsync.start_run("r1", repo=repo)
    with monkeypatch.context() as patch:
        patch.setattr(Catalog, "record_commit", _disk_full)
        with pytest.warns(CatalogWarning, match="is made, but the catalog could not index it"):
            run.finish()
    repo.close()
    [listed] = _runs_json(cli)["runs"]
    assert listed["status"] == "finished"
    assert listed["commits"] == 2
    assert listed["head"] == repo.refs.resolve(RUN_REF)


def test_a_commit_indexes_the_ancestors_an_earlier_failure_left_out(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = modelsync.start_run("r1", repo=repo)
    with monkeypatch.context() as patch:
        patch.setattr(Catalog, "record_commit", _disk_full)
        with pytest.warns(CatalogWarning):
            missed = run._commit("snapshot", "not indexed")
    for note in _notes(repo):
        note.unlink()  # as if lost: the next commit alone must close the gap
    run.finish()
    assert _indexed(repo, missed)


def test_a_commit_killed_before_indexing_is_indexed_by_the_next_command(
    cli: Cli, tracked: Repo
) -> None:
    killed = """
import os, sys
from modelsync.repo import catalogsync
from modelsync.repo.repository import Repo

catalogsync.index_commit = lambda *args: os._exit(9)
repo = Repo.open(sys.argv[1])
head = repo.refs.resolve("refs/heads/runs/r1")
repo.commit_tree(repo.read_commit(head).tree, "killed", ref="refs/heads/runs/r1",
                 meta={"run": "r1", "kind": "snapshot"})
"""
    done = subprocess.run(
        [sys.executable, "-c", killed, str(tracked.work_tree)], capture_output=True, check=False
    )
    assert done.returncode == 9, done.stderr
    [listed] = _runs_json(cli)["runs"]
    assert listed["commits"] == 4
    assert listed["head"] == tracked.refs.resolve(RUN_REF)


def test_a_commit_with_an_unreadable_catalog_succeeds_and_says_to_reindex(
    cli: Cli, repo: Repo
) -> None:
    repo.close()
    (repo.control_dir / "index.db").write_bytes(os.urandom(4096))
    result = _commit_a_file(cli, "one")
    assert result.exit_code == 0, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("warning: commit ") and "is made" in line
    assert "run 'modelsync reindex'" in line
    assert repo.refs.resolve("refs/heads/main") is not None


def test_a_ref_moved_before_syncing_it_failed_is_a_commit_made_with_a_warning(
    cli: Cli, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    moves = LockedRef.set

    def moves_then_fails_to_sync(self: LockedRef, value: str) -> None:
        moves(self, value)
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(repo.control_dir / "refs/heads"))

    monkeypatch.setattr(LockedRef, "set", moves_then_fails_to_sync)
    result = _commit_a_file(cli, "one")
    assert result.exit_code == 0, result.output
    head = repo.refs.resolve("refs/heads/main")
    assert head is not None
    [line] = result.stderr.splitlines()
    assert line.startswith(f"warning: refs/heads/main points at the new commit {head[:12]}, ")
    assert "syncing that to disk failed" in line and "Input/output error" in line
    assert _indexed(repo, head)


# ------------------------------------------------------ before the ref moves
def test_a_full_disk_before_the_ref_moves_is_one_error_line_and_changes_nothing(
    cli: Cli, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _commit_a_file(cli, "one").exit_code == 0
    before = repo.refs.resolve("refs/heads/main")
    indexed = repo.catalog.query("SELECT id FROM commits")

    def no_space(self: LockedRef, value: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"{self.name}.tmp")

    monkeypatch.setattr(LockedRef, "set", no_space)
    result = _commit_a_file(cli, "two")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: No space left on device: refs/heads/main.tmp"
    ]
    assert repo.refs.resolve("refs/heads/main") == before
    assert repo.catalog.query("SELECT id FROM commits") == indexed
    assert _notes(repo) == []


def test_a_note_that_cannot_be_written_stops_the_commit_before_the_ref_moves(
    cli: Cli, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(self: Catalog, ref: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    monkeypatch.setattr(Catalog, "note_pending", no_space)
    result = _commit_a_file(cli, "one")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: No space left on device: ")
    assert repo.refs.resolve("refs/heads/main") is None


# ----------------------------------------------------------- a missing file
def test_runs_lists_the_runs_after_the_catalog_was_deleted(cli: Cli, tracked: Repo) -> None:
    for path in _catalog_files(tracked):
        path.unlink()
    result = cli("runs", "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["total"] == 1
    assert listing["runs"][0]["name"] == "r1" and listing["runs"][0]["commits"] == 3
    [line] = result.stderr.splitlines()
    assert line.startswith("warning: rebuilding the catalog ")


def test_show_finds_a_run_after_the_catalog_was_deleted(cli: Cli, tracked: Repo) -> None:
    for path in _catalog_files(tracked):
        path.unlink()
    result = cli("show", "r1")
    assert result.exit_code == 0, result.output
    assert "r1" in result.stdout and "finished" in result.stdout


def test_a_deleted_catalog_is_rebuilt_once_and_then_read_without_a_word(
    cli: Cli, tracked: Repo
) -> None:
    for path in _catalog_files(tracked):
        path.unlink()
    assert cli("runs", "--json").stderr != ""
    again = cli("runs", "--json")
    assert again.stderr == "" and json.loads(again.stdout)["total"] == 1


# --------------------------------------------------------- a damaged file
def test_a_catalog_that_is_not_a_database_is_one_line_pointing_to_reindex(
    cli: Cli, tracked: Repo
) -> None:
    (tracked.control_dir / "index.db").write_bytes(os.urandom(4096))
    for command in (("runs", "--json"), ("show", "r1"), ("log", "runs/r1")):
        result = cli(*command)
        assert result.exit_code == 1
        [line] = result.stderr.splitlines()
        assert line.startswith("error: the catalog ")
        assert "is unreadable (file is not a database)" in line
        assert line.endswith("run 'modelsync reindex' to rebuild it from the commits")
        assert result.stdout == ""


def test_reindex_moves_an_unreadable_catalog_aside_and_rebuilds_it(
    cli: Cli, tracked: Repo
) -> None:
    garbage = os.urandom(4096)
    (tracked.control_dir / "index.db").write_bytes(garbage)
    result = cli("reindex")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "reindexed 3 commits"
    [line] = result.stderr.splitlines()
    assert line.startswith("warning: the catalog ")
    assert "was unreadable: moved it aside to index.db.corrupt-" in line
    [aside] = tracked.control_dir.glob("index.db.corrupt-*[0-9]")
    assert aside.read_bytes() == garbage
    assert _runs_json(cli)["runs"][0]["name"] == "r1"


def test_the_library_says_which_file_is_unreadable(tracked: Repo) -> None:
    (tracked.control_dir / "index.db").write_bytes(os.urandom(4096))
    reopened = Repo.open(tracked.work_tree)
    with pytest.raises(CatalogCorrupt, match=r"index\.db is unreadable"):
        runs.list_runs(reopened)
    reopened.close()


def test_reindex_leaves_a_readable_catalog_in_place(cli: Cli, tracked: Repo) -> None:
    result = cli("reindex")
    assert result.exit_code == 0 and result.stderr == ""
    assert list(tracked.control_dir.glob("index.db.corrupt-*")) == []
