"""A failed write, fsync or rename (EIO or ENOSPC) at any point of a commit is one line and
harmless: for every n, the n-th such call of ``modelsync add`` + ``commit``, and of a run's
checkpoint commit, raises the error (``_io_hooks``, in the writer's own process), and then

- the CLI failed with one ``error:`` line and no traceback, or succeeded (a warning allowed);
  a lenient run warned in one line and went on, or committed;
- fsck finds the repository consistent, the branch is at the old commit (the command failed)
  or at the new one (it succeeded), and the new one holds what was committed, bit for bit;
- the next commit succeeds.

The sweep ends at the first n past the commit's last such call. The faults injected, and how
each command took them, are counted in the "reliability battery" section of pytest's summary.
"""

from __future__ import annotations

import json
import shutil
from itertools import count
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from modelsync.checkpoints import load_checkpoint
from modelsync.repo.repository import Repo

from ._workers import CHECKPOINT_RUN, checkpoint_state, cycle_files
from .conftest import (
    Tally,
    TorchWorkers,
    acknowledged,
    assert_commits_hold,
    assert_consistent,
    assert_one_line_failure_or_success,
    head,
    make_repo,
    modelsync,
    run_worker,
)

ERRORS = ["EIO", "ENOSPC"]



def faulty(command: list[str], fail_at: int, error: str, report: Path) -> CompletedProcess[str]:
    report.unlink(missing_ok=True)
    return modelsync(
        *command, BATTERY_FAIL_AT=fail_at, BATTERY_FAIL_ERRNO=error, BATTERY_REPORT=report
    )


@pytest.mark.slow
@pytest.mark.parametrize("error", ERRORS)
def test_a_failed_write_sync_or_rename_anywhere_in_a_cli_commit_is_one_line_and_harmless(
    tmp_path: Path, error: str, tally: Tally
) -> None:
    template = make_repo(tmp_path / "template")
    assert run_worker("commits", template, 0, 1).returncode == 0
    old = head(template)
    report = tmp_path / "report.json"
    for n in count(1):
        repo = Path(shutil.copytree(template, tmp_path / f"n{n}", symlinks=True))
        files = cycle_files(1, n)
        for rel, data in files.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_bytes(data)
        where = f"{error} at write/fsync/rename {n}"
        paths = [str(repo / rel) for rel in files]
        add = faulty(["add", "--repo", str(repo), *paths], n, error, report)
        assert_one_line_failure_or_success(add, f"add, {where}")
        counts = json.loads(report.read_text())
        hit, name = add, "add"
        if counts["fired"] is None:
            assert add.returncode == 0, f"{where}: {add.stderr}"
            command = ["commit", "--repo", str(repo), "-m", "faulty"]
            hit, name = faulty(command, n - counts["fault_ops"], error, report), "commit"
            assert_one_line_failure_or_success(hit, f"commit, {where}")
            counts = json.loads(report.read_text())
        new = head(repo)
        if name == "add" or hit.returncode:
            assert new == old, f"{where}: {name} failed, yet HEAD moved"
        else:
            assert new is not None and new != old, where
            assert_commits_hold(repo, {new: files})
        assert_consistent(repo)
        after = run_worker("commits", repo, 2, 1)
        assert after.returncode == 0, f"the commit after {where}: {after.stderr}"
        ((oid, generation, cycle),) = acknowledged(after.stdout)
        assert_commits_hold(repo, {oid: cycle_files(generation, cycle)})
        assert_consistent(repo)
        shutil.rmtree(repo)
        if counts["fired"] is None:
            break
        tally.add(f"cli commit, {error}")
        tally.add(f"{name} {'failed in one line' if hit.returncode else 'succeeded all the same'}")


def assert_checkpoint_holds(repo: Path, commit: str, generation: int, cycle: int) -> None:
    with Repo.open(repo) as opened:
        loaded: dict[str, Any] = load_checkpoint(opened, commit)
    for key, tensor in checkpoint_state(generation, cycle).items():
        assert loaded[key].numpy().tobytes() == tensor.numpy().tobytes(), f"{key} of {commit}"


def assert_went_on(result: dict[str, Any], what: str) -> None:
    """A lenient run's checkpoint never raises: it commits, or warns in one line."""
    assert result["error"] is None, f"{what}: {result['error']}"
    assert all("\n" not in message for message in result["warnings"]), what
    if result["commit"] is None:
        assert result["warnings"], f"{what}: the commit failed without a warning"
        assert result["after"] == result["before"], f"{what}: no commit, yet the run's ref moved"
    else:
        assert result["after"] == result["commit"], what


@pytest.mark.slow
@pytest.mark.parametrize("error", ERRORS)
def test_a_failed_write_sync_or_rename_anywhere_in_a_checkpoint_commit_is_one_warning(
    tmp_path: Path, error: str, torch_workers: TorchWorkers, tally: Tally
) -> None:
    template = make_repo(tmp_path / "template")
    assert torch_workers.run("checkpoints", template, 0, 1).returncode == 0
    for n in count(1):
        repo = Path(shutil.copytree(template, tmp_path / f"n{n}", symlinks=True))
        where = f"{error} at write/fsync/rename {n}"
        hooks = {"BATTERY_FAIL_AT": str(n), "BATTERY_FAIL_ERRNO": error}
        done = torch_workers.run("faulty-checkpoint", repo, 1, json.dumps(hooks))
        assert done.returncode == 0, f"{where}: {done.stderr}"
        faulty_result, following = (json.loads(line) for line in done.stdout.splitlines())
        assert_went_on(faulty_result, where)
        assert following["commit"] is not None and following["warnings"] == [], (where, following)
        assert_consistent(repo)
        if faulty_result["commit"] is not None:
            assert_checkpoint_holds(repo, faulty_result["commit"], 1, 0)
        assert_checkpoint_holds(repo, following["commit"], 1, 1)
        assert head(repo, f"refs/heads/runs/{CHECKPOINT_RUN}") is not None
        shutil.rmtree(repo)
        if faulty_result["fired"] is None:
            break
        tally.add(f"checkpoint commit, {error}")
        made = "committed all the same" if faulty_result["commit"] else "warned and went on"
        tally.add(f"checkpoint {made}")
