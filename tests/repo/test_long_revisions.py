"""Names longer than a file name may be: a ref is a file, so such a name names no ref.

Resolving one is an unknown revision, never the operating system's ``File name too long``;
creating one is an invalid name, counted in the bytes the file system counts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from modelsync.errors import InvalidRefName, UnknownRevision
from modelsync.model.layout import TAG_PREFIX
from modelsync.repo.refs import RefContainer, check_ref_name
from modelsync.repo.repository import Repo

Cli = Callable[..., Result]
LONG_REVISIONS = [pytest.param("a" * 256, id="256"), pytest.param("a" * 5000, id="5000")]


@pytest.fixture
def committed(repo: Repo) -> Repo:
    Path("a.txt").write_text("one")
    repo.add(["a.txt"])
    repo.commit("one")
    return repo


@pytest.mark.parametrize("rev", LONG_REVISIONS)
@pytest.mark.parametrize("command", ["log", "show", "diff", "checkout"])
def test_the_cli_says_unknown_revision_in_one_line(
    cli: Cli, committed: Repo, command: str, rev: str
) -> None:
    head = committed.head_commit()
    result = cli(command, rev)
    assert result.exit_code != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: unknown revision ")
    assert committed.head_commit() == head


@pytest.mark.parametrize(
    "rev",
    [
        *LONG_REVISIONS,
        pytest.param("é" * 200, id="400 bytes of UTF-8"),
        pytest.param("runs/" + "b" * 300 + "@best", id="a run label"),
        pytest.param("a/" * 3000, id="longer than a path"),
        pytest.param("a" * 300 + "~1", id="with a suffix"),
    ],
)
def test_a_name_too_long_for_a_file_is_an_unknown_revision(committed: Repo, rev: str) -> None:
    with pytest.raises(UnknownRevision):
        committed.resolve(rev)


def test_a_ref_below_a_path_too_long_to_open_is_not_found(tmp_path: Path) -> None:
    deep = tmp_path
    while len(os.fsencode(deep)) < 4000:
        deep = deep / ("d" * 200)
    deep.mkdir(parents=True)
    assert RefContainer(deep).read_raw(TAG_PREFIX + "v" * 150) is None


def test_ref_names_are_limited_in_bytes_per_component() -> None:
    assert check_ref_name("é" * 100) == "é" * 100
    with pytest.raises(InvalidRefName, match="longer than 200 bytes"):
        check_ref_name("runs/" + "é" * 101)


def test_an_over_long_name_is_shown_shortened_in_the_error() -> None:
    with pytest.raises(InvalidRefName) as refused:
        check_ref_name("a" * 5000)
    assert len(str(refused.value)) < 200


def test_a_ref_named_before_the_byte_limit_is_still_found(committed: Repo) -> None:
    name = "é" * 110  # 220 bytes: a file name that fits, though no longer a name to create
    head = committed.head_commit()
    (committed.control_dir / "refs" / "heads" / name).write_text(f"{head}\n")
    assert committed.resolve(name) == head
