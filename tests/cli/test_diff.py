"""diff from the command line: unified diffs for text, summaries for binaries, JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from modelsync.repo.repository import Repo

Cli = Callable[..., Result]


def _commit(repo: Repo, files: dict[str, bytes]) -> str:
    for name, content in files.items():
        Path(name).write_bytes(content)
    repo.add(list(files))
    return repo.commit("update")


def test_diff_of_the_working_tree(cli: Cli, repo: Repo) -> None:
    _commit(repo, {"params.yaml": b"lr: 0.1\nepochs: 3\n"})
    Path("params.yaml").write_bytes(b"lr: 0.01\nepochs: 3\n")
    out = cli("diff").stdout.splitlines()
    assert out == [
        "diff a/params.yaml b/params.yaml (modified)",
        "--- a/params.yaml",
        "+++ b/params.yaml",
        "@@ -1,2 +1,2 @@",
        "-lr: 0.1",
        "+lr: 0.01",
        " epochs: 3",
    ]


def test_diff_staged(cli: Cli, repo: Repo) -> None:
    _commit(repo, {"a.txt": b"a\n"})
    Path("b.txt").write_bytes(b"b\n")
    cli("add", "b.txt")
    assert cli("diff").stdout == ""
    assert "+b" in cli("diff", "--staged").stdout.splitlines()


def test_diff_between_two_revisions_as_json(cli: Cli, repo: Repo) -> None:
    _commit(repo, {"model.bin": b"\x00" * 10, "notes.txt": b"v1\n"})
    _commit(repo, {"model.bin": b"\x00" * 20, "notes.txt": b"v2\n"})
    changes = json.loads(cli("diff", "HEAD~1", "HEAD", "--json").stdout)
    assert [(c["path"], c["status"]) for c in changes] == [
        ("model.bin", "modified"),
        ("notes.txt", "modified"),
    ]
    binary, text = (c["patch"] for c in changes)
    assert binary["type"] == "binary"
    assert (binary["old_size"], binary["new_size"]) == (10, 20)
    assert text["type"] == "text"
    assert text["patch"][-2:] == ["-v1", "+v2"]


def test_diff_of_a_binary_file_summarises_it(cli: Cli, repo: Repo) -> None:
    _commit(repo, {"weights.bin": b"\x00\x01" * 600})
    Path("weights.bin").write_bytes(b"\x00\x02" * 700)
    out = cli("diff").stdout
    assert "Binary content: 1.2 KiB" in out
    assert "-> 1.4 KiB" in out
