"""Checkpoints saved into a repository: its writer, and the commits it makes onto branches.

Each repository keeps one ``CheckpointWriter`` per process (``writer_for``), as a worker that
closes with the repository, so that what one snapshot stored is known to the next whoever takes
it (``save_checkpoint``, a run, an adapter). That writer commits through ``BranchCommitter``:
the new commit's tree is the branch's previous tree with its ``checkpoint`` entry replaced, so a
run's other files stay; a commit that loses the race for its ref is made again on the new tip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import RefConflict
from ..model.layout import BRANCH_PREFIX, CHECKPOINT_ENTRY, HEAD
from ..model.objects import TreeEntry
from ..repo.refs import check_ref_name
from ..store import ObjectWriter
from .writer import CheckpointWriter

if TYPE_CHECKING:
    from ..repo.repository import Repo

COMMIT_ATTEMPTS = 5
"""How many times a checkpoint commit is tried against a ref other writers keep moving."""


def writer_for(repo: Repo) -> CheckpointWriter:
    """``repo``'s checkpoint writer in this process: it remembers which tensors it stored."""

    def start() -> CheckpointWriter:
        return CheckpointWriter(repo.store, BranchCommitter(repo))

    return repo.worker(CheckpointWriter, start)


def save_checkpoint(
    repo: Repo,
    obj: Any,
    message: str | None = None,
    branch: str | None = None,
    *,
    meta: dict[str, Any] | None = None,
) -> str:
    """Commit a state dict, Lightning checkpoint or module onto ``branch`` (default: HEAD's
    branch) with the repository's writer; returns the commit id."""
    return writer_for(repo).save(obj, message=message, branch=branch, meta=meta)


@dataclass(frozen=True)
class BranchCommitter:
    """The ``CommitCheckpoint`` of a writer saving into ``repo``: commits onto its branches."""

    repo: Repo

    def __call__(
        self,
        write: Callable[[ObjectWriter], TreeEntry],
        *,
        message: str,
        branch: str | None,
        meta: dict[str, Any],
    ) -> str:
        ref = self._target_ref(branch)
        with self.repo.store.batch() as batch:
            entry = write(batch)
            old = self.repo.refs.resolve(ref)
            tree = self._tree_with(entry, old, batch)
        attempts = 1
        while True:
            try:
                return self.repo.commit_tree(tree, message, ref=ref, meta=meta, expected_old=old)
            except RefConflict:
                if attempts == COMMIT_ATTEMPTS:
                    raise
                attempts += 1
                old = self.repo.refs.resolve(ref)
                tree = self._tree_with(entry, old, self.repo.store)

    def _target_ref(self, branch: str | None) -> str:
        if branch is not None:
            name = branch.removeprefix(BRANCH_PREFIX)
            check_ref_name(name)
            return BRANCH_PREFIX + name
        return self.repo.refs.symbolic_target(HEAD) or HEAD

    def _tree_with(self, entry: TreeEntry, parent: str | None, writer: ObjectWriter) -> str:
        """The tree of ``parent`` (none: empty) with ``entry`` as its checkpoint."""
        files = self.repo.flatten_tree(self.repo.read_commit(parent).tree) if parent else {}
        files[CHECKPOINT_ENTRY] = entry
        return self.repo.write_tree(files, writer=writer)
