"""Runs across processes: many writers on one repository, kills, exits, read-only storage."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from joblib import Parallel, delayed

import modelsync
from modelsync.model.metadata import RunInfo
from modelsync.repo.repository import Repo
from modelsync.runs import read as runs
from tests.support.tracking_workers import KEYS, STEPS, run_trainings

WORKERS = 8
RUNS_PER_WORKER = 3


def _python(
    script: str, *args: str, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _check_every_run_and_metric(repo: Repo) -> None:
    listed = runs.list_runs(repo)
    assert len(listed) == WORKERS * RUNS_PER_WORKER
    assert {run.status for run in listed} == {"finished"}
    assert all(run.problems == [] for run in listed)
    expected_names = {
        f"worker-{w}" if i == 0 else f"worker-{w}-{i + 1}"
        for w in range(WORKERS)
        for i in range(RUNS_PER_WORKER)
    }
    assert {run.name for run in listed} == expected_names
    for run in listed:
        for key in KEYS:
            assert len(runs.metric_series(repo, run.name, key)) == STEPS
        assert run.metrics["final_score"] in {
            float(w * 100 + i) for w in range(WORKERS) for i in range(RUNS_PER_WORKER)
        }
    assert repo.fsck().ok


@pytest.mark.slow
def test_eight_processes_track_runs_into_one_repository(repo: Repo) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        done = pool.starmap(
            run_trainings, [(str(repo.work_tree), w, RUNS_PER_WORKER) for w in range(WORKERS)]
        )
    assert done == [RUNS_PER_WORKER] * WORKERS
    _check_every_run_and_metric(repo)


@pytest.mark.slow
def test_eight_joblib_workers_track_runs_into_one_repository(repo: Repo) -> None:
    done = Parallel(n_jobs=WORKERS, backend="loky")(
        delayed(run_trainings)(str(repo.work_tree), w, RUNS_PER_WORKER) for w in range(WORKERS)
    )
    assert done == [RUNS_PER_WORKER] * WORKERS
    _check_every_run_and_metric(repo)


def test_a_forked_child_links_its_runs_to_the_parent_run(repo: Repo) -> None:
    with modelsync.start_run("parent", repo=repo):
        child = multiprocessing.get_context("fork").Process(
            target=_child_run, args=(str(repo.work_tree),)
        )
        child.start()
        child.join()
        assert modelsync.active_run() is not None
    assert child.exitcode == 0
    assert [r.name for r in runs.list_runs(repo, parent="parent")] == ["child"]
    assert runs.get_run(repo, "child").status == "finished"


def _child_run(repo_path: str) -> None:
    assert modelsync.active_run() is None
    with modelsync.start_run("child", repo=repo_path) as run:
        run.log_metrics({"x": 1.0})


KILLED = """
import sys, time, modelsync
run = modelsync.start_run("victim", repo=sys.argv[1])
run.log_metrics({"loss": 1.0})
run.flush()
print("ready", flush=True)
time.sleep(120)
"""


def test_a_run_killed_with_sigkill_reads_as_crashed_and_can_be_resumed(repo: Repo) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(repo.work_tree)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    assert runs.get_run(repo, "victim").status == "running"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert runs.get_run(repo, "victim").status == "crashed"
    assert [r.name for r in runs.list_runs(repo, status="crashed")] == ["victim"]
    with modelsync.start_run(repo=repo, resume="victim") as run:
        run.log_metrics({"loss": 0.5})
    assert runs.get_run(repo, "victim").status == "finished"
    # the point indexed by the killed writer was never committed: the resumed run replaces it
    assert [(p.step, p.value) for p in runs.metric_series(repo, "victim", "loss")] == [(0, 0.5)]


def _info(**fields: object) -> RunInfo:
    base: dict[str, object] = {"name": "r", "start_time": 0.0, "status": "running"}
    return RunInfo.model_validate(base | fields)


def test_a_running_run_elsewhere_is_crashed_once_its_heartbeat_is_stale() -> None:
    now = time.time()
    fresh = _info(hostname="other-host", pid=1, heartbeat=now - 5)
    stale = _info(hostname="other-host", pid=1, heartbeat=now - 600)
    assert runs.effective_status(fresh, stale_after=60) == "running"
    assert runs.effective_status(stale, stale_after=60) == "crashed"


def test_a_running_run_here_is_alive_exactly_while_its_process_is() -> None:
    host = socket.gethostname()
    mine = _info(hostname=host, pid=os.getpid(), heartbeat=0.0)
    assert runs.effective_status(mine, stale_after=60) == "running"
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    gone = _info(hostname=host, pid=finished.pid, heartbeat=time.time())
    assert runs.effective_status(gone, stale_after=60) == "crashed"
    assert runs.effective_status(_info(status="failed"), stale_after=0) == "failed"


LEFT_OPEN = """
import sys, modelsync
run = modelsync.start_run("left-open", repo=sys.argv[1])
for step in range(20000):
    run.log_metrics({"loss": float(step)})
if sys.argv[2] == "raise":
    raise ValueError("diverged")
"""


def test_runs_left_open_are_finished_at_normal_exit_with_every_point(repo: Repo) -> None:
    result = _python(LEFT_OPEN, str(repo.work_tree), "exit")
    assert result.returncode == 0, result.stderr
    info = runs.get_run(repo, "left-open")
    assert info.status == "finished"
    assert len(runs.metric_series(repo, "left-open", "loss")) == 20000


def test_an_uncaught_exception_marks_open_runs_failed_and_keeps_every_point(repo: Repo) -> None:
    result = _python(LEFT_OPEN, str(repo.work_tree), "raise")
    assert result.returncode == 1 and "diverged" in result.stderr
    info = runs.get_run(repo, "left-open")
    assert info.status == "failed"
    assert info.error is not None and "ValueError: diverged" in info.error
    assert len(runs.metric_series(repo, "left-open", "loss")) == 20000


READ_ONLY = """
import sys, warnings, modelsync
try:
    modelsync.start_run(repo=sys.argv[1])
except modelsync.ModelSyncError as exc:
    print(type(exc).__name__, exc)

@modelsync.track(repo=sys.argv[1])
def train(lr=0.1):
    modelsync.log({"loss": 1.0})
    return {"acc": 0.5}

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print("returned", train())
print("warned", [str(w.message) for w in caught])
"""


def _without_root_powers() -> tuple[str, ...]:
    """A command prefix under which permission bits apply to this process, even as root."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a directory read-only")
    caps = "-dac_override,-dac_read_search,-fowner"
    return (setpriv, "--bounding-set", caps, "--inh-caps", caps)


def test_a_read_only_repository_is_a_clear_error_and_track_still_runs_the_function(
    repo: Repo,
) -> None:
    with modelsync.start_run("before", repo=repo):
        pass
    subprocess.run(["chmod", "-R", "a-w", str(repo.work_tree)], check=True)
    try:
        result = _python(READ_ONLY, str(repo.work_tree), prefix=_without_root_powers())
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(repo.work_tree)], check=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ReadOnlyRepository cannot write the repository at")
    assert lines[1] == "returned {'acc': 0.5}"
    assert "could not commit (start)" in lines[2] and "cannot write" in lines[2]
    assert [r.name for r in runs.list_runs(repo)] == ["before"]
