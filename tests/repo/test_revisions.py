"""Revision syntax: HEAD~N, ^N, branches, tags, runs, short hashes, and helpful failures."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from modelsync.errors import AmbiguousRevision, RevisionError, UnknownRevision
from modelsync.model.objects import Commit
from modelsync.repo.repository import Repo
from modelsync.repo.revisions import split_suffixes
from modelsync.util.hashing import sha256_hex


def _commit(repo: Repo, content: str) -> str:
    Path("file.txt").write_text(content)
    repo.add(["file.txt"])
    return repo.commit(f"write {content}")


@pytest.fixture
def history(repo: Repo) -> list[str]:
    """Three commits on main, oldest first."""
    return [_commit(repo, text) for text in ("one", "two", "three")]


def test_suffixes_split_off_in_order() -> None:
    assert split_suffixes("main~2^2~") == ("main", [("~", 2), ("^", 2), ("~", 1)])
    assert split_suffixes("runs/foo@best") == ("runs/foo@best", [])


def test_head_and_its_first_parent_ancestors(repo: Repo, history: list[str]) -> None:
    assert repo.resolve("HEAD") == history[2]
    assert repo.resolve("HEAD~1") == repo.resolve("HEAD^") == history[1]
    assert repo.resolve("HEAD~2") == repo.resolve("HEAD^^") == repo.resolve("HEAD~~") == history[0]


def test_walking_past_the_root_is_an_unknown_revision(repo: Repo, history: list[str]) -> None:
    with pytest.raises(UnknownRevision, match="HEAD~3"):
        repo.resolve("HEAD~3")


def test_branch_names_take_suffixes(repo: Repo, history: list[str]) -> None:
    repo.create_branch("exp", "HEAD~1")
    assert repo.resolve("exp") == history[1]
    assert repo.resolve("exp~1") == history[0]


def test_lightweight_and_annotated_tags_name_their_commit(repo: Repo, history: list[str]) -> None:
    repo.create_tag("light", "HEAD~2")
    repo.create_tag("v1", "HEAD~1", message="release")
    assert repo.resolve("light") == history[0]
    assert repo.resolve("v1") == history[1]
    assert repo.resolve("v1~1") == history[0]
    tag_object_id = repo.tags()["v1"]
    assert tag_object_id != history[1]
    assert repo.resolve(tag_object_id) == history[1]


def test_short_hashes_name_their_commit(repo: Repo, history: list[str]) -> None:
    assert repo.resolve(history[1][:7]) == history[1]
    assert repo.resolve(history[1][:12] + "~1") == history[0]


def test_second_parent_of_a_merge(repo: Repo, history: list[str]) -> None:
    tree = repo.read_commit(history[2]).tree
    merge = repo.commit_tree(tree, "merge", ref="HEAD", parents=(history[2], history[0]))
    assert repo.resolve("HEAD") == merge
    assert repo.resolve("HEAD^2") == history[0]
    with pytest.raises(UnknownRevision):
        repo.resolve("HEAD^3")


def test_run_names_and_run_tags(repo: Repo, history: list[str]) -> None:
    tree = repo.read_commit(history[0]).tree
    run_commit = repo.commit_tree(tree, "step 10", ref="refs/heads/runs/baseline")
    repo.create_tag("runs/baseline@best", run_commit)
    assert repo.resolve("baseline") == run_commit
    assert repo.resolve("runs/baseline") == run_commit
    assert repo.resolve("baseline@best") == run_commit


def _commits_sharing_a_prefix(repo: Repo, tree: str) -> tuple[bytes, bytes]:
    seen: dict[str, bytes] = {}
    for i in itertools.count():
        data = Commit(tree, (), repo.author, float(i), f"attempt {i}").to_bytes()
        prefix = sha256_hex(data)[:4]
        if prefix in seen:
            return seen[prefix], data
        seen[prefix] = data
    raise AssertionError("unreachable")


def test_an_ambiguous_short_hash_names_its_candidates(repo: Repo) -> None:
    tree = repo.write_tree({})
    first, second = (repo.store.put(data) for data in _commits_sharing_a_prefix(repo, tree))
    with pytest.raises(AmbiguousRevision, match="use more digits") as caught:
        repo.resolve(first[:4])
    assert sorted(caught.value.candidates) == sorted([first, second])
    assert repo.resolve(first[:20]) == first


def test_an_ambiguous_short_hash_is_caught_through_the_catalog_too(repo: Repo) -> None:
    tree = repo.write_tree({})
    datas = _commits_sharing_a_prefix(repo, tree)
    oids = [repo.store.put(data) for data in datas]
    with repo.catalog.write() as conn:
        for oid, data in zip(oids, datas, strict=True):
            repo.catalog.record_commit(conn, oid, Commit.from_bytes(data))
    with pytest.raises(AmbiguousRevision):
        repo.resolve(oids[0][:4])


def test_unknown_names_suggest_close_ones(repo: Repo, history: list[str]) -> None:
    repo.create_branch("feature")
    with pytest.raises(UnknownRevision, match="did you mean 'feature'"):
        repo.resolve("featur")


def test_a_full_id_that_is_not_stored_is_unknown(repo: Repo, history: list[str]) -> None:
    with pytest.raises(UnknownRevision):
        repo.resolve("0" * 64)


def test_head_before_the_first_commit_says_so(repo: Repo) -> None:
    with pytest.raises(RevisionError, match="nothing has been committed"):
        repo.resolve("HEAD")
