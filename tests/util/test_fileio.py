"""Durable writes: all or nothing, and files get the mode a plain open() would give them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modelsync.util.fileio import atomic_output, atomic_write


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def test_atomic_write_replaces_content_with_the_usual_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "a" / "file.txt"
    atomic_write(target, b"old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == _umask_mode()
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_atomic_output_streams_and_renames_on_success(tmp_path: Path) -> None:
    target = tmp_path / "export.ckpt"
    with atomic_output(target) as out:
        out.write(b"part one, ")
        out.write(b"part two")
    assert target.read_bytes() == b"part one, part two"
    assert _mode(target) == _umask_mode()


def test_atomic_output_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "export.ckpt"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError), atomic_output(target) as out:
        out.write(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["export.ckpt"]
