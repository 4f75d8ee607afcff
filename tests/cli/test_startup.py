"""The command starts lean: each command's module loads when that command runs."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import typer

import modelsync
from modelsync.cli.main import COMMANDS
from modelsync.repo.repository import Repo


def test_every_command_a_module_registers_is_reachable() -> None:
    for module in sorted({m for modules in COMMANDS.values() for m in modules}):
        holder = typer.Typer()
        importlib.import_module(f"modelsync.cli.commands.{module}").register(holder)
        names = {
            c.name or (c.callback.__name__ if c.callback else "")
            for c in holder.registered_commands
        }
        names |= {g.typer_instance.info.name for g in holder.registered_groups if g.typer_instance}
        assert all(module in COMMANDS[name] for name in names), (module, names)


def _modules_loaded_by(*args: str) -> set[str]:
    script = (
        "import sys, json\n"
        "from modelsync.cli.main import app\n"
        "try:\n"
        f"    app({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = [m for m in sys.modules if m.startswith(('modelsync', 'numpy', 'pydantic'))]\n"
        "print(json.dumps(sorted(names)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_listing_runs_loads_neither_tracking_nor_checkpoints_nor_other_commands(
    repo: Repo, tmp_path: Path
) -> None:
    loaded = _modules_loaded_by("runs", "-C", str(repo.work_tree))
    assert "modelsync.cli.commands.runs" in loaded
    unwanted = {
        "numpy",
        "pydantic",
        "modelsync.model.metadata",
        "modelsync.runs.run",
        "modelsync.runs.start",
        "modelsync.runs.active",
        "modelsync.runs.lifecycle",
        "modelsync.checkpoints",
        "modelsync.runs.environment",
        "modelsync.cli.commands.staging",
        "modelsync.cli.commands.metrics",
        "modelsync.runs.series",
    }
    assert not loaded & unwanted


def test_reading_history_and_runs_starts_without_pydantic(repo: Repo) -> None:
    """Listing runs and history reads the catalog with ``json``: pydantic's start-up (a
    quarter of a second) is paid by commands that write or validate, not by these."""
    with modelsync.start_run("quick", repo=repo, params={"lr": 0.1}) as run:
        run.log_metrics({"loss": 0.5})
        run.checkpoint({"w": [1.0]})
    for command in (
        ["runs"],
        ["runs", "--where", "metrics.loss < 1"],
        ["log"],
        ["log", "--oneline"],
    ):
        loaded = _modules_loaded_by(*command, "-C", str(repo.work_tree))
        assert "pydantic" not in loaded, command


def _run_main(*args: str) -> subprocess.CompletedProcess[str]:
    """``modelsync ARGS`` in a fresh process, with a handler registered to run at exit."""
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('torn down', file=sys.stderr))\n"
        "from modelsync.cli.main import main\n"
        f"sys.argv = ['modelsync', *{list(args)!r}]\n"
        "main()\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)


def test_a_read_command_leaves_without_tearing_the_interpreter_down(repo: Repo) -> None:
    (repo.work_tree / "a.txt").write_text("a")
    repo.add(["a.txt"])
    oid = repo.commit("first")
    where = ["-C", str(repo.work_tree)]
    done = _run_main("log", "--oneline", *where)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(oid[:12]) and done.stdout.endswith("first\n")
    failed = _run_main("log", "no-such-rev", *where)
    assert failed.returncode == 1
    assert failed.stderr == "error: unknown revision 'no-such-rev'\n"
    # A command that writes leaves the usual way: what is registered to run at exit runs.
    written = _run_main("tag", "create", "v1", *where)
    assert (written.returncode, written.stderr) == (0, "torn down\n")
