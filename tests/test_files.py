"""File content in the store: blobs, content-defined chunks, streaming in and out."""

from __future__ import annotations

import io
import random
from pathlib import Path

from modelsync.files import (
    CDC_MAX,
    SMALL_FILE_LIMIT,
    _chunker,
    hash_file,
    iter_cdc_windows,
    iter_content,
    store_file,
    write_content,
)
from modelsync.objects import ChunkedFile
from modelsync.repo import Repo
from modelsync.store import DiskStore


def _store_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def test_small_files_are_one_blob(tmp_path: Path) -> None:
    store = DiskStore(tmp_path / "objects")
    path = tmp_path / "small.txt"
    path.write_bytes(b"hello")
    with store.batch() as batch:
        kind, oid = store_file(batch, path, 5)
    assert kind == "blob"
    assert oid == hash_file(path, 5)
    assert b"".join(iter_content(store, kind, oid)) == b"hello"


def test_large_files_stream_through_chunks_and_back(tmp_path: Path) -> None:
    store = DiskStore(tmp_path / "objects")
    data = random.Random(3).randbytes(3 * SMALL_FILE_LIMIT + 123)
    path = tmp_path / "large.bin"
    path.write_bytes(data)
    stored: list[int] = []
    with store.batch() as batch:
        kind, oid = store_file(batch, path, len(data), stored.append)
    assert kind == "file"
    assert sum(stored) == len(data)
    assert oid == hash_file(path, len(data))
    out = tmp_path / "restored.bin"
    write_content(store, kind, oid, out, 0o600)
    assert out.read_bytes() == data
    assert out.stat().st_mode & 0o777 == 0o600


def test_windowed_chunking_cuts_exactly_like_cutting_the_whole_stream() -> None:
    data = random.Random(5).randbytes(3 * CDC_MAX + 4321)
    whole = [(c.offset, c.length) for c in _chunker.cut_buf(data)]
    windowed = []
    offset = 0
    for views in iter_cdc_windows(io.BytesIO(data), window=CDC_MAX + (1 << 20)):
        for view in views:
            assert bytes(view) == data[offset : offset + len(view)]
            windowed.append((offset, len(view)))
            offset += len(view)
    assert windowed == whole


def test_an_insertion_in_a_large_file_stores_only_a_few_new_chunks(repo: Repo) -> None:
    data = random.Random(11).randbytes(20 << 20)
    path = repo.work_tree / "weights.bin"
    path.write_bytes(data)
    repo.add(["weights.bin"])
    first = repo.commit("v1")
    before = _store_bytes(repo.control_dir / "objects")

    middle = len(data) // 2
    path.write_bytes(data[:middle] + b"inserted bytes" * 100 + data[middle:])
    repo.add(["weights.bin"])
    second = repo.commit("v2")
    growth = _store_bytes(repo.control_dir / "objects") - before

    def chunks(commit: str) -> set[tuple[str, int]]:
        entry = repo.flatten_tree(repo.read_commit(commit).tree)["weights.bin"]
        return set(ChunkedFile.from_bytes(repo.store.get(entry.oid)).chunks)

    new_chunks = chunks(second) - chunks(first)
    assert 1 <= len(new_chunks) <= 2
    assert growth <= sum(length for _, length in new_chunks) + (64 << 10)
    assert growth < len(data) // 4
