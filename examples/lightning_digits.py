"""Train a small MLP on scikit-learn's digits with PyTorch Lightning; one callback versions it.

    python examples/lightning_digits.py [--repo PATH] [--lr 0.01] [--epochs 4]

Every epoch becomes a commit on the run's branch (hyperparameters, metrics, the full Lightning
checkpoint, deduplicated); the best epoch by validation loss is tagged ``<run>@best``.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from modelsync import Repo
from modelsync.errors import RepositoryNotFound
from modelsync.integrations.lightning import ModelSyncCallback

try:
    import lightning.pytorch as pl
except ImportError:
    import pytorch_lightning as pl


class DigitsMLP(pl.LightningModule):
    def __init__(self, lr: float = 0.01, hidden: int = 64) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val_loss", nn.functional.cross_entropy(logits, y), prog_bar=True)
        self.log("val_acc", (logits.argmax(dim=1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams["lr"])


def digits_loaders(batch_size: int = 64) -> tuple[DataLoader[tuple[torch.Tensor, ...]], ...]:
    x, y = load_digits(return_X_y=True)
    features = torch.tensor(x / 16.0, dtype=torch.float32)
    labels = torch.tensor(y)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(labels), generator=generator)
    train, valid = order[:1400], order[1400:]
    return (
        DataLoader(TensorDataset(features[train], labels[train]), batch_size, shuffle=True),
        DataLoader(TensorDataset(features[valid], labels[valid]), batch_size),
    )


def train(repo_path: Path, *, lr: float, epochs: int, run_name: str | None = None) -> str:
    """Train once; returns the run's name."""
    pl.seed_everything(0, verbose=False)
    callback = ModelSyncCallback(repo=repo_path, run_name=run_name, monitor="val_loss")
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=5,
    )
    train_loader, valid_loader = digits_loaders()
    with warnings.catch_warnings():
        # the loaders run in the main process on purpose: the data is tiny
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        # Lightning's own pytree helper calls an API that torch has deprecated
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        trainer.fit(DigitsMLP(lr=lr), train_loader, valid_loader)
    assert callback.run_name is not None
    return callback.run_name


def ensure_repo(path: Path) -> None:
    try:
        Repo.open(path).close()
    except RepositoryNotFound:
        Repo.init(path).close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path, default=None)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    repo = args.repo or Path(tempfile.mkdtemp(prefix="modelsync-lightning-"))
    ensure_repo(repo)
    name = train(repo, lr=args.lr, epochs=args.epochs)
    print(f"tracked run {name!r} in {repo}; try: MODELSYNC_DIR={repo} modelsync log {name}")
