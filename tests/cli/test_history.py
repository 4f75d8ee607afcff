"""log and show from the command line, in text and JSON."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import Result

from modelsync.cli.commands import history as history_cli
from modelsync.cli.render import commits as render
from modelsync.repo.repository import Repo

Cli = Callable[..., Result]


@pytest.fixture
def commits(repo: Repo) -> list[str]:
    ids = []
    for i in range(3):
        Path("a.txt").write_text(str(i))
        repo.add(["a.txt"])
        ids.append(repo.commit(f"commit {i}\n\nbody {i}"))
    return ids


def test_log_lists_newest_first_with_decorations(cli: Cli, repo: Repo, commits: list[str]) -> None:
    repo.create_tag("v0", commits[0])
    out = cli("log").stdout
    assert out.index(commits[2]) < out.index(commits[1]) < out.index(commits[0])
    assert f"commit {commits[2]} (HEAD -> main)" in out
    assert f"commit {commits[0]} (tag: v0)" in out
    assert "    body 1" in out


def test_log_oneline_and_max_count(cli: Cli, commits: list[str]) -> None:
    lines = cli("log", "--oneline", "-n", "2").stdout.splitlines()
    assert lines == [f"{commits[2][:12]} (HEAD -> main) commit 2", f"{commits[1][:12]} commit 1"]


def test_log_json_from_a_revision(cli: Cli, commits: list[str]) -> None:
    entries = json.loads(cli("log", "HEAD~1", "--json").stdout)
    assert [e["id"] for e in entries] == [commits[1], commits[0]]
    assert entries[0]["parents"] == [commits[0]]
    assert entries[0]["author"] == {"name": "Test User", "email": "test@example.com"}
    assert entries[0]["message"] == "commit 1\n\nbody 1"


def test_log_of_an_empty_repository_prints_nothing(cli: Cli, repo: Repo) -> None:
    result = cli("log", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_show_prints_header_message_meta_and_files(
    cli: Cli, repo: Repo, commits: list[str]
) -> None:
    tree = repo.read_commit(commits[2]).tree
    run = repo.commit_tree(tree, "step 5", ref="refs/heads/runs/r", meta={"run": "r", "step": 5})
    out = cli("show", run).stdout
    assert f"commit {run}" in out
    assert "    step 5" in out
    assert "run: r" in out
    assert "step: 5" in out
    assert "a.txt" in out


def test_show_json(cli: Cli, repo: Repo, commits: list[str]) -> None:
    repo.create_tag("v1", commits[1], message="release notes")
    shown = json.loads(cli("show", "v1", "--json").stdout)
    assert shown["id"] == commits[1]
    assert shown["tag"]["message"] == "release notes"
    assert shown["files"] == [{"path": "a.txt", **repo.commit_files(commits[1])["a.txt"].to_json()}]
    assert shown["meta"] == {}


def test_show_sections_can_be_extended(
    cli: Cli, repo: Repo, commits: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def size_section(repo: Repo, view: history_cli.CommitView) -> history_cli.Section:
        total = sum(entry.size for entry in view.files.values())
        return history_cli.Section("total_size", total, "Total size:", [f"{total} bytes"])

    monkeypatch.setattr(history_cli, "SHOW_SECTIONS", [*history_cli.SHOW_SECTIONS, size_section])
    assert json.loads(cli("show", "--json").stdout)["total_size"] == 1
    assert "Total size:" in cli("show").stdout


@given(st.floats(min_value=-2.5e9, max_value=4e9, allow_nan=False))
@settings(max_examples=500)
def test_format_date_matches_strftime_in_any_zone(timestamp: float) -> None:
    """The per-minute cache gives what strftime gives, in zones with DST, half-hour offsets
    and old offsets that were not whole minutes."""
    for zone in ("UTC", "Europe/Berlin", "Asia/Kolkata", "Africa/Monrovia"):
        with _time_zone(zone):
            expected = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(timestamp))
            assert render.format_date(timestamp) == expected


@contextlib.contextmanager
def _time_zone(zone: str) -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    render._minute_text.cache_clear()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
        render._minute_text.cache_clear()


def test_format_date_outside_four_digit_years_matches_strftime() -> None:
    for timestamp in (-62_135_596_800.0 + 86_400 * 400, 253_402_300_800.0 + 3_600):  # year 1, 10000
        with _time_zone("UTC"):
            expected = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(timestamp))
            assert render.format_date(timestamp) == expected
