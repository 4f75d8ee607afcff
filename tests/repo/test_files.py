"""File content in the store: blobs, content-defined chunks, streaming in and out."""

from __future__ import annotations

import io
import random
import subprocess
import sys
from pathlib import Path

import pytest

from modelsync.model.objects import ChunkedFile
from modelsync.repo.files import (
    CDC_MAX,
    SMALL_FILE_LIMIT,
    _chunker,
    hash_file,
    iter_cdc_windows,
    iter_content,
    mapped_windows,
    store_file,
)
from modelsync.repo.repository import Repo
from modelsync.repo.worktree import FileUpdate
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
    with FileUpdate(tmp_path) as update:
        update.write(out.name, iter_content(store, kind, oid), 0o600)
    assert out.read_bytes() == data
    assert out.stat().st_mode & 0o777 == 0o600


def test_windowed_chunking_cuts_exactly_like_cutting_the_whole_stream() -> None:
    data = random.Random(5).randbytes(3 * CDC_MAX + 4321)
    whole = [(c.offset, c.length) for c in _chunker().cut_buf(data)]
    windowed = []
    offset = 0
    for views in iter_cdc_windows(io.BytesIO(data), window=CDC_MAX + (1 << 20)):
        for view in views:
            assert bytes(view) == data[offset : offset + len(view)]
            windowed.append((offset, len(view)))
            offset += len(view)
    assert windowed == whole


def test_mapped_windows_cut_exactly_like_the_stream(tmp_path: Path) -> None:
    data = random.Random(6).randbytes(3 * CDC_MAX + 777)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    streamed = [bytes(v) for views in iter_cdc_windows(io.BytesIO(data)) for v in views]
    with mapped_windows(path, window=CDC_MAX + (1 << 20)) as windows:
        mapped = [bytes(v) for views in windows for v in views]
    assert mapped == streamed
    assert b"".join(mapped) == data


@pytest.mark.slow
def test_adding_a_2_gib_file_keeps_peak_memory_under_200_mb(tmp_path: Path) -> None:
    repo_dir = tmp_path / "repo"
    Repo.init(repo_dir).close()
    block = random.Random(7).randbytes(64 << 20)
    with open(repo_dir / "huge.bin", "wb") as out:
        for i in range(32):
            out.write(i.to_bytes(8, "little") + block[8:])
    del block
    probe = (
        "import sys; from modelsync import Repo;"
        "repo = Repo.open(sys.argv[1]); repo.add([sys.argv[1] + '/huge.bin']); repo.commit('huge');"
        # VmHWM, not ru_maxrss: the latter carries the parent's peak across fork and exec
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(repo_dir)], capture_output=True, text=True, check=True
    )
    peak_kib = int(result.stdout.split()[-1])
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"
    assert Repo.open(repo_dir).fsck().ok


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
