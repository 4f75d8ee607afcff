"""The Lightning package in use: ``lightning.pytorch`` when installed, else ``pytorch_lightning``.

Everything the adapter takes from Lightning comes through here, and this is the one module that
reads Lightning's private attributes (``dump_checkpoint``, ``state_key``,
``validates_on_a_timer``), so a change in Lightning has one place to be met.
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

__all__ = [
    "Logger",
    "TorchCheckpointIO",
    "TrainerFn",
    "dump_checkpoint",
    "pl",
    "rank_zero_only",
    "state_key",
    "validates_on_a_timer",
]


def dump_checkpoint(trainer: pl.Trainer, weights_only: bool) -> dict[str, Any]:
    """The checkpoint ``trainer.save_checkpoint`` would write, as a dict (nothing is written).

    Like ``save_checkpoint``, call it on every rank: strategies that shard the model or the
    optimizer gather their state here with collective calls.
    """
    return trainer._checkpoint_connector.dump_checkpoint(weights_only)


def state_key(callback: pl.Callback, **key: Any) -> str:
    """The key of ``callback``'s state in a checkpoint, made as Lightning's own callbacks make
    theirs (the class name and ``key``), so that two differently set up instances keep apart."""
    return str(callback._generate_state_key(**key))


def validates_on_a_timer(trainer: pl.Trainer) -> bool:
    """Whether validation runs at time intervals (``val_check_interval`` given as a duration)."""
    return getattr(trainer, "_val_check_time_interval", None) is not None
