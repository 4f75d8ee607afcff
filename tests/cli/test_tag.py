"""``modelsync tag``: list (text and JSON), create lightweight or annotated, delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from modelsync.repo.repository import Repo

Cli = Callable[..., Result]


def test_lightweight_and_annotated_tags(cli: Cli, repo: Repo) -> None:
    Path("a.txt").write_text("a")
    repo.add(["a.txt"])
    head = repo.commit("first")
    assert cli("tag", "create", "light").stdout.strip() == f"Tagged {head[:12]} as 'light'"
    assert cli("tag", "create", "v1", "HEAD", "-m", "shipped\n\ndetails").exit_code == 0
    rows = json.loads(cli("tag", "list", "--json").stdout)
    assert [(r["name"], r["commit"], r["annotated"]) for r in rows] == [
        ("light", head, False),
        ("v1", head, True),
    ]
    assert rows[1]["tag"]["message"] == "shipped\n\ndetails"
    assert rows[1]["tag"]["tagger"] == {"name": "Test User", "email": "test@example.com"}
    assert cli("tag").stdout.splitlines() == [f"light  {head[:12]}", f"v1     {head[:12]}  shipped"]


def test_delete(cli: Cli, repo: Repo) -> None:
    Path("a.txt").write_text("a")
    repo.add(["a.txt"])
    head = repo.commit("first")
    cli("tag", "create", "v1")
    assert cli("tag", "delete", "v1").stdout.strip() == f"Deleted tag 'v1' (was {head[:12]})"
    assert json.loads(cli("tag", "list", "--json").stdout) == []
