"""Tensor-aware checkpoints: store what changed, load bit for bit, never unpickle by surprise.

A checkpoint (a state dict, a full Lightning checkpoint, any nested dict/list/tuple holding
tensors, or a ``torch.nn.Module``) is stored as a ``checkpoint`` object, the manifest: a table of
tensors (name, dtype, shape, size, device, chunk ids) and the structure around them as a JSON
tree (``structure``). Each tensor's bytes are cut into fixed-size chunks (``CHUNK_SIZE``) named
by their SHA-256, so an unchanged tensor, or an unchanged chunk of a changed one, is stored once
across checkpoints, runs and branches. Float chunks are compressed by byte planes.

A checkpoint commit's tree holds the manifest under the entry ``checkpoint``; the branch's other
entries (``params.json``, ``files/...``) are carried over from its previous commit.

Synchronous use::

    commit_id = save_checkpoint(repo, model_or_state_dict, "epoch 3", branch="runs/foo")
    state = load_checkpoint(repo, "runs/foo", map_location="cpu")   # trusted=False by default

Asynchronous use, as the Lightning adapter does: the training thread only copies tensors (and
skips those unchanged since the last capture: same storage, same version counter); hashing,
compression and writing happen elsewhere::

    writer = writer_for(repo)                  # one per repository per process
    snapshot = writer.capture(checkpoint)      # training thread
    # on a background thread:
    with repo.store.batch() as batch:
        manifest_id = writer.write(snapshot, batch)   # hash, compress, pack
        ...                                           # other objects of the same commit
    # then a tree with TreeEntry("checkpoint", manifest_id, snapshot.nbytes), and a commit;
    # or all of that in one call: writer.commit(snapshot, message=..., branch=..., meta=...)
    future = writer.save_async(checkpoint, branch="runs/foo")  # capture + commit in background

Write snapshots in the order they were captured. Changes made behind torch's back (through
``.data``, a numpy view or ``torch.inference_mode`` tensors) do not bump version counters;
``capture(obj, reuse=False)`` hashes everything again.

The writer itself knows only the object store and a ``CommitCheckpoint`` callable: ``saving``
gives each repository its writer (``writer_for``), committing onto the repository's branches
(``BranchCommitter``).

Reading: ``describe_checkpoint`` (tensor listing, no data), ``load_checkpoint``,
``load_tensors``, ``diff_checkpoints`` (per tensor: unchanged/changed/added/removed, L2 norm of
the difference, relative change, max absolute difference), ``export_checkpoint`` (``.ckpt`` via
``torch.save``, or safetensors), ``checkpoint_path`` (a cached ``.ckpt`` to resume from).
Importing this package registers the per-tensor patch of ``checkpoint`` entries with
``repo.diff`` (see ``compare``), so ``modelsync diff`` reports them tensor by tensor.
None of them unpickles: values that are neither tensors nor plain data are stored pickled, and
loading them needs ``trusted=True``.

This package imports torch only inside functions, so ``import modelsync`` works without it.
"""

from __future__ import annotations

from .compare import TensorChange, TensorPatch, checkpoint_patch, diff_checkpoints, diff_manifests
from .export import checkpoint_path, export_checkpoint, weight_tensors
from .reader import (
    CheckpointInfo,
    checkpoint_id,
    describe_checkpoint,
    load_checkpoint,
    load_tensors,
    read_manifest,
)
from .saving import BranchCommitter, save_checkpoint, writer_for
from .writer import (
    CHUNK_SIZE,
    CheckpointStats,
    CheckpointWriter,
    CommitCheckpoint,
    Snapshot,
)

__all__ = [
    "CHUNK_SIZE",
    "BranchCommitter",
    "CheckpointInfo",
    "CheckpointStats",
    "CheckpointWriter",
    "CommitCheckpoint",
    "Snapshot",
    "TensorChange",
    "TensorPatch",
    "checkpoint_id",
    "checkpoint_patch",
    "checkpoint_path",
    "describe_checkpoint",
    "diff_checkpoints",
    "diff_manifests",
    "export_checkpoint",
    "load_checkpoint",
    "load_tensors",
    "read_manifest",
    "save_checkpoint",
    "weight_tensors",
    "writer_for",
]
