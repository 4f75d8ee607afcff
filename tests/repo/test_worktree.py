"""The working tree: how user paths and globs map to files, and all-or-nothing file updates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelsync.errors import PathError
from modelsync.repo.worktree import FileUpdate, WorkTree


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorkTree:
    root = tmp_path / "work"
    for rel in ("a.txt", "b.txt", "notes.md", "sub/c.txt", "sub/deep/d.txt", "data/x.csv"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    (root / ".modelsync").mkdir()
    monkeypatch.chdir(root)
    return WorkTree(root.resolve(), ".modelsync")


def test_paths_are_relative_to_the_current_directory_inside_the_tree(
    tree: WorkTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree.root / "sub")
    assert tree.relative_path("c.txt") == "sub/c.txt"
    assert tree.relative_path("../a.txt") == "a.txt"
    assert tree.relative_path("..") == ""


def test_paths_are_relative_to_the_root_from_outside_the_tree(
    tree: WorkTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree.root.parent)
    assert tree.relative_path("sub/c.txt") == "sub/c.txt"
    assert tree.relative_path(tree.root / "a.txt") == "a.txt"


@pytest.mark.parametrize("path", ["../elsewhere.txt", "/etc/passwd", "sub/../../x"])
def test_paths_outside_the_tree_are_refused(tree: WorkTree, path: str) -> None:
    with pytest.raises(PathError, match="outside the repository"):
        tree.relative_path(path)


def test_the_control_directory_is_not_a_working_path(tree: WorkTree) -> None:
    with pytest.raises(PathError, match="control directory"):
        tree.relative_path(".modelsync/HEAD")


def test_files_skips_the_control_directory_and_ignored_files(tree: WorkTree) -> None:
    (tree.root / ".modelsyncignore").write_text("*.md\ndata/\n")
    (tree.root / ".modelsync" / "HEAD").write_text("ref: refs/heads/main\n")
    assert list(tree.files()) == [
        ".modelsyncignore",
        "a.txt",
        "b.txt",
        "sub/c.txt",
        "sub/deep/d.txt",
    ]


def test_a_star_matches_within_one_directory(tree: WorkTree) -> None:
    assert tree.expand(["*.txt"], []) == ["a.txt", "b.txt"]


def test_a_double_star_crosses_directories(tree: WorkTree) -> None:
    assert tree.expand(["**/*.txt"], []) == ["a.txt", "b.txt", "sub/c.txt", "sub/deep/d.txt"]
    assert tree.expand(["sub/**/*.txt"], []) == ["sub/c.txt", "sub/deep/d.txt"]


def test_globs_are_relative_to_the_current_directory(
    tree: WorkTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree.root / "sub")
    assert tree.expand(["*.txt"], []) == ["sub/c.txt"]
    assert tree.expand(["../*.md"], []) == ["notes.md"]


def test_a_glob_naming_a_directory_takes_its_files(tree: WorkTree) -> None:
    assert tree.expand(["su?"], []) == ["sub/c.txt", "sub/deep/d.txt"]


def test_a_directory_names_every_file_below_it(tree: WorkTree) -> None:
    assert tree.expand(["sub"], []) == ["sub/c.txt", "sub/deep/d.txt"]


def test_deleted_tracked_files_still_match(tree: WorkTree) -> None:
    tracked = ["gone.txt", "sub/old.txt"]
    assert tree.expand(["gone.txt"], tracked) == ["gone.txt"]
    assert tree.expand(["*.txt"], tracked) == ["gone.txt", "a.txt", "b.txt"]
    assert "sub/old.txt" in tree.expand(["sub"], tracked)


def test_a_pattern_that_matches_nothing_is_an_error(tree: WorkTree) -> None:
    with pytest.raises(PathError, match="did not match any files"):
        tree.expand(["a.txt", "*.parquet"], [])


def _pieces(*chunks: bytes) -> Iterator[bytes]:
    yield from chunks


def _failing_pieces() -> Iterator[bytes]:
    yield b"half of it"
    raise OSError("object store went away")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_file_update_writes_and_removes_files(tree: WorkTree) -> None:
    with FileUpdate(tree.root) as update:
        update.remove("sub/deep/d.txt")
        update.write("a.txt", _pieces(b"new ", b"content"), 0o644)
        update.write("fresh/dir/e.txt", _pieces(b"e"), 0o755)
    assert (tree.root / "a.txt").read_bytes() == b"new content"
    assert (tree.root / "fresh/dir/e.txt").stat().st_mode & 0o777 == 0o755
    assert not (tree.root / "sub/deep").exists()


def test_file_update_changes_nothing_when_one_write_fails(tree: WorkTree) -> None:
    before = _snapshot(tree.root)
    with pytest.raises(OSError, match="went away"), FileUpdate(tree.root) as update:
        update.remove("b.txt")
        update.write("a.txt", _pieces(b"replaced"), 0o644)
        update.write("new/f.txt", _failing_pieces(), 0o644)
    assert _snapshot(tree.root) == before
    assert not (tree.root / "new").exists()


def test_file_update_turns_a_file_into_a_directory(tree: WorkTree) -> None:
    with FileUpdate(tree.root) as update:
        update.remove("a.txt")
        update.write("a.txt/inside.txt", _pieces(b"now a directory"), 0o644)
    assert (tree.root / "a.txt/inside.txt").read_bytes() == b"now a directory"


def test_file_update_turns_a_directory_into_a_file(tree: WorkTree) -> None:
    with FileUpdate(tree.root) as update:
        update.remove("sub/c.txt")
        update.remove("sub/deep/d.txt")
        update.write("sub", _pieces(b"now a file"), 0o644)
    assert (tree.root / "sub").read_bytes() == b"now a file"


def test_file_update_refuses_a_file_that_is_in_the_way(tree: WorkTree) -> None:
    before = _snapshot(tree.root)
    with pytest.raises(PathError, match=r"'a\.txt' is in the way"), FileUpdate(tree.root) as update:
        update.write("b.txt", _pieces(b"changed"), 0o644)
        update.write("a.txt/inside.txt", _pieces(b"x"), 0o644)
    assert _snapshot(tree.root) == before


def test_file_update_replaces_a_directory_left_with_only_empty_directories(tree: WorkTree) -> None:
    (tree.root / "sub" / "deep" / "empty").mkdir()
    with FileUpdate(tree.root) as update:
        update.remove("sub/c.txt")
        update.remove("sub/deep/d.txt")
        update.write("sub", _pieces(b"a file now"), 0o644)
    assert (tree.root / "sub").read_bytes() == b"a file now"


def test_a_file_whose_path_no_tree_can_hold_is_not_tracked(tree: WorkTree) -> None:
    (tree.root / "sub" / "back\\slash").write_text("x")
    with pytest.raises(PathError, match=r"cannot track 'sub/back\\\\slash'"):
        tree.expand(["sub"], [])


@pytest.mark.parametrize(
    "rel", ["../x", "/abs/x", "sub/../../x", "", "sub//x", ".modelsync/HEAD", ".MODELSYNC/HEAD"]
)
def test_file_update_writes_nothing_outside_the_tree_or_into_the_control_directory(
    tree: WorkTree, rel: str
) -> None:
    before = _snapshot(tree.root.parent)
    with pytest.raises(PathError, match="cannot write"), FileUpdate(tree.root) as update:
        update.write("a.txt", _pieces(b"replaced"), 0o644)
        update.write(rel, _pieces(b"x"), 0o644)
    assert _snapshot(tree.root.parent) == before


def test_file_update_removes_nothing_outside_the_tree(tree: WorkTree) -> None:
    outside = tree.root.parent / "outside.txt"
    outside.write_text("keep")
    with pytest.raises(PathError, match="cannot remove"), FileUpdate(tree.root) as update:
        update.remove("../outside.txt")
    assert outside.read_text() == "keep"


@pytest.fixture
def elsewhere(tree: WorkTree) -> Path:
    """A directory outside the tree, and ``link`` in the tree pointing at it."""
    target = tree.root.parent / "elsewhere"
    target.mkdir()
    (tree.root / "link").symlink_to(target, target_is_directory=True)
    return target


def test_file_update_never_writes_through_a_linked_directory(
    tree: WorkTree, elsewhere: Path
) -> None:
    before = _snapshot(tree.root)
    with pytest.raises(PathError, match="symbolic link"), FileUpdate(tree.root) as update:
        update.write("a.txt", _pieces(b"replaced"), 0o644)
        update.write("link/deeper/x", _pieces(b"x"), 0o644)
    assert list(elsewhere.iterdir()) == []
    assert _snapshot(tree.root) == before


def test_file_update_leaves_files_below_a_linked_directory_alone(
    tree: WorkTree, elsewhere: Path
) -> None:
    (elsewhere / "x").write_text("not in the tree")
    with FileUpdate(tree.root) as update:
        update.remove("link/x")
    assert (elsewhere / "x").read_text() == "not in the tree"


def test_file_update_replaces_a_link_itself(tree: WorkTree, elsewhere: Path) -> None:
    (elsewhere / "x").write_text("not in the tree")
    with FileUpdate(tree.root) as update:
        update.write("link", _pieces(b"a file now"), 0o644)
    assert not (tree.root / "link").is_symlink()
    assert (tree.root / "link").read_bytes() == b"a file now"
    assert (elsewhere / "x").read_text() == "not in the tree"


def test_file_update_writes_below_a_link_that_it_removes(tree: WorkTree, elsewhere: Path) -> None:
    with FileUpdate(tree.root) as update:
        update.remove("link")
        update.write("link/x", _pieces(b"in the tree"), 0o644)
    assert (tree.root / "link").is_dir() and not (tree.root / "link").is_symlink()
    assert (tree.root / "link/x").read_bytes() == b"in the tree"
    assert list(elsewhere.iterdir()) == []
