"""Helpers shared by the benchmarks: timing, sizes, and the side-by-side table."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table


def timed(action: Callable[[], object]) -> float:
    """Wall seconds of ``action``, after flushing dirty pages so runs don't pay for each other."""
    os.sync()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(command: list[str], cwd: Path | None = None) -> None:
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def mib(n: float) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
