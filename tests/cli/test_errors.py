"""Bad input gets one clear line on stderr, a non-zero exit, no traceback, and changes nothing.

Every case snapshots the whole directory (working tree and .modelsync/, bytes and directory
entries) before the command and compares it after.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from modelsync.model.objects import Commit
from modelsync.repo.repository import Repo
from modelsync.util.hashing import sha256_hex
from tests.support.refusals import assert_refused

Cli = Callable[..., Result]


@pytest.fixture
def history(repo: Repo) -> Repo:
    """Two commits on main: a.txt "one" then "two"."""
    for content in ("one", "two"):
        Path("a.txt").write_text(content)
        repo.add(["a.txt"])
        repo.commit(f"write {content}")
    return repo


def set_lock_timeout(repo: Repo, seconds: float) -> None:
    config = repo.control_dir / "config.toml"
    config.write_text(
        config.read_text().replace("lock_timeout = 10.0", f"lock_timeout = {seconds}")
    )


def test_not_a_repository(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELSYNC_DIR", raising=False)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "data.csv").write_text("x")
    monkeypatch.chdir(tmp_path / "plain")
    assert_refused(cli, tmp_path, "status", says="not a modelsync repository")
    assert_refused(cli, tmp_path, "add", "data.csv", says="not a modelsync repository")
    assert_refused(cli, tmp_path, "log", "-C", str(tmp_path), says="not a modelsync repository")


def test_path_outside_the_repository(cli: Cli, repo: Repo) -> None:
    outside = repo.work_tree.parent / "outside.txt"
    outside.write_text("not yours")
    assert_refused(cli, repo, "add", "../outside.txt", says="outside the repository")
    assert_refused(cli, repo, "add", str(outside), says="outside the repository")
    assert_refused(cli, repo, "rm", "../outside.txt", says="outside the repository")


def test_unknown_revision_suggests_a_name(cli: Cli, history: Repo) -> None:
    for args in (("show", "mian"), ("log", "mian"), ("checkout", "mian"), ("diff", "mian")):
        assert_refused(cli, history, *args, says="did you mean 'main'?")
    assert_refused(cli, history, "reset", "HEAD~5", says="unknown revision 'HEAD~5'")


def test_ambiguous_short_hash(cli: Cli, history: Repo) -> None:
    tree = history.read_commit(history.resolve("HEAD")).tree
    seen: dict[str, bytes] = {}
    for i in itertools.count():
        data = Commit(tree, (), history.author, float(i), f"attempt {i}").to_bytes()
        prefix = sha256_hex(data)[:4]
        if prefix in seen:
            history.store.put(seen[prefix])
            history.store.put(data)
            break
        seen[prefix] = data
    assert_refused(cli, history, "show", prefix, says="is ambiguous")


def test_missing_file(cli: Cli, repo: Repo) -> None:
    Path("present.txt").write_text("p")
    assert_refused(
        cli, repo, "add", "present.txt", "missing.txt", says="'missing.txt' did not match"
    )
    assert_refused(cli, repo, "add", "*.parquet", says="did not match any files")


def test_corrupt_object(cli: Cli, history: Repo) -> None:
    head = history.resolve("HEAD")
    loose = history.control_dir / "objects" / head[:2] / head[2:]
    loose.write_bytes(loose.read_bytes()[:-1] + b"!")
    for args in (("log",), ("show",), ("status",)):
        assert_refused(cli, history, *args, says=f"object {head} is corrupt")


def test_corrupt_object_during_checkout(cli: Cli, history: Repo) -> None:
    blob = history.commit_files("HEAD~1")["a.txt"].oid
    history.store.remove({blob})
    history.store.put_known(blob, b"tampered")
    assert_refused(cli, history, "checkout", "HEAD~1", says=f"object {blob} is corrupt")


def test_locked_ref(cli: Cli, history: Repo) -> None:
    set_lock_timeout(history, 0.05)
    (history.control_dir / "refs/heads/main.lock").write_text("4242")
    Path("a.txt").write_text("three")
    history.add(["a.txt"])
    assert_refused(cli, history, "commit", "-m", "blocked", says="refs/heads/main' is locked")
    assert_refused(cli, history, "reset", "--hard", "HEAD~1", says="is locked")
    assert_refused(
        cli, history, "commit", "-m", "blocked", "--allow-empty", says="remove that file"
    )


def test_locked_staging_area(cli: Cli, history: Repo) -> None:
    set_lock_timeout(history, 0.05)
    (history.control_dir / "index.lock").write_text("4242")
    Path("b.txt").write_text("new")
    assert_refused(cli, history, "add", "b.txt", says="staging area is locked")


def test_invalid_config(cli: Cli, history: Repo) -> None:
    (history.control_dir / "config.toml").write_text("[core\nlock_timeout = ")
    for args in (("status",), ("log",), ("commit", "-m", "x")):
        assert_refused(cli, history, *args, says="invalid config")
    (history.control_dir / "config.toml").write_text("[core]\nlock_timeout = -1\n")
    assert_refused(cli, history, "status", says="core.lock_timeout")


def test_empty_commit_message(cli: Cli, repo: Repo) -> None:
    Path("a.txt").write_text("a")
    repo.add(["a.txt"])
    assert_refused(cli, repo, "commit", "-m", "", says="empty commit message")
    assert_refused(cli, repo, "commit", says="pass -m MESSAGE")


def test_nothing_to_commit(cli: Cli, history: Repo) -> None:
    assert_refused(cli, history, "commit", "-m", "again", says="nothing to commit")


def test_nothing_to_commit_in_a_new_repository(cli: Cli, repo: Repo) -> None:
    assert_refused(cli, repo, "commit", "-m", "first", says="nothing to commit")


def test_checkout_over_local_changes(cli: Cli, history: Repo) -> None:
    Path("a.txt").write_text("local work")
    assert_refused(cli, history, "checkout", "HEAD~1", says="use --force")


def test_bad_names_and_existing_refs(cli: Cli, history: Repo) -> None:
    history.create_branch("exp")
    history.create_tag("v1", message="annotated")
    assert_refused(cli, history, "branch", "create", "bad..name", says="invalid branch name")
    assert_refused(cli, history, "branch", "create", "exp", says="already exists")
    assert_refused(cli, history, "tag", "create", "v1", "-m", "again", says="already exists")
    assert_refused(cli, history, "checkout", "-b", "exp", "HEAD~1", says="already exists")
    assert_refused(cli, history, "branch", "delete", "main", says="checked out")
    assert_refused(cli, history, "tag", "delete", "v2", says="unknown revision 'v2'")


def test_rm_of_an_untracked_file(cli: Cli, history: Repo) -> None:
    Path("scratch.txt").write_text("s")
    assert_refused(cli, history, "rm", "scratch.txt", says="did not match any tracked file")


def test_conflicting_reset_modes(cli: Cli, history: Repo) -> None:
    assert_refused(cli, history, "reset", "--soft", "--hard", says="choose one")


def test_unreadable_staging_area(cli: Cli, history: Repo) -> None:
    (history.control_dir / "index").write_text("{not json")
    assert_refused(cli, history, "status", says="modelsync reset")
