"""Writers that the battery runs in worker processes, and the content they write.

Run as ``python _workers.py <scenario> ...`` under the hooks of ``_io_hooks`` (or forked from
``serve``); imported by the tests for ``cycle_files``/``gc_files``/``checkpoint_state``, which
say what an acknowledged commit must hold. A writer prints ``commit <id> <generation> <cycle>``
once the call that made a commit has returned, so the test knows what was acknowledged.

Writers of ``<repo> <generation> <cycles>``:

- ``commits``: ``modelsync add`` and ``modelsync commit`` (the CLI, in this process), per cycle;
- ``gc``: a commit that leaves garbage beside kept objects in one pack, then ``gc --prune-now``
  (``garbage``: the same without the gc);
- ``checkpoints``: a run (``start_run``, resumed by later generations) that logs and commits a
  small torch state dict per cycle;
- ``compression``: the same run writing its checkpoints raw (``compression="later"``), with the
  store's background compressor on and a compression pass after each commit.

Others: ``cli <args...>`` (one ``modelsync`` command), ``resume <repo> <run>`` (continue a run
and finish it), ``faulty-checkpoint <repo> <generation> <hooks>`` and ``lenient-checkpoint
<repo> <generation>`` (lenient runs, reporting as JSON), and ``serve`` (runs the others in
children forked from a process that imported torch once).
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

CHUNKED_EVERY = 4
"""Every this many cycles, a cycle also rewrites a file large enough to be stored in chunks."""
CHECKPOINT_RUN = "crash"
COMPRESSION_RUN = "squeeze"


def _payload(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def cycle_files(generation: int, cycle: int) -> dict[str, bytes]:
    """What cycle ``cycle`` of generation ``generation`` of ``commits`` writes and commits."""
    seed = f"{generation}-{cycle}"
    rng = random.Random(seed)
    files = {
        f"data/g{generation}/c{cycle}.bin": _payload(seed, rng.randrange(1, 96 << 10)),
        "shared.txt": f"generation {generation} cycle {cycle}\n".encode() * rng.randrange(1, 64),
    }
    if cycle % CHUNKED_EVERY == CHUNKED_EVERY - 1:
        files["big.bin"] = _payload(seed + "-big", (5 << 20) // 2)
    return files


def gc_files(generation: int, cycle: int) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """What cycle ``cycle`` of ``gc`` stages first, and what it stages over that and commits:
    ``kept.bin`` shares the first pack with the staged ``replaced.bin`` that gc then removes."""
    seed = f"gc-{generation}-{cycle}"
    first = {"kept.bin": _payload(seed + "-kept", 48 << 10), "replaced.bin": _payload(seed, 40)}
    return first, {"replaced.bin": _payload(seed + "-new", 48 << 10)}


def checkpoint_state(generation: int, cycle: int, numel: int = 4096) -> dict[str, Any]:
    """The state dict that cycle ``cycle`` of generation ``generation`` checkpoints."""
    import torch

    generator = torch.Generator().manual_seed(generation * 1000 + cycle)
    return {
        "weight": torch.randn(numel, generator=generator) * 0.02,
        "bias": torch.randn(16, generator=generator),
        "steps": torch.tensor([generation, cycle]),
    }


def step_of(generation: int, cycle: int) -> int:
    return generation * 1000 + cycle


def acknowledge(oid: str, generation: int, cycle: int) -> None:
    print(f"commit {oid} {generation} {cycle}", flush=True)


# ------------------------------------------------------------------------------ the CLI
def cli(*args: str) -> int:
    """Run one ``modelsync`` command in this process, as the console script does."""
    from modelsync.cli.main import main

    sys.argv = ["modelsync", *args]
    try:
        main()
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


def _cli_or_exit(*args: str) -> None:
    code = cli(*args)
    if code:
        sys.exit(code)


def _write(repo: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _head(repo: Path) -> str:
    from modelsync.repo.repository import Repo

    with Repo.open(repo) as opened:
        head = opened.head_commit()
    assert head is not None
    return head


def commits(repo: Path, generation: int, cycles: int) -> None:
    for cycle in range(cycles):
        files = cycle_files(generation, cycle)
        _write(repo, files)
        _cli_or_exit("add", "--repo", str(repo), *(str(repo / rel) for rel in files))
        _cli_or_exit("commit", "--repo", str(repo), "-m", f"generation {generation} cycle {cycle}")
        acknowledge(_head(repo), generation, cycle)


def gc(repo: Path, generation: int, cycles: int, *, prune: bool = True) -> None:
    for cycle in range(cycles):
        first, second = gc_files(generation, cycle)
        for files in (first, second):
            _write(repo, files)
            _cli_or_exit("add", "--repo", str(repo), *(str(repo / rel) for rel in files))
        _cli_or_exit("commit", "--repo", str(repo), "-m", f"generation {generation} cycle {cycle}")
        acknowledge(_head(repo), generation, cycle)
        if prune:
            _cli_or_exit("gc", "--prune-now", "--repo", str(repo))


# ------------------------------------------------------------------------------ runs
def _start(repo_path: Path, repo: Any, name: str, *, strict: bool = True) -> Any:
    """Start run ``name`` in ``repo`` (a Repo, or None: start_run opens ``repo_path``), or
    resume it if it exists."""
    from modelsync.runs.start import start_run

    resume = (repo_path / ".modelsync" / "refs" / "heads" / "runs" / name).is_file()
    where = repo_path if repo is None else repo
    return start_run(name, repo=where, resume=resume, params={"lr": 0.1}, strict=strict)


def checkpoints(repo_path: Path, generation: int, cycles: int, *, later: bool = False) -> None:
    from modelsync.checkpoints import writer_for
    from modelsync.repo.repository import Repo

    repo = Repo.open(repo_path)
    if later:
        writer_for(repo).compression = "later"
    run = _start(repo_path, repo, COMPRESSION_RUN if later else CHECKPOINT_RUN)
    for cycle in range(cycles):
        step = step_of(generation, cycle)
        run.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
        oid = run.checkpoint(checkpoint_state(generation, cycle), step=step)
        acknowledge(oid, generation, cycle)
        if later:
            repo.store.compress_deferred()
    run.finish()
    repo.close()


def resume(repo_path: Path, name: str) -> None:
    """Continue run ``name`` (start it if it does not exist yet) and finish it at once."""
    from modelsync.repo.repository import Repo

    with Repo.open(repo_path) as repo:
        run = _start(repo_path, repo, name)
        oid = run.finish()
    print(f"finished {oid}", flush=True)


def faulty_checkpoint(repo_path: Path, generation: int, hooks: dict[str, str]) -> None:
    """One lenient checkpoint commit under ``hooks`` (``_io_hooks`` settings), then one without:
    prints, as JSON, what each returned and warned, and where the run's branch was after it."""
    import warnings

    import _io_hooks

    from modelsync.repo.repository import Repo

    repo = Repo.open(repo_path)
    run = _start(repo_path, repo, CHECKPOINT_RUN, strict=False)
    for cycle, settings in enumerate((hooks, {})):
        before = repo.refs.resolve(run.ref)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _io_hooks.configure(settings)
            try:
                oid = run.checkpoint(checkpoint_state(generation, cycle), step=cycle)
                error = None
            except Exception as exc:  # reported to the test, which says what was expected
                oid, error = None, f"{type(exc).__name__}: {exc}"
            counts = _io_hooks.counts()
            _io_hooks.configure({})
        result = {
            "cycle": cycle,
            "commit": oid,
            "error": error,
            "warnings": [str(w.message) for w in caught],
            "before": before,
            "after": repo.refs.resolve(run.ref),
            **counts,
        }
        print(json.dumps(result), flush=True)
    run.finish()
    repo.close()


def lenient_checkpoint(repo_path: Path, generation: int) -> None:
    """A lenient run, as training on a full disk would start it: start, checkpoint, finish.
    Prints, as JSON, the commit, what it warned, and what it raised (it should not)."""
    import warnings

    oid = error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            run = _start(repo_path, None, CHECKPOINT_RUN, strict=False)
            oid = run.checkpoint(checkpoint_state(generation, 0), step=step_of(generation, 0))
            run.finish()
        except Exception as exc:  # reported to the test, which says it must not happen
            error = f"{type(exc).__name__}: {exc}"
    result = {"commit": oid, "error": error, "warnings": [str(w.message) for w in caught]}
    print(json.dumps(result), flush=True)


# ------------------------------------------------------------------------------ running
def dispatch(scenario: str, args: list[str]) -> int:
    if scenario == "cli":
        return cli(*args)
    if scenario == "resume":
        resume(Path(args[0]), args[1])
        return 0
    if scenario == "lenient-checkpoint":
        lenient_checkpoint(Path(args[0]), int(args[1]))
        return 0
    if scenario == "faulty-checkpoint":
        faulty_checkpoint(Path(args[0]), int(args[1]), json.loads(args[2]))
        return 0
    repo, generation, cycles = Path(args[0]), int(args[1]), int(args[2])
    if scenario == "commits":
        commits(repo, generation, cycles)
    elif scenario == "gc":
        gc(repo, generation, cycles)
    elif scenario == "garbage":
        gc(repo, generation, cycles, prune=False)
    elif scenario == "checkpoints":
        checkpoints(repo, generation, cycles)
    elif scenario == "compression":
        checkpoints(repo, generation, cycles, later=True)
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    return 0


def serve() -> None:
    """Run requests, one JSON line each on stdin, each in a child forked from this process
    (which has imported torch already, which a new process would spend seconds on).

    A request is ``{"argv": [scenario, ...], "settings": {...}}`` (``_io_hooks`` settings); the
    answer, one JSON line on stdout, is ``{"returncode": ..., "stdout": ..., "stderr": ...}``
    (returncode -9: killed). The child writes into pipes, which no file size limit applies to.
    """
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pipes = [os.pipe(), os.pipe()]
        pid = os.fork()
        if pid == 0:
            for fd, (_, write_end) in zip((1, 2), pipes, strict=True):
                os.dup2(write_end, fd)
            _serve_in_child(request)
        outputs: list[str] = ["", ""]
        readers = []
        for slot, (read_end, write_end) in enumerate(pipes):
            os.close(write_end)
            reader = threading.Thread(target=_read_all, args=(read_end, outputs, slot))
            reader.start()
            readers.append(reader)
        for reader in readers:  # joined before the next fork: no thread is forked
            reader.join()
        _, status = os.waitpid(pid, 0)
        answer = {
            "returncode": os.waitstatus_to_exitcode(status),
            "stdout": outputs[0],
            "stderr": outputs[1],
        }
        print(json.dumps(answer), flush=True)


def _read_all(fd: int, outputs: list[str], slot: int) -> None:
    with os.fdopen(fd, "rb") as pipe:
        outputs[slot] = pipe.read().decode("utf-8", "replace")


def _serve_in_child(request: dict[str, Any]) -> None:
    import _io_hooks

    code = 1
    try:
        _io_hooks.configure(request["settings"])
        scenario, *args = request["argv"]
        code = dispatch(scenario, args)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        _io_hooks.write_report()
        os._exit(code)


def main(argv: list[str]) -> int:
    import _io_hooks

    scenario, *args = argv
    if scenario in ("serve", "checkpoints", "compression"):
        import torch  # noqa: F401 - imported before the hooks: its import is not the writer's

        import modelsync.runs.start  # noqa: F401
    _io_hooks.install()
    if scenario == "serve":
        serve()
        return 0
    return dispatch(scenario, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
