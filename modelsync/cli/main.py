"""The ``modelsync`` command: one module per noun or verb, wired together here.

A command's module is imported when that command runs (or when ``--help`` lists them all):
starting ``modelsync runs`` costs the imports and the Typer set-up of ``runs`` alone, not of
twenty other commands. ``COMMANDS`` names, for each command, the modules whose ``register``
adds it (and, for ``show``, the sections other modules add to it).
"""

from __future__ import annotations

import functools
import gc
import importlib
import os
import signal
import sys
from typing import Annotated, Any

# A command is a short process that builds many small objects and few reference cycles: the
# imports, then 10,000 commits for ``log``. Python's default starts a cycle search every 700
# new objects, which costs such a command tens of milliseconds; one every 50,000 still bounds
# what cyclic garbage can pile up in a long ``serve``.
gc.set_threshold(50_000, 20, 10)

import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from .. import __version__  # noqa: E402

COMMANDS: dict[str, tuple[str, ...]] = {
    "init": ("core",),
    "add": ("staging",),
    "rm": ("staging",),
    "status": ("staging",),
    "commit": ("staging",),
    "log": ("history",),
    "show": ("history", "runview", "tensors"),
    "runs": ("runs",),
    "compare": ("compare",),
    "metrics": ("metrics",),
    "diff": ("diff",),
    "checkout": ("checkout",),
    "reset": ("checkout",),
    "branch": ("branch",),
    "tag": ("tag",),
    "fsck": ("maintenance",),
    "gc": ("maintenance",),
    "reindex": ("maintenance",),
    "schema": ("schema",),
    "serve": ("serve",),
}


class _LazyCommands(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        modules = COMMANDS.get(cmd_name)
        return None if modules is None else _command(cmd_name, modules)


@functools.cache
def _command(name: str, modules: tuple[str, ...]) -> Any:
    holder = typer.Typer()
    for module in modules:
        importlib.import_module(f"{__package__}.{module}").register(holder)
    return typer.main.get_group(holder).commands[name]


app = typer.Typer(
    name="modelsync",
    cls=_LazyCommands,
    help="Version control for machine-learning training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelsync {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Version control for machine-learning training: runs, checkpoints, params, metrics."""


def main() -> None:
    try:
        app()
    except BrokenPipeError:
        # The reader went away (`modelsync log | head`): stop quietly, as git does, and keep
        # Python from complaining again while it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + signal.SIGPIPE)
