"""Materialising a stored checkpoint as a standard file: a ``.ckpt`` or safetensors."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..errors import UsageError
from ..fileio import atomic_output, fsync_dir
from .reader import checkpoint_id, load_checkpoint, load_tensors, read_manifest
from .structure import refuse_pickles, tensor_paths

if TYPE_CHECKING:
    import torch

    from ..repo import Repo

ExportFormat = Literal["ckpt", "safetensors"]
EXPORT_NAMES: dict[str, str] = {"ckpt": "checkpoint.ckpt", "safetensors": "model.safetensors"}
WEIGHTS_KEY = "state_dict"
EXPORT_CACHE = "exports"


def export_checkpoint(
    repo: Repo,
    rev: str,
    directory: str | os.PathLike[str],
    *,
    format: ExportFormat = "ckpt",
    trusted: bool = False,
) -> Path:
    """Write the checkpoint ``rev`` names into ``directory``; returns the file written.

    ``ckpt``: the whole checkpoint through ``torch.save`` (``checkpoint.ckpt``), which
    ``torch.load`` and Lightning's ``Trainer.fit(ckpt_path=...)`` read. ``safetensors``: the
    weights (a Lightning checkpoint's ``state_dict``, else every tensor, named by its path) as
    ``model.safetensors``; tied tensors are written under each of their names.
    """
    if format not in EXPORT_NAMES:
        raise UsageError(f"unknown export format {format!r}; use ckpt or safetensors")
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a directory")
    target.mkdir(parents=True, exist_ok=True)
    path = target / EXPORT_NAMES[format]
    if format == "ckpt":
        _write_ckpt(repo, rev, path, trusted=trusted)
    else:
        _write_safetensors(repo, rev, path)
    return path


def checkpoint_path(
    rev: str,
    repo: Repo | str | os.PathLike[str] | None = None,
    directory: str | os.PathLike[str] | None = None,
    *,
    trusted: bool = False,
) -> Path:
    """A ``.ckpt`` file of the checkpoint ``rev`` names (``runs/foo@best``, ``foo``, an id).

    Give it to ``Trainer.fit(ckpt_path=...)`` or ``torch.load``. Without ``directory`` the
    file is written once per commit into the repository's export cache
    (``.modelsync/exports/<commit>/checkpoint.ckpt``) and reused by later calls.
    """
    from ..repo import Repo

    if isinstance(repo, Repo):
        return _checkpoint_file(repo, rev, directory, trusted=trusted)
    with Repo.open(repo) as opened:
        return _checkpoint_file(opened, rev, directory, trusted=trusted)


def _checkpoint_file(
    repo: Repo, rev: str, directory: str | os.PathLike[str] | None, *, trusted: bool
) -> Path:
    commit, manifest_id = checkpoint_id(repo, rev)
    if directory is not None:
        return export_checkpoint(repo, commit, directory, trusted=trusted)
    cached = repo.control_dir / EXPORT_CACHE / commit / EXPORT_NAMES["ckpt"]
    if not cached.is_file():
        return export_checkpoint(repo, commit, cached.parent, trusted=trusted)
    if not trusted:
        manifest = read_manifest(repo.store, manifest_id)
        refuse_pickles(manifest.structure, f"checkpoint {manifest_id[:12]}")
    return cached


def _write_ckpt(repo: Repo, rev: str, path: Path, *, trusted: bool) -> None:
    import torch

    checkpoint = load_checkpoint(repo, rev, map_location="cpu", trusted=trusted)
    with atomic_output(path) as out:
        torch.save(checkpoint, out)


def weight_tensors(repo: Repo, rev: str) -> dict[str, torch.Tensor]:
    """The weights of a checkpoint by name, without decoding its structure (never unpickles)."""
    manifest_id = checkpoint_id(repo, rev)[1]
    manifest = read_manifest(repo.store, manifest_id)
    places = tensor_paths(manifest.structure)
    prefix = WEIGHTS_KEY + "/"
    if any(path.startswith(prefix) for path, _ in places):
        places = [(path.removeprefix(prefix), i) for path, i in places if path.startswith(prefix)]
    wanted = sorted({i for _, i in places if 0 <= i < len(manifest.tensors)})
    loaded = load_tensors(repo.store, manifest, manifest_id, [manifest.tensors[i] for i in wanted])
    by_index = dict(zip(wanted, loaded, strict=True))
    weights: dict[str, torch.Tensor] = {}
    written: set[int] = set()
    for name, index in places:
        if index not in by_index:
            continue
        tensor = by_index[index]
        weights[name] = tensor.clone() if index in written else tensor
        written.add(index)
    return weights


def _write_safetensors(repo: Repo, rev: str, path: Path) -> None:
    from safetensors.torch import save_file

    weights = weight_tensors(repo, rev)
    commit = repo.resolve(rev)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(weights, str(tmp), metadata={"format": "pt", "modelsync_commit": commit})
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise UsageError(f"cannot write {rev!r} as safetensors: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(path.parent)
