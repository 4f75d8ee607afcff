"""Checkpoints on the command line: the tensor listing of ``show`` and ``checkout --to``.

``diff`` gets its per-tensor report from the ``checkpoint`` patcher (``modelsync.repo.diff``);
``show`` gets the section built here, registered by ``register``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ...errors import UsageError
from ...model.layout import CHECKPOINT_ENTRY
from ...repo.diff import format_size
from ...repo.repository import Repo
from . import history
from .history import CommitView, Section

if TYPE_CHECKING:
    from ...checkpoints import CheckpointInfo


def checkpoint_json(info: CheckpointInfo) -> dict[str, Any]:
    return {
        "id": info.manifest_id,
        "nbytes": info.nbytes,
        "tensors": [
            {
                "name": record.name,
                "dtype": record.dtype,
                "shape": list(record.shape),
                "nbytes": record.nbytes,
                "device": record.device,
                "chunks": len(record.chunks),
                "tied": info.aliases.get(record.name, []),
            }
            for record in info.tensors
        ],
        "pickled": [{"path": path, "class": cls} for path, cls in info.pickled],
    }


def checkpoint_lines(info: CheckpointInfo) -> list[str]:
    """One aligned line per tensor: name, dtype, shape, size (and where it is tied)."""
    columns = [(record.name, record.dtype, str(list(record.shape))) for record in info.tensors]
    widths = [max((len(row[i]) for row in columns), default=0) for i in range(3)]
    lines = []
    for (name, dtype, shape), record in zip(columns, info.tensors, strict=True):
        line = f"{name:<{widths[0]}}  {dtype:<{widths[1]}}  {shape:<{widths[2]}}"
        line += f"  {format_size(record.nbytes)}"
        tied = info.aliases.get(record.name)
        if tied:
            line += f"  (tied: {', '.join(tied)})"
        lines.append(line)
    for path, cls in info.pickled:
        lines.append(f"{path}: pickled {cls} (loads only with --trusted)")
    return lines


def checkpoint_section(repo: Repo, view: CommitView) -> Section | None:
    """``show``'s listing of a checkpoint commit's tensors, read from its manifest alone (the
    checkpoint package is imported here, so that commands which never touch one start faster)."""
    if not any(entry.kind == "checkpoint" for entry in view.files.values()):
        return None
    from ...checkpoints import describe_checkpoint

    entry = view.files.get(CHECKPOINT_ENTRY)
    if entry is None or entry.kind != "checkpoint":
        return None
    info = describe_checkpoint(repo, view.oid)
    title = f"Checkpoint ({len(info.tensors)} tensors, {format_size(info.nbytes)}):"
    return Section("checkpoint", checkpoint_json(info), title, checkpoint_lines(info))


def export(repo: Repo, rev: str, directory: Path, fmt: str, *, trusted: bool) -> Path:
    """``checkout REV --to DIR``: write the checkpoint as a standard file, touching nothing else."""
    from ...checkpoints import export_checkpoint
    from ...checkpoints.export import ExportFormat

    if fmt not in ("ckpt", "safetensors"):
        raise UsageError(f"unknown format {fmt!r}; use ckpt or safetensors")
    chosen: ExportFormat = "safetensors" if fmt == "safetensors" else "ckpt"
    return export_checkpoint(repo, rev, directory, format=chosen, trusted=trusted)


def register(app: typer.Typer) -> None:
    """Add the tensor listing to ``show`` (its commands are the core ones)."""
    if checkpoint_section not in history.SHOW_SECTIONS:
        history.SHOW_SECTIONS.append(checkpoint_section)
