"""What checkpointing every epoch costs a Lightning fit: ``ModelSyncCallback`` beside no
checkpointing, Lightning's ``ModelCheckpoint(save_top_k=-1)`` and MLflow's autolog with
checkpoints (when mlflow is installed).

    python benchmarks/bench_lightning.py [--epochs 10] [--batches 40] [--repeats 5] [--dir /tmp]

The model is a frozen ``--backbone-mib`` backbone (an embedding table and two linear layers, as
a pretrained encoder would be) under a small trainable head; every configuration commits or
saves the full Lightning checkpoint at each epoch end. Wall time is ``trainer.fit`` from start
to return (ModelSync's background writer included: the fit waits for it at its end); stored
bytes is what each leaves on disk (ModelSync: the whole repository). Each configuration runs
``--repeats`` times after a warm-up round, interleaved, each time into a fresh directory that
is removed afterwards. Each fit starts after a full garbage collection and ``os.sync``, so that
none pays for the garbage or the unwritten files of the fit before it. The table gives
medians. Torch computes on one thread, as on a shared machine its idle threads
otherwise spin and dominate a small step.
Targets: ModelSync adds at most 20% of the time ModelCheckpoint adds, and stores at most 1/8
of its bytes. The default environment capture (installed packages, git state) is on, as for a
user.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from _common import mib, print_table, tree_size
from torch.utils.data import DataLoader, TensorDataset

from modelsync import Repo
from modelsync.integrations.lightning import ModelSyncCallback
from modelsync.integrations.lightning._compat import pl

TOKENS = 32
WIDTH = 128


class FrozenBackbone(torch.nn.Module):
    """An embedding table and two linear layers, frozen: what fine-tuning a head leaves alone."""

    def __init__(self, mib_size: int) -> None:
        super().__init__()
        rows = mib_size * (1 << 20) // (WIDTH * 4)
        self.embed = torch.nn.EmbeddingBag(rows, WIDTH, mode="mean")
        self.encode = torch.nn.Sequential(
            torch.nn.Linear(WIDTH, 4 * WIDTH), torch.nn.GELU(), torch.nn.Linear(4 * WIDTH, WIDTH)
        )
        self.requires_grad_(False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.encode(self.embed(tokens))  # type: ignore[no-any-return]


class HeadOnBackbone(pl.LightningModule):
    def __init__(self, backbone_mib: int, classes: int = 10) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.backbone = FrozenBackbone(backbone_mib)
        self.head = torch.nn.Sequential(
            torch.nn.Linear(WIDTH, 256), torch.nn.ReLU(), torch.nn.Linear(256, classes)
        )

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        tokens, labels = batch
        with torch.no_grad():
            features = self.backbone(tokens)
        loss = torch.nn.functional.cross_entropy(self.head(features), labels)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.head.parameters(), lr=1e-3)


def data(rows: int, batches: int) -> DataLoader[Any]:
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, rows, (batches * 64, TOKENS), generator=generator)
    labels = torch.randint(0, 10, (batches * 64,), generator=generator)
    return DataLoader(TensorDataset(tokens, labels), batch_size=64)


Setup = Callable[[Path], tuple[list[Any], bool, Path | None]]
"""``workdir -> (callbacks, enable_checkpointing, where its bytes are stored)``."""


def no_checkpoints(workdir: Path) -> tuple[list[Any], bool, Path | None]:
    return [], False, None


def model_checkpoint(workdir: Path) -> tuple[list[Any], bool, Path | None]:
    saver = pl.callbacks.ModelCheckpoint(dirpath=workdir / "ckpts", save_top_k=-1)
    return [saver], True, workdir / "ckpts"


def modelsync_callback(workdir: Path) -> tuple[list[Any], bool, Path | None]:
    Repo.init(workdir / "repo").close()
    return [ModelSyncCallback(repo=workdir / "repo")], False, workdir / "repo" / ".modelsync"


def mlflow_autolog(workdir: Path) -> tuple[list[Any], bool, Path | None]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    artifacts = (workdir / "mlflow-artifacts").as_uri()
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("bench", artifacts))
    mlflow.pytorch.autolog(
        checkpoint=True,
        checkpoint_monitor="train_loss_epoch",
        checkpoint_save_best_only=False,
        checkpoint_save_freq="epoch",
        log_models=False,
        log_datasets=False,
        silent=True,
    )
    return [], False, workdir / "mlflow-artifacts"


def mlflow_installed() -> bool:
    try:
        import mlflow.pytorch  # noqa: F401
    except ImportError:
        return False
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    return True


def fit_once(setup: Setup, workdir: Path, args: argparse.Namespace) -> tuple[float, int]:
    workdir.mkdir(parents=True)
    callbacks, checkpointing, stored = setup(workdir)
    torch.manual_seed(0)
    model = HeadOnBackbone(args.backbone_mib)
    loader = data(model.backbone.embed.num_embeddings, args.batches)
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        default_root_dir=workdir,
        accelerator="cpu",
        devices=1,
        logger=False,
        callbacks=callbacks,
        enable_checkpointing=checkpointing,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=10,
    )
    gc.collect()  # no fit pays for the garbage the one before it left,
    os.sync()  # nor for writing back the files it left unsynced
    start = time.perf_counter()
    trainer.fit(model, loader)
    elapsed = time.perf_counter() - start
    size = 0 if stored is None else tree_size(stored)
    shutil.rmtree(workdir)  # 650 MiB a round otherwise fill the page cache
    return elapsed, size


def bench(workdir: Path, args: argparse.Namespace) -> None:
    configurations: dict[str, Setup] = {
        "no checkpointing": no_checkpoints,
        "ModelCheckpoint(save_top_k=-1)": model_checkpoint,
        "ModelSyncCallback": modelsync_callback,
    }
    if mlflow_installed():
        configurations["MLflow autolog (checkpoints)"] = mlflow_autolog
    times: dict[str, list[float]] = {name: [] for name in configurations}
    stored: dict[str, int] = {}
    for round_ in range(args.repeats + 1):  # round 0 warms up every configuration
        for index, (name, setup) in enumerate(configurations.items()):
            seconds, size = fit_once(setup, workdir / f"{round_}-{index}", args)
            if name.startswith("MLflow"):
                import mlflow.pytorch

                mlflow.pytorch.autolog(disable=True)
            if round_:
                times[name].append(seconds)
                stored[name] = size
    wall = {name: statistics.median(values) for name, values in times.items()}
    base = wall["no checkpointing"]
    added = {name: value - base for name, value in wall.items()}
    rows = [
        [
            name,
            f"{wall[name]:.2f}",
            "-" if name == "no checkpointing" else f"{added[name]:+.2f}",
            mib(stored[name]),
        ]
        for name in configurations
    ]
    print_table(
        f"Lightning fit, {args.epochs} epochs x {args.batches} batches, frozen "
        f"{args.backbone_mib} MiB backbone, a checkpoint every epoch (median of {args.repeats})",
        ["configuration", "wall s", "added s", "stored"],
        rows,
    )
    for name, values in times.items():
        print(f"{name}: {', '.join(f'{value:.2f}' for value in values)} s")
    reference = "ModelCheckpoint(save_top_k=-1)"
    time_ratio = added["ModelSyncCallback"] / added[reference]
    bytes_ratio = stored["ModelSyncCallback"] / stored[reference]
    print(f"ModelSync's added time / ModelCheckpoint's: {time_ratio:.1%} (target <= 20%)")
    print(f"ModelSync's stored bytes / ModelCheckpoint's: {bytes_ratio:.1%} (target <= 12.5%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--backbone-mib", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # Lightning's and MLflow's advice on these settings
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        bench(Path(tmp), args)


if __name__ == "__main__":
    main()
