"""`modelsync add` + `commit` of a large file, side by side with `cp && sync` and `dvc add`.

    python benchmarks/bench_add.py [--size-mib 1024] [--dir /tmp/bench]

Prints the time of each, the speed ratio against `cp FILE DEST && sync` (target: at least 0.5x),
against `dvc add` when the `dvc` command is on PATH (target: faster), and the time of committing
the unchanged file again against the first commit (target: under 5%, thanks to the stat cache).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from _common import mib, print_table, run, timed

from modelsync import Repo
from modelsync.errors import NothingToCommit


def make_file(path: Path, size: int) -> None:
    block = 64 << 20
    with open(path, "wb") as out:
        written = 0
        while written < size:
            n = min(block, size - written)
            out.write(os.urandom(n))
            written += n


def _modelsync_round(workdir: Path, source: Path, round_no: int) -> tuple[float, float]:
    """One fresh repository: (first add + commit, the same again with nothing changed)."""
    repo_dir = workdir / f"repo-{round_no}"
    repo = Repo.init(repo_dir)
    shutil.copyfile(source, repo_dir / "model.bin")
    # The copy above is set-up, not part of what is timed: written back first, so that its
    # gigabyte of dirty pages does not queue at the disk ahead of the pack the add writes.
    os.sync()

    def add_commit() -> None:
        repo.add([str(repo_dir / "model.bin")])
        with contextlib.suppress(NothingToCommit):
            repo.commit("model")

    first, again = timed(add_commit), timed(add_commit)
    repo.close()
    shutil.rmtree(repo_dir)
    return first, again


def _cp_round(workdir: Path, source: Path) -> float:
    dest = workdir / "copy.bin"
    os.sync()  # as for modelsync's round: nothing dirty left by what came before
    seconds = timed(lambda: (shutil.copyfile(source, dest), run(["sync"])))
    dest.unlink()
    return seconds


def bench(workdir: Path, size: int, rounds: int) -> None:
    source = workdir / "model.bin"
    make_file(source, size)
    # The disk here is shared and noisy: alternate the two and compare medians.
    cp_times, first_times, again_times = [], [], []
    for round_no in range(rounds):
        cp_times.append(_cp_round(workdir, source))
        first, again = _modelsync_round(workdir, source, round_no)
        first_times.append(first)
        again_times.append(again)
    t_cp, t_first, t_again = (statistics.median(t) for t in (cp_times, first_times, again_times))

    rows = [
        ["cp && sync", f"{t_cp:.2f}", "1.00x", _spread(cp_times)],
        ["modelsync add + commit", f"{t_first:.2f}", f"{t_cp / t_first:.2f}x",
         _spread(first_times)],
        ["modelsync again (unchanged)", f"{t_again:.4f}", f"{t_again / t_first:.2%} of first", "-"],
    ]
    dvc = shutil.which("dvc")
    if dvc:
        dvc_dir = workdir / "dvc"
        dvc_dir.mkdir()
        run(["git", "init", "-q"], cwd=dvc_dir)
        run([dvc, "init", "-q"], cwd=dvc_dir)
        shutil.copyfile(source, dvc_dir / "model.bin")
        os.sync()  # the same start as ours
        t_dvc = timed(lambda: run([dvc, "add", "-q", "model.bin"], cwd=dvc_dir))
        rows.append(["dvc add", f"{t_dvc:.2f}", f"{t_cp / t_dvc:.2f}x", "1 round"])
        rows.append(["modelsync vs dvc add", "-", f"{t_dvc / t_first:.2f}x faster", "-"])
    else:
        rows.append(["dvc add", "not installed", "-", "-"])
    print_table(
        f"add + commit of a {mib(size)} file, median of {rounds} (speed relative to cp && sync)",
        ["what", "seconds", "speed ratio", "all rounds"],
        rows,
    )


def _spread(times: list[float]) -> str:
    return " ".join(f"{t:.2f}" for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        bench(Path(tmp), args.size_mib << 20, args.rounds)


if __name__ == "__main__":
    main()
