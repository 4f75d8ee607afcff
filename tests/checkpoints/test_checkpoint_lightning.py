"""A checkpoint stored by ModelSync and exported as ``.ckpt`` is one Lightning resumes from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("pytorch_lightning")

from pytorch_lightning.demos.boring_classes import BoringModel  # noqa: E402

from modelsync.checkpoints import export_checkpoint, save_checkpoint  # noqa: E402
from modelsync.repo.repository import Repo  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    # Lightning 2.6's own pytree helper calls an API torch deprecated; nothing of ours.
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*is deprecated:FutureWarning"),
    # Each resumed run writes under its own directory; ModelCheckpoint says it will not carry
    # its list of best files over from the first run's directory, which these tests do not use.
    pytest.mark.filterwarnings("ignore:The dirpath has changed:UserWarning"),
    # These runs pin the CPU on purpose; on a machine with a GPU Lightning points that out.
    pytest.mark.filterwarnings("ignore:GPU available but not used"),
]


def trainer(root: Path, max_epochs: int) -> Any:
    return pl.Trainer(
        max_epochs=max_epochs,
        default_root_dir=root,
        accelerator="cpu",
        devices=1,
        limit_train_batches=4,
        limit_val_batches=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
    )


def train_one_epoch(root: Path) -> Path:
    """A real Lightning checkpoint (model, optimizer, loops, callbacks) after one epoch."""
    pl.seed_everything(7, verbose=False)
    trainer(root, max_epochs=1).fit(BoringModel())
    (path,) = root.rglob("*.ckpt")
    return path


def resume_to_two_epochs(root: Path, ckpt: Path) -> tuple[dict[str, Any], int, int]:
    pl.seed_everything(11, verbose=False)
    run = trainer(root, max_epochs=2)
    model = BoringModel()
    run.fit(model, ckpt_path=ckpt)
    return model.state_dict(), run.global_step, run.current_epoch


def test_lightning_resumes_from_an_exported_ckpt_as_from_its_own(
    repo: Repo, tmp_path: Path
) -> None:
    original = train_one_epoch(tmp_path / "train")
    checkpoint = torch.load(original, map_location="cpu", weights_only=True)
    commit = save_checkpoint(repo, checkpoint, "epoch 0", branch="runs/boring")
    exported = export_checkpoint(repo, commit, tmp_path / "export")

    ours = resume_to_two_epochs(tmp_path / "from-ours", exported)
    theirs = resume_to_two_epochs(tmp_path / "from-lightning", original)
    assert ours[1:] == theirs[1:] == (8, 2)
    for key, tensor in theirs[0].items():
        assert torch.equal(ours[0][key], tensor), key


def test_an_exported_ckpt_holds_the_whole_lightning_checkpoint(repo: Repo, tmp_path: Path) -> None:
    original = train_one_epoch(tmp_path / "train")
    checkpoint = torch.load(original, map_location="cpu", weights_only=True)
    commit = save_checkpoint(repo, checkpoint)
    assert repo.read_commit(commit).meta == {"kind": "checkpoint", "epoch": 0, "step": 4}
    exported = torch.load(export_checkpoint(repo, commit, tmp_path / "export"), weights_only=True)
    assert list(exported) == list(checkpoint)
    for key in ("epoch", "global_step", "loops", "lr_schedulers", "pytorch-lightning_version"):
        assert exported[key] == checkpoint[key]
    for key, tensor in checkpoint["state_dict"].items():
        assert torch.equal(exported["state_dict"][key], tensor)
    old_state = checkpoint["optimizer_states"][0]["state"]
    new_state = exported["optimizer_states"][0]["state"]
    assert new_state.keys() == old_state.keys()
    assert (
        exported["optimizer_states"][0]["param_groups"]
        == checkpoint["optimizer_states"][0]["param_groups"]
    )
