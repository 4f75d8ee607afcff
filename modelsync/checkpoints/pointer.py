"""Pointer files: a small file standing in for a checkpoint stored in a repository.

Where a framework wants a checkpoint file at a path of its choosing (Lightning's
``ModelCheckpoint`` keeps the top k, ``last.ckpt``, and removes the others), the checkpoint is
committed into the repository and the path gets a pointer instead, one line of JSON naming the
repository (its working tree) and the commit::

    {"commit": "<commit id>", "format": "modelsync-checkpoint", "repository": "/path/to/repo"}

The framework's own bookkeeping works on pointers unchanged; removing one leaves its commit in
history. ``read`` recognises a pointer by its first ``MAX_POINTER_SIZE`` bytes and answers None
for any other file (a regular ``.ckpt``), so a loader takes either.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..util.fileio import atomic_write

POINTER_FORMAT = "modelsync-checkpoint"
MAX_POINTER_SIZE = 4096


@dataclass(frozen=True)
class CheckpointPointer:
    """The commit of a checkpoint, and the repository that holds it."""

    repository: str
    commit: str

    def write(self, path: str | os.PathLike[str]) -> None:
        """Replace ``path`` with this pointer (atomically, durably)."""
        data = {"format": POINTER_FORMAT, "repository": self.repository, "commit": self.commit}
        atomic_write(Path(path), json.dumps(data, sort_keys=True).encode("utf-8") + b"\n")

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> CheckpointPointer | None:
        """The pointer at ``path``; None when it holds anything else, or nothing."""
        try:
            with Path(path).open("rb") as file:
                head = file.read(MAX_POINTER_SIZE + 1)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        if len(head) > MAX_POINTER_SIZE or not head.startswith(b"{"):
            return None
        try:
            data = json.loads(head)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("format") != POINTER_FORMAT:
            return None
        return cls(str(data["repository"]), str(data["commit"]))
