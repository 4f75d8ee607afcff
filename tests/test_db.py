"""The SQLite catalog: readers leave it byte for byte as it was; reindex rebuilds it."""

from __future__ import annotations

from pathlib import Path

from modelsync.db import Catalog
from modelsync.objects import Commit, Signature


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_opening_an_up_to_date_catalog_changes_no_byte(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "index.db")
    catalog.query("SELECT 1")
    catalog.close()
    before = _files(tmp_path)
    reader = Catalog(tmp_path / "index.db")
    assert reader.query("SELECT count(*) AS n FROM commits")[0]["n"] == 0
    reader.close()
    assert _files(tmp_path) == before


def test_commits_are_found_by_id_prefix(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "index.db")
    commit = Commit("t" * 64, (), Signature("a", "b"), 1.0, "m", {"run": "r", "step": 3})
    with catalog.write() as conn:
        catalog.record_commit(conn, "abcd" + "0" * 60, commit)
        catalog.record_commit(conn, "abce" + "0" * 60, commit)
    assert catalog.commit_ids_with_prefix("abcd") == ["abcd" + "0" * 60]
    assert len(catalog.commit_ids_with_prefix("abc")) == 2
    catalog.clear()
    assert catalog.commit_ids_with_prefix("abc") == []
    catalog.close()
