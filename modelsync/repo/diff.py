"""What changed between two snapshots: the paths added, deleted or modified, and a patch for each.

``diff_file_maps`` compares two ``{path: TreeEntry}`` maps. ``make_patch`` says how one path's
content changed, dispatching on the entry's kind through ``PATCHERS``: raw files (``blob`` and
``file``) give a unified diff when both sides are text and a size-and-hash summary otherwise. A
kind with structure of its own adds its patcher to ``PATCHERS`` from the package that knows it
(``checkpoint.compare`` for tensor manifests): this module imports nothing above the repository.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..model.objects import TreeEntry

if TYPE_CHECKING:
    from .repository import Repo

ChangeStatus = Literal["added", "deleted", "modified"]

TEXT_LIMIT = 1 << 20
"""Files larger than this on either side are summarised, never diffed line by line."""


@dataclass(frozen=True)
class FileChange:
    path: str
    status: ChangeStatus
    old: TreeEntry | None
    new: TreeEntry | None
    new_in_work_tree: bool = False
    """The new side is a file in the working tree, not (necessarily) a stored object."""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "old": self.old.to_json() if self.old else None,
            "new": self.new.to_json() if self.new else None,
        }


def diff_file_maps(
    old: dict[str, TreeEntry], new: dict[str, TreeEntry], *, new_in_work_tree: bool = False
) -> list[FileChange]:
    changes = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before is None:
            changes.append(FileChange(path, "added", None, after, new_in_work_tree))
        elif after is None:
            changes.append(FileChange(path, "deleted", before, None, new_in_work_tree))
        elif (before.oid, before.mode) != (after.oid, after.mode):
            changes.append(FileChange(path, "modified", before, after, new_in_work_tree))
    return changes


class Patch(Protocol):
    def to_json(self) -> dict[str, Any]: ...

    def lines(self) -> list[str]:
        """Readable lines in unified-diff style: ``+``, ``-``, ``@@`` and context lines."""
        ...


@dataclass(frozen=True)
class TextPatch:
    header: tuple[str, ...]
    hunks: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": "text", "header": list(self.header), "patch": list(self.hunks)}

    def lines(self) -> list[str]:
        return [*self.header, *self.hunks]


@dataclass(frozen=True)
class BinaryPatch:
    header: tuple[str, ...]
    old: TreeEntry | None
    new: TreeEntry | None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "binary",
            "header": list(self.header),
            "old_size": self.old.size if self.old else None,
            "new_size": self.new.size if self.new else None,
            "old_id": self.old.oid if self.old else None,
            "new_id": self.new.oid if self.new else None,
        }

    def lines(self) -> list[str]:
        return [*self.header, f"Binary content: {_side(self.old)} -> {_side(self.new)}"]


def _side(entry: TreeEntry | None) -> str:
    if entry is None:
        return "(none)"
    return f"{format_size(entry.size)} {entry.oid[:12]}"


def format_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    units = ("KiB", "MiB", "GiB", "TiB")
    value = size / 1024
    step = 0
    while value >= 1024 and step < len(units) - 1:
        value /= 1024
        step += 1
    return f"{value:.1f} {units[step]}"


Patcher = Callable[["Repo", FileChange], Patch]


def make_patch(repo: Repo, change: FileChange) -> Patch:
    """How ``change``'s content changed, by the patcher registered for its kind."""
    entry = change.new or change.old
    assert entry is not None, "a change has at least one side"
    patcher = PATCHERS.get(entry.kind, summary_patch)
    return patcher(repo, change)


def summary_patch(repo: Repo, change: FileChange) -> Patch:
    """Sizes and ids only, for content that has no readable form."""
    return BinaryPatch(tuple(_mode_lines(change)), change.old, change.new)


def byte_patch(repo: Repo, change: FileChange) -> Patch:
    """A unified diff of two text files; a size-and-hash summary for anything else."""
    header = tuple(_mode_lines(change))
    old_text = _read_text(repo, change.old, change.path, in_work_tree=False)
    new_text = _read_text(repo, change.new, change.path, in_work_tree=change.new_in_work_tree)
    if old_text is None or new_text is None:
        return BinaryPatch(header, change.old, change.new)
    hunks = difflib.unified_diff(
        old_text.splitlines(),
        new_text.splitlines(),
        fromfile=f"a/{change.path}" if change.old else "/dev/null",
        tofile=f"b/{change.path}" if change.new else "/dev/null",
        lineterm="",
    )
    return TextPatch(header, tuple(hunks))


def _mode_lines(change: FileChange) -> list[str]:
    if change.old is None and change.new is not None:
        return [f"new file mode {change.new.mode}"]
    if change.new is None and change.old is not None:
        return [f"deleted file mode {change.old.mode}"]
    if change.old is not None and change.new is not None and change.old.mode != change.new.mode:
        return [f"old mode {change.old.mode}", f"new mode {change.new.mode}"]
    return []


def _read_text(repo: Repo, entry: TreeEntry | None, path: str, *, in_work_tree: bool) -> str | None:
    """The side's text ("" when absent), or None when it is binary or too large to diff."""
    if entry is None:
        return ""
    if in_work_tree:
        data = repo.working_bytes(path, limit=TEXT_LIMIT)
    else:
        data = repo.read_file_bytes(entry, limit=TEXT_LIMIT)
    if data is None or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


PATCHERS: dict[str, Patcher] = {
    "blob": byte_patch,
    "file": byte_patch,
}
"""The patcher of each entry kind; ``summary_patch`` for the kinds missing here. A layer above
that defines a kind registers its patcher when it is imported (``checkpoint.compare``: a
per-tensor report for ``checkpoint`` entries), so whoever shows its patches imports it."""
