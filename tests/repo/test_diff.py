"""Diffs: which paths changed, and a patch per path (text as a unified diff, else a summary)."""

from __future__ import annotations

from pathlib import Path

from modelsync.model.objects import TreeEntry
from modelsync.repo.diff import BinaryPatch, TextPatch, diff_file_maps, format_size
from modelsync.repo.repository import Repo

A = TreeEntry("blob", "a" * 64, 1)
B = TreeEntry("blob", "b" * 64, 2)


def test_changes_are_added_deleted_or_modified_in_path_order() -> None:
    old = {"same": A, "gone": A, "edited": A, "chmod": A}
    new = {"same": A, "edited": B, "chmod": TreeEntry("blob", A.oid, 1, "100755"), "born": B}
    changes = diff_file_maps(old, new)
    assert [(c.path, c.status) for c in changes] == [
        ("born", "added"),
        ("chmod", "modified"),
        ("edited", "modified"),
        ("gone", "deleted"),
    ]


def test_sizes_read_like_a_human_wrote_them() -> None:
    assert format_size(512) == "512 B"
    assert format_size(1536) == "1.5 KiB"
    assert format_size(3 << 30) == "3.0 GiB"


def _commit(repo: Repo, files: dict[str, bytes], message: str) -> str:
    for name, content in files.items():
        Path(name).write_bytes(content)
    repo.add(list(files))
    return repo.commit(message)


def test_text_files_get_a_unified_diff(repo: Repo) -> None:
    _commit(repo, {"train.py": b"lr = 0.1\nepochs = 10\n"}, "v1")
    _commit(repo, {"train.py": b"lr = 0.01\nepochs = 10\n"}, "v2")
    [change] = repo.diff("HEAD~1", "HEAD")
    patch = repo.patch(change)
    assert isinstance(patch, TextPatch)
    assert patch.lines() == [
        "--- a/train.py",
        "+++ b/train.py",
        "@@ -1,2 +1,2 @@",
        "-lr = 0.1",
        "+lr = 0.01",
        " epochs = 10",
    ]


def test_binary_files_get_sizes_and_hashes(repo: Repo) -> None:
    _commit(repo, {"model.bin": b"\x00\x01\x02"}, "v1")
    _commit(repo, {"model.bin": b"\x00\x01\x02\x03"}, "v2")
    [change] = repo.diff("HEAD~1", "HEAD")
    patch = repo.patch(change)
    assert isinstance(patch, BinaryPatch)
    assert patch.to_json()["old_size"] == 3
    assert patch.to_json()["new_size"] == 4
    assert patch.lines()[-1].startswith("Binary content: 3 B ")


def test_working_tree_changes_are_read_from_the_files(repo: Repo) -> None:
    _commit(repo, {"notes.txt": b"first\n"}, "v1")
    Path("notes.txt").write_bytes(b"first\nsecond\n")
    [change] = repo.diff()
    assert change.new_in_work_tree
    assert repo.patch(change).lines()[-1] == "+second"


def test_an_added_file_diffs_against_nothing(repo: Repo) -> None:
    _commit(repo, {"a.txt": b"a\n"}, "v1")
    Path("b.txt").write_bytes(b"b\n")
    repo.add(["b.txt"])
    [change] = repo.diff(staged=True)
    assert change.status == "added"
    lines = repo.patch(change).lines()
    assert lines[:3] == ["new file mode 100644", "--- /dev/null", "+++ b/b.txt"]
