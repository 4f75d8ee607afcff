"""The staging area: saved atomically, loaded back, locked while it changes, a stat cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from modelsync.errors import IndexCorrupt, IndexLocked
from modelsync.model.objects import TreeEntry
from modelsync.repo.index import Index, IndexEntry

OID = "c" * 64


def test_entries_round_trip_through_the_file(tmp_path: Path) -> None:
    index = Index(tmp_path / "index", {"a.txt": IndexEntry("blob", OID, 3, "100644", 1, 2, 3)})
    index.save()
    assert Index.load(tmp_path / "index").entries == index.entries


def test_a_missing_index_is_empty(tmp_path: Path) -> None:
    assert Index.load(tmp_path / "index").entries == {}


@pytest.mark.parametrize("content", [b"{broken", b"[]", b'{"entries": {"a": {"kind": "blob"}}}'])
def test_an_unreadable_index_is_reported_with_a_way_out(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "index").write_bytes(content)
    with pytest.raises(IndexCorrupt, match="modelsync reset"):
        Index.load(tmp_path / "index")


def test_a_stale_index_lock_is_reported(tmp_path: Path) -> None:
    (tmp_path / "index.lock").write_text("999")
    with pytest.raises(IndexLocked, match=r"index\.lock"), Index.locked(tmp_path / "index", 0.05):
        pass


def test_changes_under_the_lock_are_kept_only_when_saved(tmp_path: Path) -> None:
    path = tmp_path / "index"
    with Index.locked(path, 1.0) as index:
        index.entries["a"] = IndexEntry("blob", OID, 1, "100644")
    assert Index.load(path).entries == {}
    with Index.locked(path, 1.0) as index:
        index.entries["a"] = IndexEntry("blob", OID, 1, "100644")
        index.save()
    assert Index.load(path).tree_entries() == {"a": TreeEntry("blob", OID, 1, "100644")}
    assert not (tmp_path / "index.lock").exists()


def test_stat_cache_trusts_an_unchanged_file_hashed_after_its_last_write(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"12345")
    old = time.time() - 10
    os.utime(path, (old, old))
    entry = IndexEntry.for_file("blob", OID, path.stat())
    assert entry.matches_stat(path.stat())
    path.write_bytes(b"123456")
    assert not entry.matches_stat(path.stat())


def test_a_file_changed_in_the_instant_it_was_hashed_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    st = path.stat()
    entry = IndexEntry("blob", OID, st.st_size, "100644", st.st_mtime_ns, st.st_ino, st.st_mtime_ns)
    assert not entry.matches_stat(st)
