"""The walk over every ref tip: which refs it starts from, and the commits it visits."""

from __future__ import annotations

from pathlib import Path

from modelsync.repo.history import ref_tips, walk_commits
from modelsync.repo.repository import Repo


def commit_file(repo: Repo, content: str) -> str:
    Path("a.txt").write_text(content)
    repo.add(["a.txt"])
    return repo.commit(content)


def test_the_tips_are_the_branches_then_the_tags_then_head(repo: Repo) -> None:
    first = commit_file(repo, "first")
    second = commit_file(repo, "second")
    repo.create_branch("exp", first)
    repo.create_tag("light", first)
    repo.create_tag("annotated", first, message="a tag object")
    tips = ref_tips(repo.refs)
    assert tips.ids == {
        "refs/heads/exp": first,
        "refs/heads/main": second,
        "refs/tags/annotated": repo.refs.resolve("refs/tags/annotated"),
        "refs/tags/light": first,
        "HEAD": second,
    }
    assert tips.ids["refs/tags/annotated"] != first  # the tag object, not peeled
    assert tips.unreadable == []


def test_a_ref_holding_no_object_id_is_listed_as_unreadable(repo: Repo) -> None:
    commit_file(repo, "first")
    (repo.control_dir / "refs/heads/broken").write_text("not an id\n")
    tips = ref_tips(repo.refs)
    assert tips.unreadable == ["refs/heads/broken"]
    assert "refs/heads/broken" not in tips.ids


def test_an_unborn_head_is_no_tip(repo: Repo) -> None:
    assert ref_tips(repo.refs).ids == {}


def test_the_walk_visits_each_reachable_commit_once(repo: Repo) -> None:
    base = commit_file(repo, "base")
    left = commit_file(repo, "left")
    tree = repo.read_commit(base).tree
    right = repo.commit_tree(tree, "right", ref="refs/heads/right", parents=(base,))
    merge = repo.commit_tree(tree, "merge", ref="refs/heads/merge", parents=(left, right))
    visited = [oid for oid, _ in walk_commits(repo.read_commit, [merge, left])]
    assert sorted(visited) == sorted([merge, left, right, base])


def test_a_branch_whose_damaged_tip_another_branch_reaches_can_be_deleted(repo: Repo) -> None:
    """Being reached is decided without reading the branch's own commit."""
    first = commit_file(repo, "first")
    commit_file(repo, "second")
    repo.create_branch("exp", first)
    (repo.control_dir / "objects" / first[:2] / first[2:]).unlink()
    with Repo.open(repo.work_tree) as reopened:
        assert reopened.delete_branch("exp") == first
