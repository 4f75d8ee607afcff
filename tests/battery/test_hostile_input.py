"""Hostile bytes in a repository are refused in one line and never run: checkpoint manifests
with a pickle in every position of their structure never unpickle without ``trusted=True``
(through any reader: the API, the CLI, export, ``checkpoint_path``); damaged packs and pack
indexes are named by fsck; garbage in ref files and in ``config.toml`` is one line and fsck
reports the refs. (Hostile tree entry names: ``tests/test_hostile_trees.py``.)

The pickles' payload would create a marker directory when unpickled: it never appears, until
the control case loads each manifest with ``trusted=True`` and it does. The hostile inputs
tried are counted in the "reliability battery" section of pytest's summary.
"""

from __future__ import annotations

import os
import pickle
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
from typer.testing import Result

from modelsync.checkpoints import (
    checkpoint_path,
    describe_checkpoint,
    diff_checkpoints,
    export_checkpoint,
    load_checkpoint,
    read_manifest,
    save_checkpoint,
)
from modelsync.errors import ModelSyncError, UnsafeLoad
from modelsync.model.objects import CheckpointManifest, TreeEntry
from modelsync.repo.repository import Repo
from modelsync.store.packindex import ENTRY, IDX_MAGIC

from ._workers import cycle_files
from .conftest import (
    Tally,
    assert_one_line_failure_or_success,
    make_repo,
    modelsync,
    run_worker,
)

TOKEN = "battery-token-0123456789abcdef"
Cli = Callable[..., Result]


def command(cli: Cli, *args: str) -> CompletedProcess[str]:
    """``modelsync args...`` run in this process (an exception escaping it fails the test)."""
    result = cli(*args)
    return CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)



# --------------------------------------------------------------------------- pickles
class _Plant:
    """Unpickled, it creates the directory ``path``: proof that stored code ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.makedirs, (self.path,))


def pickle_node(marker: Path, cls: str = "battery.Plant") -> dict[str, Any]:
    return {"$": "pickle", "class": cls, "hex": pickle.dumps(_Plant(marker)).hex()}


TENSOR = {"$": "tensor", "id": 0}


def positions(marker: Path) -> dict[str, Any]:
    """A checkpoint structure per place a pickle node can sit in one."""
    evil = pickle_node(marker)
    return {
        "the top level": evil,
        "a dict value": {"$": "dict", "items": [["weight", TENSOR], ["evil", evil]]},
        "a dict key": {"$": "dict", "items": [[evil, TENSOR]]},
        "an OrderedDict value": {
            "$": "dict",
            "class": "collections.OrderedDict",
            "items": [["weight", TENSOR], ["evil", evil]],
        },
        "a list item": [TENSOR, evil],
        "a tuple item": {"$": "tuple", "items": [TENSOR, evil]},
        "a set item": {"$": "set", "items": [1, evil]},
        "a frozenset item": {"$": "frozenset", "items": [evil]},
        "a namespace value": {"$": "namespace", "items": [["evil", evil]]},
        "a tuple that is a dict key": {
            "$": "dict",
            "items": [[{"$": "tuple", "items": [evil]}, 1]],
        },
        "deep inside containers": {
            "$": "dict",
            "items": [["a", [{"$": "tuple", "items": [{"$": "dict", "items": [["b", [evil]]]}]}]]],
        },
        "a node naming a safe class": pickle_node(marker, "collections.OrderedDict"),
    }


def hostile_commit(repo: Repo, base: str, structure: Any, branch: str) -> str:
    """A commit like ``base`` whose checkpoint manifest has ``structure``."""
    files = repo.flatten_tree(repo.read_commit(base).tree)
    entry = files["checkpoint"]
    manifest = read_manifest(repo.store, entry.oid)
    hostile = CheckpointManifest(manifest.chunk_size, manifest.tensors, structure)
    oid = repo.store.put(hostile.to_bytes())
    files["checkpoint"] = TreeEntry("checkpoint", oid, entry.size, entry.mode)
    return repo.commit_tree(repo.write_tree(files), "hostile", ref=f"refs/heads/{branch}")


Pickled = tuple[Repo, Path, dict[str, str]]


@pytest.fixture(scope="module")
def pickled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pickled]:
    """A repository with a commit per position of ``positions``: (repo, marker, commits)."""
    torch = pytest.importorskip("torch")
    root = tmp_path_factory.mktemp("pickled")
    marker = root / "the-pickle-ran"
    repo = Repo.open(make_repo(root / "repo"))
    base = save_checkpoint(repo, {"weight": torch.arange(8.0)}, "base", branch="base")
    commits = {
        where: hostile_commit(repo, base, structure, f"hostile-{number}")
        for number, (where, structure) in enumerate(positions(marker).items())
    }
    yield repo, marker, commits
    repo.close()


MUST_REFUSE = {"load_checkpoint", "checkpoint_path", "export as ckpt"}
"""Readers that would have to unpickle to return anything: they raise ``UnsafeLoad``."""


def _in_process_readers(repo: Repo, base: str, out: Path) -> dict[str, Callable[[str], Any]]:
    return {
        "load_checkpoint": lambda rev: load_checkpoint(repo, rev),
        "checkpoint_path": lambda rev: checkpoint_path(rev, repo),
        "export as ckpt": lambda rev: export_checkpoint(repo, rev, out / "ckpt"),
        "export as safetensors": lambda rev: export_checkpoint(
            repo, rev, out / "st", format="safetensors"
        ),
        "describe_checkpoint": lambda rev: describe_checkpoint(repo, rev),
        "diff_checkpoints": lambda rev: diff_checkpoints(repo, base, rev),
    }


@pytest.mark.slow
def test_a_pickle_anywhere_in_a_manifest_never_runs_without_trusted(
    pickled: Pickled, tmp_path: Path, cli: Cli, tally: Tally
) -> None:
    from fastapi.testclient import TestClient

    from modelsync.api import Settings, create_app, get_repo

    repo, marker, commits = pickled
    base = repo.resolve("base")
    app = create_app(repo.work_tree, Settings(token=TOKEN))
    app.dependency_overrides[get_repo] = lambda: repo
    auth = {"Authorization": f"Bearer {TOKEN}"}
    readers = _in_process_readers(repo, base, tmp_path)
    with TestClient(app, headers=auth) as client:
        for where, commit in commits.items():
            for name, read in readers.items():
                refused = False
                try:
                    read(commit)
                except ModelSyncError as exc:  # UnsafeLoad, or a structure it cannot use
                    assert "\n" not in str(exc), f"{name}: {exc}"
                    refused = isinstance(exc, UnsafeLoad)
                assert not marker.exists(), f"{name} unpickled a pickle at {where}"
                assert refused or name not in MUST_REFUSE, f"{name} loaded a pickle at {where}"
                tally.add("pickle positions x readers")
            for url in (
                f"/checkpoints/download?rev={commit}&format=ckpt",
                f"/checkpoints/download?rev={commit}",
                f"/checkpoints/tensors?rev={commit}",
                f"/checkpoints/diff?a={base}&b={commit}",
                f"/show/{commit}",
            ):
                assert client.get(url).status_code < 500, url
                assert not marker.exists(), f"GET {url} unpickled a pickle at {where}"
                tally.add("pickle positions x readers")
            for args in (
                ["show", commit],
                ["diff", base, commit],
                ["checkout", commit, "--to", str(tmp_path / "cli")],
            ):
                done = command(cli, *args, "--repo", str(repo.work_tree))
                assert_one_line_failure_or_success(done, args[0])
                if args[0] == "checkout":
                    assert done.returncode != 0 and "trusted" in done.stderr, done.stderr
                assert not marker.exists(), f"modelsync {args[0]} unpickled one at {where}"
                tally.add("pickle positions x readers")


def test_each_hostile_pickle_would_run_if_trusted(pickled: Pickled) -> None:
    """The control case: each payload is reachable, and runs once the caller trusts it."""
    repo, marker, commits = pickled
    for where, commit in commits.items():
        load_checkpoint(repo, commit, trusted=True)
        assert marker.is_dir(), where
        marker.rmdir()


# --------------------------------------------------------------------------- packs
def _cut(path: Path, size: Callable[[int], int]) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: size(len(data))])


def _flip(path: Path, at: Callable[[int], int]) -> None:
    data = bytearray(path.read_bytes())
    data[at(len(data))] ^= 0x5A
    path.write_bytes(bytes(data))


def _swap_first_entries(path: Path) -> None:
    data = bytearray(path.read_bytes())
    first = slice(len(IDX_MAGIC), len(IDX_MAGIC) + ENTRY.size)
    second = slice(first.stop, first.stop + ENTRY.size)
    data[first], data[second] = data[second], data[first]
    path.write_bytes(bytes(data))


_ENTRY_START = len(IDX_MAGIC)
_OFFSET_FIELD = _ENTRY_START + 32
_LENGTH_FIELD = _OFFSET_FIELD + struct.calcsize("<Q")
PACK_DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "pack cut by one byte": (".pack", lambda p: _cut(p, lambda n: n - 1)),
    "pack cut in half": (".pack", lambda p: _cut(p, lambda n: n // 2)),
    "pack emptied": (".pack", lambda p: _cut(p, lambda n: 0)),
    "pack removed": (".pack", lambda p: p.unlink()),
    "pack's first byte flipped": (".pack", lambda p: _flip(p, lambda n: 0)),
    "a byte flipped mid-pack": (".pack", lambda p: _flip(p, lambda n: n // 2)),
    "pack's last byte flipped": (".pack", lambda p: _flip(p, lambda n: n - 1)),
    "index cut mid-entry": (".idx", lambda p: _cut(p, lambda n: n - 1)),
    "index's last entry cut": (".idx", lambda p: _cut(p, lambda n: n - ENTRY.size)),
    "index cut to its magic": (".idx", lambda p: _cut(p, lambda n: _ENTRY_START)),
    "index emptied": (".idx", lambda p: _cut(p, lambda n: 0)),
    "index magic flipped": (".idx", lambda p: _flip(p, lambda n: 0)),
    "a byte of an id flipped": (".idx", lambda p: _flip(p, lambda n: _ENTRY_START + 5)),
    "an offset flipped": (".idx", lambda p: _flip(p, lambda n: _OFFSET_FIELD)),
    "a length flipped": (".idx", lambda p: _flip(p, lambda n: _LENGTH_FIELD)),
    "index entries swapped": (".idx", _swap_first_entries),
}


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose first commit stores a chunked file and two blobs in one pack."""
    repo = make_repo(tmp_path_factory.mktemp("packed") / "repo")
    assert "big.bin" in cycle_files(0, 3)
    assert run_worker("commits", repo, 0, 4).returncode == 0
    return repo


def largest_pack(repo: Path) -> Path:
    packs = (repo / ".modelsync" / "objects" / "pack").glob("*.pack")
    return max(packs, key=lambda path: path.stat().st_size)


@pytest.mark.parametrize("damage", PACK_DAMAGE, ids=str)
def test_fsck_names_a_damaged_pack_or_pack_index(
    packed: Path, tmp_path: Path, damage: str, cli: Cli, tally: Tally
) -> None:
    repo = Path(shutil.copytree(packed, tmp_path / "repo", symlinks=True))
    pack = largest_pack(repo)
    suffix, spoil = PACK_DAMAGE[damage]
    spoil(pack.with_suffix(suffix))
    done = command(cli, "fsck", "--repo", str(repo))
    assert done.returncode == 1
    assert_one_line_failure_or_success(done, "fsck")
    assert pack.stem in done.stdout, done.stdout
    for args in (["log", "-n", "1"], ["status"], ["checkout", "--force", "HEAD~1"]):
        assert_one_line_failure_or_success(command(cli, *args, "--repo", str(repo)), damage)
    tally.add("damaged packs and indexes")


# --------------------------------------------------------------------------- refs
REF_GARBAGE: dict[str, bytes] = {
    "words": b"garbage\n",
    "nothing": b"",
    "binary": b"\x00\xff\xfe\x80garbage",
    "a missing object's id": b"0" * 64 + b"\n",
    "half an id": b"ab" * 16 + b"\n",
    "a symbolic ref to itself": b"ref: {ref}\n",
    "a symbolic ref out of the repository": b"ref: ../../outside\n",
    "a megabyte": b"f" * (1 << 20),
}
REFS = ["HEAD", "refs/heads/main", "refs/tags/v1", "refs/heads/runs/r1"]


@pytest.fixture(scope="module")
def with_refs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with commits on main, tag v1 and run r1."""
    repo = make_repo(tmp_path_factory.mktemp("refs") / "repo")
    assert run_worker("commits", repo, 0, 2).returncode == 0
    assert run_worker("resume", repo, "r1").returncode == 0
    assert modelsync("tag", "create", "v1", "--repo", str(repo)).returncode == 0
    return repo


@pytest.mark.parametrize("ref", REFS)
@pytest.mark.parametrize("garbage", REF_GARBAGE, ids=str)
def test_garbage_in_a_ref_file_is_one_line_and_fsck_reports_it(
    with_refs: Path, tmp_path: Path, ref: str, garbage: str, cli: Cli, tally: Tally
) -> None:
    repo = Path(shutil.copytree(with_refs, tmp_path / "repo", symlinks=True))
    content = REF_GARBAGE[garbage].replace(b"{ref}", ref.encode())
    (repo / ".modelsync" / ref).write_bytes(content)
    outside = sorted(tmp_path.iterdir())
    for args in (
        ["status"],
        ["log", "-n", "1"],
        ["show", "HEAD"],
        ["branch", "list"],
        ["runs"],
        ["commit", "--allow-empty", "-m", "over garbage"],
        ["gc", "--dry-run"],
    ):
        done = command(cli, *args, "--repo", str(repo))
        assert_one_line_failure_or_success(done, f"{' '.join(args)} over {garbage} in {ref}")
    assert sorted(tmp_path.iterdir()) == outside, "a command wrote outside the repository"
    fsck = command(cli, "fsck", "--repo", str(repo))
    assert fsck.returncode == 1, fsck.stdout
    assert_one_line_failure_or_success(fsck, "fsck")
    assert ref in fsck.stdout, fsck.stdout
    tally.add("garbage refs")


# --------------------------------------------------------------------------- config
CONFIG_GARBAGE: dict[str, bytes] = {
    "binary": b"\x00\xff\xfe\x80",
    "not TOML": b"[[[user\n",
    "a section that is a number": b"user = 3\n",
    "a setting of the wrong type": b'[core]\nlock_timeout = "soon"\n',
    "a negative timeout": b"[core]\nlock_timeout = -1\n",
    "an unknown section": b"[plugins]\nx = 1\n",
    "an unknown setting": b"[user]\nnickname = 'x'\n",
    "deep nesting": b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "a megabyte of one line": b"# " + b"x" * (1 << 20) + b"\n[user\n",
}


@pytest.mark.parametrize("garbage", CONFIG_GARBAGE, ids=str)
def test_garbage_in_the_config_is_one_line(
    with_refs: Path, tmp_path: Path, garbage: str, cli: Cli, tally: Tally
) -> None:
    repo = Path(shutil.copytree(with_refs, tmp_path / "repo", symlinks=True))
    (repo / ".modelsync" / "config.toml").write_bytes(CONFIG_GARBAGE[garbage])
    for args in (["status"], ["log"], ["commit", "--allow-empty", "-m", "x"], ["fsck"]):
        done = command(cli, *args, "--repo", str(repo))
        assert done.returncode != 0, f"{args[0]} accepted {garbage}"
        assert_one_line_failure_or_success(done, f"{args[0]} over {garbage}")
        assert "config" in done.stderr, done.stderr
    tally.add("garbage configs")
