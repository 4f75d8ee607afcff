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


def bench(workdir: Path, size: int) -> None:
    source = workdir / "model.bin"
    make_file(source, size)

    copy_dest = workdir / "copy.bin"
    t_cp = timed(lambda: (shutil.copyfile(source, copy_dest), run(["sync"])))
    copy_dest.unlink()

    repo_dir = workdir / "repo"
    repo = Repo.init(repo_dir)
    shutil.copyfile(source, repo_dir / "model.bin")

    def add_commit() -> None:
        repo.add([str(repo_dir / "model.bin")])
        with contextlib.suppress(NothingToCommit):
            repo.commit("model")

    t_first = timed(add_commit)
    t_again = timed(add_commit)

    rows = [
        ["cp && sync", f"{t_cp:.2f}", "1.00x", "-"],
        ["modelsync add + commit", f"{t_first:.2f}", f"{t_cp / t_first:.2f}x", mib(size)],
        ["modelsync again (unchanged)", f"{t_again:.4f}", f"{t_again / t_first:.2%} of first", "-"],
    ]
    dvc = shutil.which("dvc")
    if dvc:
        dvc_dir = workdir / "dvc"
        dvc_dir.mkdir()
        run(["git", "init", "-q"], cwd=dvc_dir)
        run([dvc, "init", "-q"], cwd=dvc_dir)
        shutil.copyfile(source, dvc_dir / "model.bin")
        t_dvc = timed(lambda: run([dvc, "add", "-q", "model.bin"], cwd=dvc_dir))
        rows.append(["dvc add", f"{t_dvc:.2f}", f"{t_cp / t_dvc:.2f}x", "-"])
        rows.append(["modelsync vs dvc add", "-", f"{t_dvc / t_first:.2f}x faster", "-"])
    else:
        rows.append(["dvc add", "not installed", "-", "-"])
    print_table(
        f"add + commit of a {mib(size)} file (speed relative to cp && sync)",
        ["what", "seconds", "speed ratio", "size"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        bench(Path(tmp), args.size_mib << 20)


if __name__ == "__main__":
    main()
