"""The process hooks of tracking (``runs.lifecycle``): none at import, each one once the first
run starts, and a process forked before that tracks its own runs."""

from __future__ import annotations

import json
import subprocess
import sys

from modelsync.repo.repository import Repo

HOOKS_REGISTERED = """
import atexit, json, os, sys

registered = []
register_at_fork, register_at_exit = os.register_at_fork, atexit.register

def at_fork(**hooks):
    registered.extend(f"fork {hook.__module__}.{hook.__qualname__}" for hook in hooks.values())
    register_at_fork(**hooks)

def at_exit(hook, *args, **kwargs):
    registered.append(f"exit {hook.__module__}.{hook.__qualname__}")
    return register_at_exit(hook, *args, **kwargs)

os.register_at_fork, atexit.register = at_fork, at_exit

import modelsync
import modelsync.runs.decorator, modelsync.runs.lifecycle, modelsync.runs.resume
from modelsync.adapters import background
ours = lambda: [hook for hook in registered if " modelsync." in hook]
at_import = ours()
for name in ("first", "second"):
    with modelsync.start_run(name, repo=sys.argv[1]):
        pass
print(json.dumps([at_import, ours()]))
"""


def test_importing_tracking_registers_no_hook_and_the_first_run_registers_each_once(
    repo: Repo,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HOOKS_REGISTERED, str(repo.work_tree)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    at_import, after_two_runs = json.loads(done.stdout)
    assert at_import == []
    assert sorted(after_two_runs) == [
        "exit modelsync.runs.background.BackgroundWork.flush",
        "exit modelsync.runs.lifecycle._finish_open_runs",
        "fork modelsync.runs.active.adopt_process",
        "fork modelsync.runs.background.BackgroundWork.forget_after_fork",
    ]


FORKED_BEFORE_ANY_RUN = """
import os, sys
import modelsync
assert modelsync.active_run() is None
pid = os.fork()
if pid == 0:
    with modelsync.start_run("child", repo=sys.argv[1]) as run:
        active = modelsync.active_run() is run
    os._exit(0 if active else 1)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_process_forked_before_any_run_started_has_its_own_runs_active(repo: Repo) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORKED_BEFORE_ANY_RUN, str(repo.work_tree)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
