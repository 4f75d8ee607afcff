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


def _prepare_repository(workdir: Path, source: Path, round_no: int) -> Repo:
    """A fresh repository holding a copy of ``source`` as ``model.bin``, written back to disk.

    Made before the round's ``cp``, not between it and the add: the copy's gigabyte of fresh
    page-cache pages is set-up. On this VM, pages the host has taken back cost several times
    more to write into than pages freed a moment ago; made in this order, ``cp`` and the add
    each write into what the step before them freed (``cp`` after the previous round's clean-up,
    the add after ``cp``'s file is deleted), and neither queues behind the set-up's write-back.
    """
    repo_dir = workdir / f"repo-{round_no}"
    repo = Repo.init(repo_dir)
    shutil.copyfile(source, repo_dir / "model.bin")
    os.sync()
    return repo


def _modelsync_round(repo: Repo) -> tuple[float, float]:
    """(first add + commit, the same again with nothing changed); then the repository goes."""
    model = repo.work_tree / "model.bin"

    def add_commit() -> None:
        repo.add([str(model)])
        with contextlib.suppress(NothingToCommit):
            repo.commit("model")

    first, again = timed(add_commit), timed(add_commit)
    repo.close()
    shutil.rmtree(repo.work_tree)
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
        repo = _prepare_repository(workdir, source, round_no)
        cp_times.append(_cp_round(workdir, source))
        first, again = _modelsync_round(repo)
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
