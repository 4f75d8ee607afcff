"""On a CUDA machine: a fit on the GPU snapshots CPU copies, bit for bit, and resumes from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.slow,
    # Lightning's own pytree helper calls an API torch deprecated; nothing of ours.
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*is deprecated:FutureWarning"),
    # The tests load data in the main process on purpose (num_workers=0): small and quick.
    pytest.mark.filterwarnings("ignore:The '.*dataloader' does not have many workers"),
]

pytest.importorskip("sklearn")

import modelsync  # noqa: E402
from modelsync.checkpoints import describe_checkpoint, load_checkpoint  # noqa: E402
from modelsync.integrations.lightning import ModelSyncCallback  # noqa: E402
from modelsync.integrations.lightning._compat import pl  # noqa: E402
from modelsync.repo.repository import Repo  # noqa: E402
from modelsync.runs import read as runs  # noqa: E402
from tests.support.lightning_models import DigitsData, DigitsMLP, trainer  # noqa: E402


class SaveEachEpoch(pl.Callback):
    """Lightning's own checkpoint, taken at the point the ModelSync snapshot is."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        trainer.save_checkpoint(self.directory / f"epoch{trainer.current_epoch}.ckpt")


def gpu_fit(
    root: Path, callback: ModelSyncCallback, ckpt_path: Any = None, **options: Any
) -> pl.LightningModule:
    pl.seed_everything(3, verbose=False)
    model = DigitsMLP()
    fitted = trainer(root, accelerator="gpu", callbacks=[callback, SaveEachEpoch(root)], **options)
    fitted.fit(model, datamodule=DigitsData(), ckpt_path=ckpt_path)
    return model


def test_snapshots_of_a_gpu_fit_are_the_gpu_tensors_bit_for_bit(repo: Repo, tmp_path: Path) -> None:
    model = gpu_fit(tmp_path, ModelSyncCallback(run_name="gpu"))
    listed = runs.list_checkpoints(repo, "gpu")
    assert [checkpoint.step for checkpoint in listed] == [4, 8]
    weights = describe_checkpoint(repo, listed[-1].commit).tensors
    assert all(record.device.startswith("cuda") for record in weights)
    for epoch, checkpoint in enumerate(listed):
        ours = load_checkpoint(repo, checkpoint.commit)
        theirs = torch.load(tmp_path / f"epoch{epoch}.ckpt", map_location="cpu", weights_only=True)
        for key, tensor in theirs["state_dict"].items():
            assert torch.equal(ours["state_dict"][key], tensor), key
        for index, state in theirs["optimizer_states"][0]["state"].items():
            mine = ours["optimizer_states"][0]["state"][index]["momentum_buffer"]
            assert torch.equal(mine, state["momentum_buffer"])
    final = load_checkpoint(repo, "gpu@last", map_location="cuda")
    for key, tensor in model.state_dict().items():  # Lightning moved the model back to the CPU
        assert final["state_dict"][key].is_cuda
        assert torch.equal(final["state_dict"][key].cpu(), tensor), key


def test_a_gpu_fit_resumes_from_a_commit_as_from_lightnings_ckpt(
    repo: Repo, tmp_path: Path
) -> None:
    gpu_fit(tmp_path / "first", ModelSyncCallback(run_name="first"), max_epochs=1)
    resumed = ModelSyncCallback(resume="runs/first")
    ours = gpu_fit(tmp_path / "ours", resumed, max_epochs=2, ckpt_path=resumed.ckpt_path)
    theirs = gpu_fit(
        tmp_path / "theirs",
        ModelSyncCallback(run_name="theirs"),
        max_epochs=2,
        ckpt_path=tmp_path / "first" / "epoch0.ckpt",
    )
    for key, tensor in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], tensor), key
    assert [checkpoint.step for checkpoint in runs.list_checkpoints(repo, "first")] == [4, 8]
    assert modelsync.checkpoint_path("first@last").is_file()
