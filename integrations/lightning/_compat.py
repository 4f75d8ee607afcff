"""The Lightning package in use: ``lightning.pytorch`` when installed, else ``pytorch_lightning``.

Everything the adapter takes from Lightning comes through here, including the one private call
it makes (``dump_checkpoint``), so a change in Lightning has one place to be met.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import Logger
    from pytorch_lightning.plugins.io import TorchCheckpointIO
    from pytorch_lightning.trainer.states import TrainerFn
    from pytorch_lightning.utilities import rank_zero_only
else:
    try:
        pl = importlib.import_module("lightning.pytorch")
    except ModuleNotFoundError:
        pl = importlib.import_module("pytorch_lightning")

    def _from(module: str, name: str) -> Any:
        return getattr(importlib.import_module(f"{pl.__name__}.{module}"), name)

    Logger = _from("loggers", "Logger")
    TorchCheckpointIO = _from("plugins.io", "TorchCheckpointIO")
    TrainerFn = _from("trainer.states", "TrainerFn")
    rank_zero_only = _from("utilities", "rank_zero_only")

__all__ = ["Logger", "TorchCheckpointIO", "TrainerFn", "dump_checkpoint", "pl", "rank_zero_only"]


def dump_checkpoint(trainer: pl.Trainer, weights_only: bool) -> dict[str, Any]:
    """The checkpoint ``trainer.save_checkpoint`` would write, as a dict (nothing is written).

    Like ``save_checkpoint``, call it on every rank: strategies that shard the model or the
    optimizer gather their state here with collective calls.
    """
    return trainer._checkpoint_connector.dump_checkpoint(weights_only)
