"""Checking that a command refused bad input as promised: one ``error:`` line on stderr, a
non-zero exit, no traceback, and not one byte changed on disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from modelsync.repo.repository import Repo

Cli = Callable[..., Result]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root``: a file's bytes, or None for a directory."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def assert_refused(cli: Cli, where: Repo | Path, *args: str, says: str) -> None:
    """Run the command and check it fails as promised. ``where`` is a repository (the test's own
    handle is closed first: an open SQLite connection keeps its shared-memory file changing) or
    a plain directory."""
    if isinstance(where, Repo):
        where.close()
        root = where.work_tree.parent
    else:
        root = where
    before = snapshot(root)
    result = cli(*args)
    assert result.exit_code != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert says in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert snapshot(root) == before
