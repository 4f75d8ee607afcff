"""Loading never runs code stored in the repository, and damaged data is named, not half-loaded."""

from __future__ import annotations

import pathlib
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from modelsync.checkpoints import (  # noqa: E402
    describe_checkpoint,
    diff_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from modelsync.cli.main import app  # noqa: E402
from modelsync.errors import ObjectCorrupt, ObjectMissing, UnsafeLoad  # noqa: E402
from modelsync.model.objects import (  # noqa: E402
    FILE_MODE,
    CheckpointManifest,
    TensorRecord,
    TreeEntry,
)
from modelsync.repo.repository import Repo  # noqa: E402


class TouchOnUnpickle:
    """Unpickling this creates a file: the sentinel that proves code ran."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (pathlib.Path(self.sentinel),))


def commit_manifest(repo: Repo, manifest: CheckpointManifest, branch: str) -> str:
    oid = repo.store.put(manifest.to_bytes())
    tree = repo.write_tree({"checkpoint": TreeEntry("checkpoint", oid, manifest.nbytes, FILE_MODE)})
    return repo.commit_tree(tree, "crafted", ref=f"refs/heads/{branch}")


def crafted_checkpoint(repo: Repo, sentinel: Path, branch: str = "runs/evil") -> str:
    """A real checkpoint whose structure was edited by hand to carry a pickle payload."""
    honest = save_checkpoint(repo, {"w": torch.ones(4)}, branch="runs/honest")
    info = describe_checkpoint(repo, honest)
    payload = pickle.dumps(TouchOnUnpickle(sentinel))
    structure = {
        "$": "dict",
        "items": [
            ["w", {"$": "tensor", "id": 0}],
            ["hyper_parameters", {"$": "pickle", "class": "builtins.dict", "hex": payload.hex()}],
        ],
    }
    manifest = CheckpointManifest(info.manifest.chunk_size, info.manifest.tensors, structure)
    return commit_manifest(repo, manifest, branch)


def invoke(repo: Repo, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--repo", str(repo.work_tree)])


def test_a_crafted_pickle_payload_is_never_executed(repo: Repo, tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    evil = crafted_checkpoint(repo, sentinel)

    with pytest.raises(UnsafeLoad, match=r"pickled builtins\.dict at hyper_parameters"):
        load_checkpoint(repo, evil)
    assert describe_checkpoint(repo, evil).pickled == [("hyper_parameters", "builtins.dict")]
    assert [c.status for c in diff_checkpoints(repo, "runs/honest", evil)] == ["unchanged"]
    assert repo.fsck().ok

    assert invoke(repo, "show", evil).exit_code == 0
    assert invoke(repo, "show", evil, "--json").exit_code == 0
    assert invoke(repo, "diff", "runs/honest", evil).exit_code == 0
    assert invoke(repo, "fsck").exit_code == 0
    refused = invoke(repo, "checkout", evil, "--to", str(tmp_path / "out"))
    assert refused.exit_code == 1
    assert "pickled builtins.dict" in refused.output and "--trusted" in refused.output
    weights_only = invoke(
        repo, "checkout", evil, "--to", str(tmp_path / "st"), "--format", "safetensors"
    )
    assert weights_only.exit_code == 0
    assert not sentinel.exists()

    # The payload was live: a caller who opts in runs it.
    load_checkpoint(repo, evil, trusted=True)
    assert sentinel.exists()


def test_a_dict_class_outside_the_allowlist_is_never_imported(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = tmp_path / "imported"
    (tmp_path / "evil_module.py").write_text(
        f"import pathlib\npathlib.Path({str(sentinel)!r}).touch()\nclass Box(dict): pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    structure = {"$": "dict", "class": "evil_module.Box", "items": []}
    evil = commit_manifest(repo, CheckpointManifest(64, (), structure), "runs/import")
    with pytest.raises(ObjectCorrupt, match=r"evil_module\.Box"):
        load_checkpoint(repo, evil)
    assert not sentinel.exists()
    assert "evil_module" not in sys.modules


@pytest.mark.parametrize(
    ("record", "structure", "problem"),
    [
        (TensorRecord("w", "load", (1,), 4, ()), None, "unknown tensor dtype 'load'"),
        (TensorRecord("w", "float32", (2,), 4, ()), None, "size does not match"),
        (TensorRecord("w", "float32", (1,), 4, ()), None, "wrong number of chunks"),
        (None, {"$": "tensor", "id": 3}, "tensor index 3 out of range"),
        (None, {"$": "exec", "code": "print()"}, "unknown checkpoint structure node 'exec'"),
        (None, {"plain": "object"}, "unknown checkpoint structure node None"),
    ],
)
def test_a_malformed_manifest_is_reported_as_corrupt(
    repo: Repo, record: TensorRecord | None, structure: Any, problem: str
) -> None:
    manifest = CheckpointManifest(64, (record,) if record else (), structure)
    bad = commit_manifest(repo, manifest, "runs/bad")
    with pytest.raises(ObjectCorrupt, match=problem):
        load_checkpoint(repo, bad)


def checkpoint_with_chunks(repo: Repo) -> tuple[str, str]:
    weights = torch.arange(1000, dtype=torch.float32)
    commit = save_checkpoint(repo, {"layer.weight": weights, "layer.bias": torch.zeros(3)})
    (chunk,) = describe_checkpoint(repo, commit).tensors[0].chunks
    return commit, chunk


def test_a_missing_chunk_is_named_with_its_tensor(repo: Repo) -> None:
    commit, chunk = checkpoint_with_chunks(repo)
    repo.store.remove({chunk})
    with pytest.raises(ObjectMissing) as caught:
        load_checkpoint(repo, commit)
    assert chunk in str(caught.value)
    assert "tensor 'layer.weight'" in str(caught.value)
    assert caught.value.oid == chunk


def test_a_corrupt_chunk_is_named_with_its_tensor(repo: Repo) -> None:
    commit, chunk = checkpoint_with_chunks(repo)
    repo.store.remove({chunk})
    loose = repo.control_dir / "objects" / chunk[:2] / chunk[2:]
    loose.parent.mkdir(parents=True, exist_ok=True)
    loose.write_bytes(b"\x00" + bytes(4000))  # raw codec, right size, wrong bytes
    with pytest.raises(ObjectCorrupt) as caught:
        load_checkpoint(repo, commit)
    assert chunk in str(caught.value)
    assert "tensor 'layer.weight'" in str(caught.value)
    result = invoke(repo, "checkout", commit, "--to", str(repo.work_tree / "out"))
    assert result.exit_code == 1
    assert "layer.weight" in result.output
    assert not (repo.work_tree / "out" / "checkpoint.ckpt").exists()
