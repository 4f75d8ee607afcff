"""The command starts lean: each command's module loads when that command runs."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import typer

from modelsync.cli.main import COMMANDS
from modelsync.repo import Repo


def test_every_command_a_module_registers_is_reachable() -> None:
    for module in sorted({m for modules in COMMANDS.values() for m in modules}):
        holder = typer.Typer()
        importlib.import_module(f"modelsync.cli.{module}").register(holder)
        names = {
            c.name or (c.callback.__name__ if c.callback else "")
            for c in holder.registered_commands
        }
        names |= {g.typer_instance.info.name for g in holder.registered_groups if g.typer_instance}
        assert all(module in COMMANDS[name] for name in names), (module, names)


def test_listing_runs_loads_neither_tracking_nor_checkpoints_nor_other_commands(
    repo: Repo, tmp_path: Path
) -> None:
    script = (
        "import sys, json\n"
        "from modelsync.cli.main import app\n"
        "try:\n"
        f"    app(['runs', '-C', {str(repo.work_tree)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = [m for m in sys.modules if m.startswith(('modelsync', 'numpy'))]\n"
        "print(json.dumps(sorted(names)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "modelsync.cli.runs" in loaded
    unwanted = {
        "numpy",
        "modelsync.tracking",
        "modelsync.checkpoint",
        "modelsync.environment",
        "modelsync.cli.staging",
        "modelsync.cli.metrics",
        "modelsync.series",
    }
    assert not loaded & unwanted
