"""Every benchmark starts from the repository root or from ``benchmarks/``: its imports
(``_common``, the package, the peers' libraries) resolve either way. ``--help`` stops each one
before it measures anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("bench_*.py")))
@pytest.mark.parametrize("where", ["root", "benchmarks"])
def test_a_benchmark_starts_from_the_root_or_its_own_directory(script: str, where: str) -> None:
    cwd = BENCHMARKS.parent if where == "root" else BENCHMARKS
    path = Path("benchmarks", script) if where == "root" else Path(script)
    done = subprocess.run(
        [sys.executable, str(path), "--help"], cwd=cwd, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
