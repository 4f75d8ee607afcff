"""What the battery's tests share: repositories made for them, worker processes run under the
I/O hooks of ``_io_hooks``, and the checks made after every crash or fault."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from modelsync.repo.files import iter_content
from modelsync.repo.maintenance import FsckReport
from modelsync.repo.repository import Repo

HERE = Path(__file__).parent
WORKERS = HERE / "_workers.py"
LOCK_TIMEOUT = 2.0
"""Seconds a battery repository's writers wait for a lock: no two of them ever run at once, so
a lock that is held at all was left behind, and a writer it blocks fails quickly."""
HUNG_AFTER = 600.0
"""Seconds after which a worker is taken for hung and the test fails (instead of CI hanging);
the slowest takes a few."""


def make_repo(path: Path) -> Path:
    """A new repository at ``path``; returns its working tree."""
    with Repo.init(path, name="Battery", email="battery@example.com") as repo:
        repo.config.core.lock_timeout = LOCK_TIMEOUT
        repo.config.save(repo.control_dir / "config.toml")
    return path


def worker_env(**settings: object) -> dict[str, str]:
    """The environment of a worker: this one, less anything that would steer ModelSync, plus
    ``settings`` (``BATTERY_KILL_AT=...``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELSYNC_", "BATTERY_"))}
    env["MODELSYNC_NO_PROGRESS"] = "1"
    env.update({name: str(value) for name, value in settings.items()})
    return env


def run_worker(*args: object, **settings: object) -> subprocess.CompletedProcess[str]:
    """``_workers.py args...`` in a new process, to its end (or its death)."""
    return subprocess.run(
        [sys.executable, str(WORKERS), *map(str, args)],
        capture_output=True,
        text=True,
        env=worker_env(**settings),
        check=False,
        timeout=HUNG_AFTER,
    )


def modelsync(*args: str, **settings: object) -> subprocess.CompletedProcess[str]:
    """One ``modelsync`` command in a new process (under the hooks: ``settings`` arm them)."""
    return run_worker("cli", *args, **settings)


class TorchWorkers:
    """Runs workers that need torch as children forked from one process that imported it
    once (``_workers.py serve``): a kill or fault costs a fork, not seconds of imports."""

    def __init__(self) -> None:
        self._server = subprocess.Popen(
            [sys.executable, str(WORKERS), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=worker_env(),
            start_new_session=True,  # a hung child is killed with it
        )

    def run(self, *args: object, **settings: object) -> subprocess.CompletedProcess[str]:
        """Like ``run_worker``: the worker's exit code (-9 when killed) and its output."""
        assert self._server.stdin is not None and self._server.stdout is not None
        request = {
            "argv": [str(arg) for arg in args],
            "settings": {name: str(value) for name, value in settings.items()},
        }
        self._server.stdin.write(json.dumps(request) + "\n")
        self._server.stdin.flush()
        answered, _, _ = select.select([self._server.stdout], [], [], HUNG_AFTER)
        if not answered:
            os.killpg(self._server.pid, signal.SIGKILL)
            raise AssertionError(f"the worker {args} hung")
        line = self._server.stdout.readline()
        assert line, "the torch worker server died"
        answer = json.loads(line)
        return subprocess.CompletedProcess(
            list(args), answer["returncode"], answer["stdout"], answer["stderr"]
        )

    def close(self) -> None:
        assert self._server.stdin is not None and self._server.stdout is not None
        self._server.stdin.close()
        self._server.wait()
        self._server.stdout.close()


@pytest.fixture(scope="session")
def torch_workers() -> Iterator[TorchWorkers]:
    pytest.importorskip("torch")
    workers = TorchWorkers()
    yield workers
    workers.close()


def acknowledged(stdout: str) -> list[tuple[str, int, int]]:
    """``(commit, generation, cycle)`` of each ``commit ...`` line a worker printed."""
    found = []
    for line in stdout.splitlines():
        if line.startswith("commit "):
            _, oid, generation, cycle = line.split()
            found.append((oid, int(generation), int(cycle)))
    return found


def assert_consistent(path: Path) -> FsckReport:
    """fsck, as a fresh process sees the repository, finds nothing corrupt, missing or
    damaged. (Stale locks are no problem: the next writer removes them; neither are
    temporaries that nothing refers to.)"""
    with Repo.open(path) as repo:
        report = repo.fsck()
    assert report.problems() == []
    return report


def head(repo: Path, ref: str = "HEAD") -> str | None:
    """The commit ``ref`` holds now."""
    with Repo.open(repo) as opened:
        return opened.refs.resolve(ref)


def assert_one_line_failure_or_success(done: subprocess.CompletedProcess[str], what: str) -> None:
    """A command failed with one ``error:`` line, or succeeded; never a traceback."""
    assert "Traceback" not in done.stderr, f"{what}: {done.stderr}"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{what}: {done.stderr!r}"


def file_content(repo: Repo, commit: str, rel: str) -> bytes:
    entry = repo.flatten_tree(repo.read_commit(commit).tree)[rel]
    return b"".join(iter_content(repo.store, entry.kind, entry.oid))


def assert_commits_hold(path: Path, expected: Mapping[str, Mapping[str, bytes]]) -> None:
    """Every commit of ``expected`` exists, and holds each of its files bit for bit."""
    with Repo.open(path) as repo:
        for oid, files in expected.items():
            for rel, data in files.items():
                assert file_content(repo, oid, rel) == data, f"{rel} in commit {oid}"


@dataclass
class Tally:
    """What a battery module did (kills, faults injected, hostile inputs), by kind: shown in
    the summary at the end of the test run."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, count: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + count

    def line(self) -> str:
        return f"{self.name}: " + ", ".join(f"{what} {n}" for what, n in self.counts.items())


_TALLIES: list[Tally] = []


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Tally:
    """This module's tally (``test_disk_full`` counts as "disk full")."""
    name = request.module.__name__.rpartition(".test_")[2].replace("_", " ")
    found = Tally(name)
    _TALLIES.append(found)
    return found


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _TALLIES:
        terminalreporter.section("reliability battery")
        for found in _TALLIES:
            terminalreporter.write_line(found.line())
