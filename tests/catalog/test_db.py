"""The SQLite catalog: readers leave it byte for byte as it was; a new one is filled before it
is read, a damaged one is named and moved aside by rebuild."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from modelsync.catalog.db import SCHEMA_VERSION, Catalog
from modelsync.errors import CatalogCorrupt, CatalogWarning
from modelsync.model.objects import Commit, Signature


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


def test_a_new_catalog_is_filled_once_before_the_first_query(tmp_path: Path) -> None:
    filled: list[int] = []

    def fill(conn: sqlite3.Connection) -> int:
        filled.append(conn.execute("SELECT count(*) FROM commits").fetchone()[0])
        return 0

    first = Catalog(tmp_path / "index.db", fill=fill)
    first.query("SELECT 1")
    first.close()
    second = Catalog(tmp_path / "index.db", fill=fill)
    second.query("SELECT 1")
    second.close()
    assert filled == [0]


def test_a_catalog_of_another_schema_version_is_emptied_and_filled_again(tmp_path: Path) -> None:
    commit = Commit("t" * 64, (), Signature("a", "b"), 1.0, "m", {})
    old = Catalog(tmp_path / "index.db")
    with old.write() as conn:
        old.record_commit(conn, "a" * 64, commit)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION - 1}")
    old.close()
    refilled = Catalog(tmp_path / "index.db", fill=lambda conn: 7)
    assert refilled.query("SELECT id FROM commits") == []
    assert refilled.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    refilled.close()


def test_pending_notes_name_their_ref_until_removed(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "index.db")
    note = catalog.note_pending("refs/heads/main")
    assert [(n.path, n.ref) for n in catalog.pending()] == [(note.path, "refs/heads/main")]
    note.remove()
    note.remove()  # whoever gets there second finds it gone
    assert catalog.pending() == []


def test_a_file_that_is_not_a_database_is_catalog_corrupt(tmp_path: Path) -> None:
    (tmp_path / "index.db").write_bytes(b"not a database" * 300)
    with pytest.raises(CatalogCorrupt, match=r"\(file is not a database\)"):
        Catalog(tmp_path / "index.db").query("SELECT 1")


def test_rebuild_moves_a_damaged_file_aside_and_starts_an_empty_one(tmp_path: Path) -> None:
    (tmp_path / "index.db").write_bytes(b"damaged" * 600)
    catalog = Catalog(tmp_path / "index.db")
    with pytest.warns(CatalogWarning, match="moved it aside to index.db.corrupt-"):
        assert catalog.rebuild(lambda conn: 5) == 5
    assert catalog.query("SELECT count(*) FROM commits")[0][0] == 0
    catalog.close()
    [aside] = tmp_path.glob("index.db.corrupt-*")
    assert aside.read_bytes() == b"damaged" * 600
