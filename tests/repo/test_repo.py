"""The repository façade: staging, committing, history, checkout, reset, branches and tags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelsync.errors import (
    IndexLocked,
    InvalidRefName,
    NothingToCommit,
    ObjectCorrupt,
    RefLocked,
    RepositoryExists,
    RepositoryNotFound,
    UsageError,
    WorkingTreeDirty,
)
from modelsync.repo.repository import ENV_REPO, Repo


def write(path: str, content: str | bytes) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        target.write_text(content)
    else:
        target.write_bytes(content)


def commit_files(repo: Repo, files: dict[str, str], message: str = "update") -> str:
    for name, content in files.items():
        write(name, content)
    repo.add(list(files))
    return repo.commit(message)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (control directory included) and its content."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def with_lock_timeout(repo: Repo, seconds: float) -> Repo:
    config = repo.control_dir / "config.toml"
    config.write_text(
        config.read_text().replace("lock_timeout = 10.0", f"lock_timeout = {seconds}")
    )
    return Repo.open(repo.work_tree)


# ------------------------------------------------------------------ opening


def test_init_creates_the_control_directory(repo: Repo) -> None:
    for part in ("HEAD", "config.toml", "objects/pack", "refs/heads", "refs/tags", "index.db"):
        assert (repo.control_dir / part).exists()
    assert repo.head_branch() == "main"
    assert repo.head_commit() is None


def test_init_refuses_an_existing_repository(repo: Repo) -> None:
    with pytest.raises(RepositoryExists):
        Repo.init(repo.work_tree)


def test_the_constructor_opens_the_working_tree_it_is_given(repo: Repo) -> None:
    with Repo(".") as opened:
        assert opened.work_tree == repo.work_tree
        assert opened.control_dir == repo.control_dir
        assert opened.head_branch() == "main"


def test_the_constructor_never_searches_the_parent_directories(repo: Repo) -> None:
    (repo.work_tree / "sub").mkdir()
    with pytest.raises(RepositoryNotFound, match=r"^not a modelsync repository: .*sub;"):
        Repo(repo.work_tree / "sub")
    assert not (repo.work_tree / "sub" / ".modelsync").exists()


def test_open_searches_upwards_and_honours_the_environment(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo.work_tree / "a" / "b").mkdir(parents=True)
    assert Repo.open(repo.work_tree / "a" / "b").work_tree == repo.work_tree
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RepositoryNotFound):
        Repo.open()
    monkeypatch.setenv(ENV_REPO, str(repo.work_tree))
    assert Repo.open().work_tree == repo.work_tree


# ------------------------------------------------------------------ staging


def test_add_returns_only_paths_whose_content_changed(repo: Repo) -> None:
    write("a.txt", "a")
    write("d/b.txt", "b")
    assert repo.add(["."]) == ["a.txt", "d/b.txt"]
    assert repo.add(["."]) == []
    write("a.txt", "changed")
    assert repo.add(["a.txt"]) == ["a.txt"]


def test_add_skips_ignored_files_in_directories(repo: Repo) -> None:
    write(".modelsyncignore", "*.log\n")
    write("train.log", "noise")
    write("model.bin", "weights")
    repo.add(["."])
    assert sorted(repo.status().staged) == [".modelsyncignore", "model.bin"]


def test_add_of_a_deleted_tracked_file_stages_its_removal(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "a", "b.txt": "b"})
    os.remove("a.txt")
    assert repo.add(["a.txt"]) == ["a.txt"]
    assert repo.status().staged == {"a.txt": "deleted"}


def test_status_reports_each_kind_of_change(repo: Repo) -> None:
    commit_files(repo, {"kept.txt": "k", "edited.txt": "e", "removed.txt": "r"})
    write("edited.txt", "edited")
    os.remove("removed.txt")
    write("new.txt", "n")
    write("staged.txt", "s")
    repo.add(["staged.txt"])
    status = repo.status()
    assert status.staged == {"staged.txt": "added"}
    assert status.modified == ["edited.txt"]
    assert status.deleted == ["removed.txt"]
    assert status.untracked == ["new.txt"]
    assert not status.clean


def test_rm_unstages_and_deletes(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "a", "b.txt": "b"})
    assert repo.rm(["a.txt"]) == ["a.txt"]
    assert not Path("a.txt").exists()
    assert repo.rm(["b.txt"], cached=True) == ["b.txt"]
    assert Path("b.txt").exists()
    assert repo.status().untracked == ["b.txt"]


def test_rm_refuses_to_delete_uncommitted_work(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "a"})
    write("a.txt", "local edit")
    with pytest.raises(WorkingTreeDirty, match="local changes"):
        repo.rm(["a.txt"])
    write("new.txt", "staged only")
    repo.add(["new.txt"])
    with pytest.raises(WorkingTreeDirty, match="staged changes"):
        repo.rm(["new.txt"])
    assert repo.rm(["a.txt"], force=True) == ["a.txt"]
    assert not Path("a.txt").exists()


def test_rm_of_an_untracked_file_is_an_error(repo: Repo) -> None:
    write("loose.txt", "x")
    with pytest.raises(UsageError, match="tracked"):
        repo.rm(["loose.txt"])


def test_a_stale_index_lock_stops_add(repo: Repo) -> None:
    write("a.txt", "a")
    (repo.control_dir / "index.lock").write_text("1")
    locked = with_lock_timeout(repo, 0.05)
    with pytest.raises(IndexLocked):
        locked.add(["a.txt"])
    locked.close()


# ------------------------------------------------------------------ commits


def test_commit_moves_the_branch_and_records_the_catalog(repo: Repo) -> None:
    first = commit_files(repo, {"a.txt": "a"}, "first")
    second = commit_files(repo, {"a.txt": "b"}, "second")
    assert repo.branch_head("main") == second
    assert repo.read_commit(second).parents == (first,)
    rows = repo.catalog.query("SELECT id, message FROM commits ORDER BY time")
    assert [(r["id"], r["message"]) for r in rows] == [(first, "first"), (second, "second")]


def test_nothing_to_commit(repo: Repo) -> None:
    with pytest.raises(NothingToCommit):
        repo.commit("empty repository")
    commit_files(repo, {"a.txt": "a"})
    with pytest.raises(NothingToCommit):
        repo.commit("same tree")
    empty = repo.commit("allowed", allow_empty=True)
    assert repo.head_commit() == empty


def test_an_empty_message_is_refused(repo: Repo) -> None:
    write("a.txt", "a")
    repo.add(["a.txt"])
    with pytest.raises(UsageError, match="empty commit message"):
        repo.commit("   ")


def test_a_locked_branch_stops_a_commit_before_any_object_is_written(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "a"})
    write("a.txt", "b")
    repo.add(["a.txt"])
    (repo.control_dir / "refs/heads/main.lock").write_text("1")
    locked = with_lock_timeout(repo, 0.05)
    objects_before = sorted(locked.store.iter_ids())
    with pytest.raises(RefLocked, match="refs/heads/main"):
        locked.commit("blocked")
    assert sorted(locked.store.iter_ids()) == objects_before
    locked.close()


def test_log_lists_history_newest_first(repo: Repo) -> None:
    assert repo.log() == []
    ids = [commit_files(repo, {"a.txt": str(i)}, f"c{i}") for i in range(4)]
    assert [oid for oid, _ in repo.log()] == ids[::-1]
    assert [c.message for _, c in repo.log("HEAD~1", limit=2)] == ["c2", "c1"]


def test_commit_tree_refuses_a_ref_that_moved(repo: Repo) -> None:
    first = commit_files(repo, {"a.txt": "a"})
    commit_files(repo, {"a.txt": "b"})
    tree = repo.read_commit(first).tree
    with pytest.raises(Exception, match="moved"):
        repo.commit_tree(tree, "late", ref="refs/heads/main", expected_old=first)


# ----------------------------------------------------------------- checkout


def test_checkout_switches_files_and_branch(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "main", "only-main.txt": "m"})
    repo.create_branch("exp")
    repo.checkout("exp")
    repo.rm(["only-main.txt"])
    commit_files(repo, {"a.txt": "exp", "dir/new.txt": "n"})
    repo.checkout("main")
    assert repo.head_branch() == "main"
    assert Path("a.txt").read_text() == "main"
    assert Path("only-main.txt").exists()
    assert not Path("dir").exists()
    repo.checkout("exp")
    assert Path("dir/new.txt").read_text() == "n"
    assert not Path("only-main.txt").exists()
    assert repo.status().clean


def test_checkout_of_a_commit_or_tag_detaches_head(repo: Repo) -> None:
    first = commit_files(repo, {"a.txt": "1"})
    commit_files(repo, {"a.txt": "2"})
    repo.create_tag("v1", first)
    assert repo.checkout("v1") == first
    assert repo.head_branch() is None
    assert repo.head_commit() == first
    assert Path("a.txt").read_text() == "1"


def test_checkout_of_a_run_name_stays_on_the_run_branch(repo: Repo) -> None:
    first = commit_files(repo, {"a.txt": "1"})
    repo.commit_tree(repo.read_commit(first).tree, "run step", ref="refs/heads/runs/baseline")
    repo.checkout("baseline")
    assert repo.head_branch() == "runs/baseline"


def test_checkout_b_creates_the_branch(repo: Repo) -> None:
    first = commit_files(repo, {"a.txt": "1"})
    commit_files(repo, {"a.txt": "2"})
    repo.checkout("HEAD~1", create_branch="retry")
    assert repo.head_branch() == "retry"
    assert repo.branch_head("retry") == first
    with pytest.raises(InvalidRefName, match="already exists"):
        repo.checkout("main", create_branch="retry")
    assert repo.head_branch() == "retry"


def test_checkout_refuses_to_clobber_local_changes(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "1"})
    commit_files(repo, {"a.txt": "2"})
    write("a.txt", "precious local edit")
    before = snapshot(repo.work_tree)
    with pytest.raises(WorkingTreeDirty, match=r"local changes to 'a\.txt'"):
        repo.checkout("HEAD~1")
    assert snapshot(repo.work_tree) == before
    repo.checkout("HEAD~1", force=True)
    assert Path("a.txt").read_text() == "1"


def test_checkout_refuses_to_clobber_staged_changes_and_untracked_files(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "1"})
    repo.create_branch("old")
    commit_files(repo, {"a.txt": "2", "b.txt": "b"})
    write("a.txt", "staged edit")
    repo.add(["a.txt"])
    with pytest.raises(WorkingTreeDirty, match="staged changes"):
        repo.checkout("old")
    repo.reset(mode="hard")
    repo.checkout("old")
    write("b.txt", "untracked in the way")
    with pytest.raises(WorkingTreeDirty, match=r"untracked file 'b\.txt'"):
        repo.checkout("main")


def test_checkout_keeps_local_edits_to_files_the_switch_does_not_touch(repo: Repo) -> None:
    commit_files(repo, {"same.txt": "s", "a.txt": "1"})
    repo.create_branch("old")
    commit_files(repo, {"a.txt": "2"})
    write("same.txt", "local edit survives")
    repo.checkout("old")
    assert Path("same.txt").read_text() == "local edit survives"
    assert repo.status().modified == ["same.txt"]


def test_checkout_with_a_corrupt_object_changes_nothing(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "1", "b.txt": "b1"})
    commit_files(repo, {"a.txt": "2", "b.txt": "b2"})
    blob = repo.commit_files("HEAD~1")["b.txt"].oid
    repo.store.remove({blob})
    repo.store.put_known(blob, b"tampered")
    before = snapshot(repo.work_tree)
    with pytest.raises(ObjectCorrupt, match=blob):
        repo.checkout("HEAD~1")
    assert snapshot(repo.work_tree) == before


def test_checkout_swaps_a_file_for_a_directory(repo: Repo) -> None:
    commit_files(repo, {"model": "a file"})
    os.remove("model")
    repo.add(["model"])
    commit_files(repo, {"model/weights.bin": "inside a directory"})
    repo.checkout("HEAD~1")
    assert Path("model").read_text() == "a file"
    repo.checkout("main")
    assert Path("model/weights.bin").read_text() == "inside a directory"


# -------------------------------------------------------------------- reset


def test_reset_modes(repo: Repo) -> None:
    first = commit_files(repo, {"a.txt": "1"})
    commit_files(repo, {"a.txt": "2"})
    repo.reset(first, mode="soft")
    assert repo.head_commit() == first
    assert repo.status().staged == {"a.txt": "modified"}
    repo.reset(first, mode="mixed")
    assert repo.status().staged == {}
    assert repo.status().modified == ["a.txt"]
    repo.reset(first, mode="hard")
    assert Path("a.txt").read_text() == "1"
    assert repo.status().clean
    with pytest.raises(UsageError):
        repo.reset(first, mode="sideways")


# -------------------------------------------------------- branches and tags


def test_branches_are_created_listed_and_deleted(repo: Repo) -> None:
    first = commit_files(repo, {"a.txt": "1"})
    repo.create_branch("exp")
    assert repo.branches() == {"exp": first, "main": first}
    with pytest.raises(InvalidRefName, match="already exists"):
        repo.create_branch("exp")
    with pytest.raises(InvalidRefName):
        repo.create_branch("bad..name")
    assert repo.delete_branch("exp") == first
    assert repo.branches() == {"main": first}


def test_the_checked_out_branch_cannot_be_deleted(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "1"})
    with pytest.raises(UsageError, match="checked out"):
        repo.delete_branch("main")


def test_deleting_an_unmerged_branch_needs_force(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "1"})
    repo.checkout("main", create_branch="exp")
    commit_files(repo, {"a.txt": "only on exp"})
    repo.checkout("main")
    with pytest.raises(UsageError, match="not merged"):
        repo.delete_branch("exp")
    repo.delete_branch("exp", force=True)
    assert "exp" not in repo.branches()


def test_tags_lightweight_and_annotated(repo: Repo) -> None:
    first = commit_files(repo, {"a.txt": "1"})
    repo.create_tag("light")
    repo.create_tag("v1", message="first release")
    assert repo.tags()["light"] == first
    annotated = repo.tag_object("v1")
    assert annotated is not None
    assert (annotated.target, annotated.message, annotated.tagger) == (
        first,
        "first release",
        repo.author,
    )
    assert repo.tag_object("light") is None


def test_an_existing_tag_is_refused_without_writing_a_tag_object(repo: Repo) -> None:
    commit_files(repo, {"a.txt": "1"})
    repo.create_tag("v1", message="one")
    objects_before = sorted(repo.store.iter_ids())
    with pytest.raises(InvalidRefName, match="already exists"):
        repo.create_tag("v1", message="two")
    assert sorted(repo.store.iter_ids()) == objects_before
    repo.delete_tag("v1")
    assert repo.tags() == {}


def test_checkout_keeps_a_directory_holding_untracked_files(repo: Repo) -> None:
    commit_files(repo, {"model": "a file"})
    os.remove("model")
    repo.add(["model"])
    commit_files(repo, {"model/weights.bin": "tracked"})
    write("model/notes.txt", "untracked, must survive")
    with pytest.raises(WorkingTreeDirty, match="untracked file 'model'"):
        repo.checkout("HEAD~1")
    assert Path("model/notes.txt").read_text() == "untracked, must survive"
