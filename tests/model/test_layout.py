"""The repository layout: a run's branch and labels, and the files of a run commit."""

from __future__ import annotations

import modelsync
from modelsync.model.layout import (
    CHECKPOINT_ENTRY,
    FILES_PREFIX,
    INDEXED_FILES,
    RUN_METADATA_FILES,
    label_refs,
    label_tag,
    run_branch,
    run_name,
    run_ref,
    split_label,
)
from modelsync.repo.repository import Repo


def test_a_run_is_the_branch_runs_slash_its_name() -> None:
    assert run_branch("foo") == "runs/foo"
    assert run_ref("foo") == "refs/heads/runs/foo"
    assert run_name("runs/foo") == run_name("foo") == "foo"


def test_a_label_is_a_tag_beside_its_run() -> None:
    assert label_tag("foo", "best") == "runs/foo@best"
    assert label_refs("foo") == "refs/tags/runs/foo@"
    assert split_label("runs/foo@best") == ("runs/foo", "best")
    assert split_label("runs/foo") == ("runs/foo", None)


def test_a_label_is_the_tag_run_tag_writes(repo: Repo) -> None:
    with modelsync.start_run("foo", repo=repo) as run:
        run.log_metrics({"loss": 1.0})
        commit = run.checkpoint({})
        run.tag("best", commit)
    assert repo.refs.items(label_refs("foo")) == {f"refs/tags/{label_tag('foo', 'best')}": commit}


def test_a_run_commit_holds_the_files_the_layout_names(repo: Repo) -> None:
    with modelsync.start_run("foo", repo=repo) as run:
        run.log_metrics({"loss": 1.0})
        run.save(b"notes", name="notes.txt")
        run.checkpoint({})
    head = repo.refs.resolve(run_ref("foo"))
    assert head is not None
    files = set(repo.flatten_tree(repo.read_commit(head).tree))
    assert set(INDEXED_FILES) <= files
    assert files - RUN_METADATA_FILES == {CHECKPOINT_ENTRY, FILES_PREFIX + "notes.txt"}
