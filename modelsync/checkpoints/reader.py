"""Reading checkpoints: manifests, tensors (verified chunk by chunk), whole checkpoints.

Nothing here unpickles unless the caller passed ``trusted=True``: a manifest is JSON, tensors
are raw bytes, and the structure is decoded by ``structure.decode_structure``. A missing or
corrupt chunk is reported with the tensor it belongs to, and nothing half-loaded is returned.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ObjectCorrupt, ObjectMissing, UsageError
from ..model.layout import CHECKPOINT_ENTRY
from ..model.objects import CheckpointManifest, MalformedObject, TensorRecord, object_type
from ..store import ObjectReader
from .structure import decode_structure, pickled_values, refuse_pickles, tensor_paths
from .tensors import byte_view, dtype_from_name, expected_nbytes

if TYPE_CHECKING:
    import torch

    from ..repo.repository import Repo


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint commit holds, read from its manifest alone (no tensor data)."""

    commit: str
    manifest_id: str
    manifest: CheckpointManifest
    aliases: dict[str, list[str]]
    pickled: list[tuple[str, str]]

    @property
    def tensors(self) -> tuple[TensorRecord, ...]:
        return self.manifest.tensors

    @property
    def nbytes(self) -> int:
        return self.manifest.nbytes


def checkpoint_id(repo: Repo, rev: str) -> tuple[str, str]:
    """``(commit id, manifest id)`` of the checkpoint that ``rev`` names."""
    commit = repo.resolve(rev)
    entry = repo.read_tree(repo.read_commit(commit).tree).entries.get(CHECKPOINT_ENTRY)
    if entry is None or entry.kind != "checkpoint":
        raise UsageError(
            f"{rev!r} ({commit[:12]}) holds no checkpoint; "
            "save one with modelsync.save_checkpoint()"
        )
    return commit, entry.oid


def read_manifest(store: ObjectReader, oid: str) -> CheckpointManifest:
    """A manifest, checked for consistency; a malformed one is ``ObjectCorrupt``."""
    data = store.get(oid)
    if object_type(data) != "checkpoint":
        raise ObjectCorrupt(oid, "expected a checkpoint manifest", malformed=True)
    try:
        manifest = CheckpointManifest.from_bytes(data)
        _check_manifest(manifest)
    except MalformedObject as exc:
        raise ObjectCorrupt(oid, str(exc), malformed=True) from exc
    return manifest


def _check_manifest(manifest: CheckpointManifest) -> None:
    if manifest.chunk_size <= 0:
        raise MalformedObject(f"chunk size {manifest.chunk_size}")
    for record in manifest.tensors:
        dtype = dtype_from_name(record.dtype)
        if expected_nbytes(dtype, record.shape) != record.nbytes:
            raise MalformedObject(f"tensor {record.name!r}: size does not match dtype and shape")
        if len(record.chunks) != -(-record.nbytes // manifest.chunk_size):
            raise MalformedObject(f"tensor {record.name!r}: wrong number of chunks")


def describe_checkpoint(repo: Repo, rev: str) -> CheckpointInfo:
    """The tensor listing of a checkpoint commit, without loading any tensor."""
    commit, oid = checkpoint_id(repo, rev)
    manifest = read_manifest(repo.store, oid)
    aliases: dict[str, list[str]] = {}
    names = [record.name for record in manifest.tensors]
    for path, index in tensor_paths(manifest.structure):
        if 0 <= index < len(names) and path != names[index]:
            aliases.setdefault(names[index], []).append(path)
    return CheckpointInfo(commit, oid, manifest, aliases, pickled_values(manifest.structure))


# --------------------------------------------------------------------------------- tensor data
def _worker_count() -> int:
    return max(2, min(8, os.cpu_count() or 2))


def _fill_chunk(store: ObjectReader, out: memoryview, oid: str, where: str) -> None:
    try:
        store.read_into(oid, out)
    except ObjectMissing as exc:
        raise ObjectMissing(oid, where) from exc
    except ObjectCorrupt as exc:
        raise ObjectCorrupt(oid, where) from exc


def load_tensors(
    store: ObjectReader,
    manifest: CheckpointManifest,
    manifest_id: str,
    records: list[TensorRecord] | None = None,
    *,
    map_location: str | torch.device | None = "cpu",
) -> list[torch.Tensor]:
    """The tensors of ``records`` (default: all), their chunks read and verified in parallel.

    ``map_location`` is where they go (None: the device each was saved from). Raises
    ``ObjectMissing``/``ObjectCorrupt`` naming the tensor and the chunk; returns nothing partial.
    """
    import torch

    chosen = list(manifest.tensors) if records is None else records
    # Memory from torch's allocator, not cleared first (``bytearray(n)`` would write all n bytes
    # before the read writes them again); filled through a view of its bytes.
    storages = [torch.empty(record.nbytes, dtype=torch.uint8, device="cpu") for record in chosen]
    size = manifest.chunk_size
    # Threads of this call's own, joined before it returns: a load leaves none running.
    with ThreadPoolExecutor(_worker_count(), thread_name_prefix="modelsync-read") as pool:
        futures: list[Future[None]] = []
        for record, storage in zip(chosen, storages, strict=True):
            view = byte_view(storage)
            for k, oid in enumerate(record.chunks):
                start = k * size
                where = (
                    f"chunk {k + 1} of {len(record.chunks)} of tensor {record.name!r} "
                    f"in checkpoint {manifest_id[:12]}"
                )
                out = view[start : start + size]
                futures.append(pool.submit(_fill_chunk, store, out, oid, where))
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    tensors = []
    for record, storage in zip(chosen, storages, strict=True):
        tensor = storage.view(dtype_from_name(record.dtype)).reshape(record.shape)
        target = record.device if map_location is None else map_location
        tensors.append(tensor if str(target) == "cpu" else tensor.to(target))
    return tensors


def load_checkpoint(
    repo: Repo,
    rev: str,
    map_location: str | torch.device | None = "cpu",
    *,
    trusted: bool = False,
) -> Any:
    """The checkpoint that ``rev`` names, as it was saved (a module gives its state dict).

    Tensors come back bit for bit, tied tensors tied. A checkpoint holding pickled values
    raises ``UnsafeLoad`` naming them unless ``trusted=True``; the check comes before any
    tensor is read.
    """
    _commit, manifest_id = checkpoint_id(repo, rev)
    manifest = read_manifest(repo.store, manifest_id)
    if not trusted:
        refuse_pickles(manifest.structure, f"checkpoint {manifest_id[:12]}")
    tensors = load_tensors(repo.store, manifest, manifest_id, map_location=map_location)

    def tensor_at(index: object) -> torch.Tensor:
        if type(index) is not int or not 0 <= index < len(tensors):
            raise MalformedObject(f"tensor index {index!r} out of range")
        return tensors[index]

    try:
        return decode_structure(manifest.structure, tensor_at, trusted=trusted)
    except MalformedObject as exc:
        raise ObjectCorrupt(manifest_id, str(exc), malformed=True) from exc
