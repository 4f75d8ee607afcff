"""``CheckpointPointer``: a small file standing in for a checkpoint stored in a repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelsync.adapters import CheckpointPointer
from modelsync.checkpoints.pointer import MAX_POINTER_SIZE


def test_a_pointer_reads_back_as_written(tmp_path: Path) -> None:
    pointer = CheckpointPointer("/data/repo", "ab" * 32)
    pointer.write(tmp_path / "epoch=1.ckpt")
    assert CheckpointPointer.read(tmp_path / "epoch=1.ckpt") == pointer


@pytest.mark.parametrize(
    "content",
    [
        b"PK\x03\x04 a torch zip",
        b'{"format": "other"}',
        b"{not json",
        b"{" + b" " * MAX_POINTER_SIZE,
    ],
)
def test_any_other_file_is_no_pointer(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "regular.ckpt"
    path.write_bytes(content)
    assert CheckpointPointer.read(path) is None


def test_a_missing_file_is_no_pointer(tmp_path: Path) -> None:
    assert CheckpointPointer.read(tmp_path / "gone.ckpt") is None
    assert CheckpointPointer.read(tmp_path) is None
