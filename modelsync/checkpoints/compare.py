"""Per-tensor comparison of two checkpoints: what changed, and by how much.

Importing this module registers ``checkpoint_patch`` as ``diff``'s patcher for ``checkpoint``
entries (``repo.diff.PATCHERS``), so ``Repo.patch`` reports a changed checkpoint tensor by
tensor wherever the checkpoint package is imported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..model.objects import CheckpointManifest, TensorRecord
from ..repo.diff import PATCHERS, FileChange, format_size
from ..store import ObjectReader
from .reader import checkpoint_id, load_tensors, read_manifest

if TYPE_CHECKING:
    import torch

    from ..repo.repository import Repo

TensorStatus = Literal["unchanged", "changed", "added", "removed"]
_BLOCK = 1 << 22
_EMPTY = CheckpointManifest(chunk_size=1, tensors=(), structure=None)


@dataclass(frozen=True)
class TensorChange:
    """One tensor's fate between two checkpoints.

    For a changed tensor of unchanged shape: ``l2`` is ‖new - old‖₂, ``relative`` that over
    ‖old‖₂, ``max_abs`` the largest |new - old|. ``note`` says why they are missing otherwise.
    """

    name: str
    status: TensorStatus
    old: TensorRecord | None
    new: TensorRecord | None
    l2: float | None = None
    relative: float | None = None
    max_abs: float | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        record = self.new or self.old
        assert record is not None
        return {
            "name": self.name,
            "status": self.status,
            "dtype": record.dtype,
            "shape": list(record.shape),
            "nbytes": record.nbytes,
            "old": _record_json(self.old),
            "new": _record_json(self.new),
            "l2": self.l2,
            "relative": self.relative,
            "max_abs": self.max_abs,
            "note": self.note,
        }

    def line(self) -> str:
        record = self.new or self.old
        assert record is not None
        text = f"{self.status:<9} {self.name}  {record.dtype} {list(record.shape)}"
        if self.status in ("added", "removed"):
            text += f"  {format_size(record.nbytes)}"
        if self.l2 is not None and self.status == "changed":
            text += (
                f"  l2 {self.l2:.4g}  relative {self.relative:.4g}  max |diff| {self.max_abs:.4g}"
            )
        return text + (f"  ({self.note})" if self.note else "")


def _record_json(record: TensorRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"dtype": record.dtype, "shape": list(record.shape), "chunks": list(record.chunks)}


def diff_checkpoints(repo: Repo, a: str, b: str) -> list[TensorChange]:
    """Compare the checkpoints two revisions name, tensor by tensor (matched by name)."""
    return diff_manifests(repo.store, checkpoint_id(repo, a)[1], checkpoint_id(repo, b)[1])


def diff_manifests(
    store: ObjectReader, old_id: str | None, new_id: str | None
) -> list[TensorChange]:
    """Compare two manifests (None: no checkpoint on that side), tensor by tensor.

    Tensors whose chunks are identical are unchanged without reading their data; changed
    ones are read one pair at a time. The structures are never decoded, so this never
    unpickles anything.
    """
    old_manifest = read_manifest(store, old_id) if old_id else _EMPTY
    new_manifest = read_manifest(store, new_id) if new_id else _EMPTY
    old = {record.name: record for record in old_manifest.tensors}
    new = {record.name: record for record in new_manifest.tensors}
    changes = []
    for name in [*old, *(n for n in new if n not in old)]:
        before, after = old.get(name), new.get(name)
        if after is None:
            changes.append(TensorChange(name, "removed", before, None))
        elif before is None:
            changes.append(TensorChange(name, "added", None, after))
        elif (before.dtype, before.shape, before.chunks) == (
            after.dtype,
            after.shape,
            after.chunks,
        ):
            changes.append(TensorChange(name, "unchanged", before, after, 0.0, 0.0, 0.0))
        elif before.shape != after.shape:
            note = f"shape {list(before.shape)} -> {list(after.shape)}"
            changes.append(TensorChange(name, "changed", before, after, note=note))
        else:
            assert old_id is not None and new_id is not None
            (x,) = load_tensors(store, old_manifest, old_id, [before])
            (y,) = load_tensors(store, new_manifest, new_id, [after])
            changes.append(_measured(name, before, after, x, y))
    return changes


@dataclass(frozen=True)
class TensorPatch:
    """``diff``'s patch for a ``checkpoint`` entry: what happened to each tensor."""

    changes: tuple[TensorChange, ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": "checkpoint", "tensors": [change.to_json() for change in self.changes]}

    def lines(self) -> list[str]:
        moved = [change.line() for change in self.changes if change.status != "unchanged"]
        unchanged = len(self.changes) - len(moved)
        return [*moved, f"{unchanged} of {len(self.changes)} tensors unchanged"]


def checkpoint_patch(repo: Repo, change: FileChange) -> TensorPatch:
    """The per-tensor patch of a changed ``checkpoint`` tree entry."""
    old_id = change.old.oid if change.old is not None else None
    new_id = change.new.oid if change.new is not None else None
    return TensorPatch(tuple(diff_manifests(repo.store, old_id, new_id)))


def _measured(
    name: str, before: TensorRecord, after: TensorRecord, x: torch.Tensor, y: torch.Tensor
) -> TensorChange:
    note = f"dtype {before.dtype} -> {after.dtype}" if before.dtype != after.dtype else ""
    try:
        l2_squared, base_squared, max_abs = _difference(x, y)
    except (RuntimeError, TypeError) as exc:
        note = "; ".join(filter(None, [note, f"values not comparable ({exc})"]))
        return TensorChange(name, "changed", before, after, note=note)
    l2 = math.sqrt(l2_squared)
    base = math.sqrt(base_squared)
    relative = l2 / base if base else (0.0 if l2 == 0 else math.inf)
    return TensorChange(name, "changed", before, after, l2, relative, max_abs, note)


def _difference(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float]:
    """Sum of squared differences, sum of squares of ``x``, max |y - x|: in float64, by blocks."""
    import torch

    wide = torch.complex128 if (x.dtype.is_complex or y.dtype.is_complex) else torch.float64
    flat_x, flat_y = x.reshape(-1), y.reshape(-1)
    l2_squared = base_squared = max_abs = 0.0
    for start in range(0, flat_x.numel(), _BLOCK):
        a = flat_x[start : start + _BLOCK].to(wide)
        delta = (flat_y[start : start + _BLOCK].to(wide) - a).abs()
        l2_squared += float(delta.square().sum())
        base_squared += float(a.abs().square().sum())
        block_max = float(delta.max())
        if math.isnan(block_max) or block_max > max_abs:
            max_abs = block_max
    return l2_squared, base_squared, max_abs


PATCHERS["checkpoint"] = checkpoint_patch
