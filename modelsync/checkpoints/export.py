"""Materialising a stored checkpoint as a standard file: a ``.ckpt`` or safetensors.

``checkpoint_path`` keeps one ``.ckpt`` per commit in ``.modelsync/exports/<commit>/``, so that a
resumed run gets a stable path and a large file is not rewritten on every call. That directory is
not content-addressed: whatever can write into the repository can put a file there, and
``torch.load`` runs the pickle inside it. So a cached file is returned only when it holds exactly
the bytes that exporting the commit now would write. The checkpoint is loaded from the object
store (every chunk verified against its id) and ``torch.save``'d into a sink that compares each
byte with the cached file, opened without following a link; any difference, and the file is
rebuilt atomically. ``torch.save`` into a stream is deterministic (the archive inside is always
named ``archive``), so an intact export always compares equal; another torch version writes other
bytes and rebuilds the file once.

Why not a sidecar recording the export's SHA-256, size, mtime_ns and inode, checked cheaply on
reuse? It would live where the planted file lives and be forged by the same hand: plant the file,
stat it, hash it, write the record. A keyed MAC would need a secret kept from whoever can write
the repository, and a repository has no such place. Only the objects are trustworthy, because
they are named by their hashes, so the expected bytes are derived from them on every reuse. That
costs a read of the checkpoint from the store and a read of the cached file, what an export costs
without its write and fsync: the cache saves those, and leaves the file and its path untouched
while another process may be reading it. The check holds when the path is returned; whoever can
write the cache can still swap the file afterwards, as with any path handed to ``torch.load``.

Nothing is cached for safetensors: each export is written fresh into the directory the caller
names, so there is no earlier file to trust.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal, cast

from ..errors import UsageError
from ..repo.repository import Repo
from ..util.fileio import atomic_output, fsync_dir
from .reader import checkpoint_id, load_checkpoint, load_tensors, read_manifest
from .structure import tensor_paths

if TYPE_CHECKING:
    import torch

ExportFormat = Literal["ckpt", "safetensors"]
EXPORT_NAMES: dict[str, str] = {"ckpt": "checkpoint.ckpt", "safetensors": "model.safetensors"}
WEIGHTS_KEY = "state_dict"
EXPORT_CACHE = "exports"
# How much of a cached export is read at a time while comparing it with a fresh one.
_COMPARE_BLOCK = 1 << 20


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
    (``.modelsync/exports/<commit>/checkpoint.ckpt``) and reused by later calls while it still
    holds exactly what the commit exports to; anything else found there is replaced.
    """
    if isinstance(repo, Repo):
        return _checkpoint_file(repo, rev, directory, trusted=trusted)
    with Repo.open(repo) as opened:
        return _checkpoint_file(opened, rev, directory, trusted=trusted)


def _checkpoint_file(
    repo: Repo, rev: str, directory: str | os.PathLike[str] | None, *, trusted: bool
) -> Path:
    commit = checkpoint_id(repo, rev)[0]
    if directory is not None:
        return export_checkpoint(repo, commit, directory, trusted=trusted)
    cached = _cache_directory(repo, commit) / EXPORT_NAMES["ckpt"]
    checkpoint = load_checkpoint(repo, commit, map_location="cpu", trusted=trusted)
    if not _holds_export_of(cached, checkpoint):
        _save_ckpt(checkpoint, cached)
    return cached


def _cache_directory(repo: Repo, commit: str) -> Path:
    """``exports/<commit>`` under the control directory, as real directories: a link or a file
    found in their place is removed, so that nothing is written through it."""
    directory = repo.control_dir
    for name in (EXPORT_CACHE, commit):
        directory = directory / name
        if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
            directory.unlink()
        directory.mkdir(exist_ok=True)
    return directory


class _ComparingSink:
    """A stream for ``torch.save`` that writes nothing and compares every byte it is given with
    the next bytes of ``existing``."""

    def __init__(self, existing: BinaryIO) -> None:
        self._existing = existing
        self._same = True

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), _COMPARE_BLOCK):
            if not self._same:
                break
            block = view[start : start + _COMPARE_BLOCK]
            self._same = self._existing.read(len(block)) == block
        return len(view)

    def flush(self) -> None:
        """``torch.save`` flushes its stream when done; nothing is buffered here."""

    def matched(self) -> bool:
        """Whether everything written so far was equal and ``existing`` holds nothing more."""
        return self._same and not self._existing.read(1)


def _holds_export_of(path: Path, checkpoint: Any) -> bool:
    """Whether ``path`` is a regular file, not a link, holding exactly what ``torch.save``
    writes for ``checkpoint``."""
    import torch

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    with open(fd, "rb") as existing:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        sink = _ComparingSink(existing)
        # torch.save needs only write() and flush() of a stream.
        torch.save(checkpoint, cast(IO[bytes], sink))
        return sink.matched()


def _write_ckpt(repo: Repo, rev: str, path: Path, *, trusted: bool) -> None:
    _save_ckpt(load_checkpoint(repo, rev, map_location="cpu", trusted=trusted), path)


def _save_ckpt(checkpoint: Any, path: Path) -> None:
    import torch

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
