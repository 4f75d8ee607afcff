"""``ModelSyncCheckpointIO``: the checkpoints Lightning saves itself, kept in the repository."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import modelsync
from modelsync import adapters
from modelsync.errors import TRACKING_ERRORS, TrackingWarning

from ._compat import TorchCheckpointIO


class ModelSyncCheckpointIO(TorchCheckpointIO):
    """``Trainer(plugins=[ModelSyncCheckpointIO()])``: every checkpoint Lightning saves
    (``ModelCheckpoint``'s, ``trainer.save_checkpoint``) is committed tensor by tensor, so what
    did not change between checkpoints is stored once.

    The commit goes into the active run (the one a ``ModelSyncCallback`` or ``ModelSyncLogger``
    records into, or one started with ``modelsync.start_run``), else onto ``branch`` of
    ``repo``. At the local path Lightning asked for, a small JSON file names the commit, so
    ``ModelCheckpoint``'s own bookkeeping (top-k, ``last``, removal) works unchanged; removing
    that file leaves the commit in history. ``load_checkpoint`` reads such a file back from
    the repository (``repo`` if given, else the one the file names) and any other file as a
    regular ``.ckpt``, so ``trainer.fit(ckpt_path=...)`` and ``ckpt_path="best"`` work.
    Pickled values (in hyperparameters, say) load only with ``weights_only=False``.

    If the repository cannot take a checkpoint, it is written as a regular file instead, with a
    ``TrackingWarning``: training goes on.
    """

    def __init__(
        self, repo: adapters.RepoLike = None, branch: str = "lightning-checkpoints"
    ) -> None:
        super().__init__()
        self.repo = repo
        self.branch = branch
        self._opened: modelsync.Repo | None = None

    def save_checkpoint(
        self,
        checkpoint: dict[str, Any],
        path: str | os.PathLike[str],
        storage_options: Any | None = None,
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        target = Path(path)
        try:
            pointer = self._commit(checkpoint, f"checkpoint {target.name}")
        except TRACKING_ERRORS as exc:
            warnings.warn(
                f"{target} is saved as a regular file, not in the repository: {exc}",
                TrackingWarning,
                stacklevel=2,
            )
            super().save_checkpoint(checkpoint, target)
            return
        pointer.write(target)

    def _commit(self, checkpoint: dict[str, Any], message: str) -> adapters.CheckpointPointer:
        """Store the checkpoint; returns the pointer to its commit."""
        run = modelsync.active_run()
        if run is None:
            repo = self._repo()
            commit = modelsync.save_checkpoint(repo, checkpoint, message, branch=self.branch)
            return adapters.CheckpointPointer(str(repo.work_tree), commit)
        committed = run.checkpoint(checkpoint, message=message)
        if committed is None:
            raise modelsync.ModelSyncError(f"run {run.name!r} could not commit it")
        return adapters.CheckpointPointer(str(run.repo.work_tree), committed)

    def _repo(self) -> modelsync.Repo:
        if isinstance(self.repo, modelsync.Repo):
            return self.repo
        if self._opened is None:
            self._opened = modelsync.Repo.open(self.repo)
        return self._opened

    def load_checkpoint(
        self,
        path: str | os.PathLike[str],
        map_location: Any | None = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        source = Path(path)
        pointer = adapters.CheckpointPointer.read(source)
        if pointer is None:
            if map_location is None:
                return super().load_checkpoint(source, weights_only=weights_only)
            return super().load_checkpoint(source, map_location, weights_only)
        import torch

        device = map_location if isinstance(map_location, str | torch.device) else "cpu"
        with adapters.opened(self.repo if self.repo is not None else pointer.repository) as repo:
            loaded: dict[str, Any] = modelsync.load_checkpoint(
                repo, pointer.commit, device, trusted=weights_only is False
            )
        return loaded

    def teardown(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None

