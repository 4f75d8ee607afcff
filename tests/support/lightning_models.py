"""Models, data and trainers the Lightning tests share (importable by DDP worker processes)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

from modelsync.integrations.lightning._compat import pl

BoringModel: Any = importlib.import_module(f"{pl.__name__}.demos.boring_classes").BoringModel


class DigitsData(pl.LightningDataModule):
    """scikit-learn's 8x8 digits: 1500 images to train on, the rest to validate."""

    def __init__(self, batch_size: int = 64) -> None:
        super().__init__()
        self.save_hyperparameters()
        images, labels = load_digits(return_X_y=True)
        inputs = torch.tensor(images / 16.0, dtype=torch.float32)
        targets = torch.tensor(labels, dtype=torch.int64)
        self.train_set = TensorDataset(inputs[:1500], targets[:1500])
        self.val_set = TensorDataset(inputs[1500:], targets[1500:])

    def train_dataloader(self) -> DataLoader[Any]:
        return DataLoader(self.train_set, batch_size=self.hparams["batch_size"], shuffle=True)

    def val_dataloader(self) -> DataLoader[Any]:
        return DataLoader(self.val_set, batch_size=self.hparams["batch_size"])


class DigitsMLP(pl.LightningModule):
    """A small MLP on the digits; logs its loss every step and epoch, and validation metrics."""

    def __init__(self, hidden: int = 32, lr: float = 0.05, freeze_first: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)
        )
        if freeze_first:
            self.net[0].requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # type: ignore[no-any-return]

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        loss = torch.nn.functional.cross_entropy(self(inputs), targets)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        inputs, targets = batch
        logits = self(inputs)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, targets))
        self.log("val_acc", (logits.argmax(dim=1) == targets).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        trainable = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.SGD(trainable, lr=self.hparams["lr"], momentum=0.9)


class ScoredBoringModel(BoringModel):  # type: ignore[misc]
    """Lightning's BoringModel, logging its training and validation losses."""

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        output = super().training_step(batch, batch_idx)
        self.log("loss", output["loss"])
        return output

    def validation_step(self, batch: Any, batch_idx: int) -> Any:
        output = super().validation_step(batch, batch_idx)
        self.log("val_loss", output["x"])
        return output


def trainer(root: Path, **options: Any) -> pl.Trainer:
    """A quiet CPU trainer: 4 training and 2 validation batches an epoch, a log every step."""
    settings: dict[str, Any] = {
        "max_epochs": 2,
        "default_root_dir": root,
        "accelerator": "cpu",
        "devices": 1,
        "limit_train_batches": 4,
        "limit_val_batches": 2,
        "log_every_n_steps": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "deterministic": True,
    }
    settings.update(options)
    return pl.Trainer(**settings)


class RecordRanks(pl.Callback):
    """Writes, per rank, what its ``ModelSyncCallback`` knows when the fit ends."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from modelsync.integrations.lightning import ModelSyncCallback

        (tracked,) = [c for c in trainer.callbacks if isinstance(c, ModelSyncCallback)]
        known = {"run": tracked.run_name, "last": tracked.last_commit, "best": tracked.best_commit}
        (self.directory / f"rank-{trainer.global_rank}.json").write_text(json.dumps(known))


def fit_in_two_processes(repo: Path, out: Path, strategy: str) -> None:
    """A DDP fit on CPU (gloo) in two processes, each writing ``out/rank-<n>.json``."""
    from modelsync.integrations.lightning import ModelSyncCallback

    pl.seed_everything(3, verbose=False)
    callback = ModelSyncCallback(repo=repo, run_name=strategy, monitor="val_loss")
    fitted = trainer(out, strategy=strategy, devices=2, callbacks=[callback, RecordRanks(out)])
    fitted.fit(DigitsMLP(), datamodule=DigitsData())
