"""Materialising checkpoints as standard files: ``.ckpt`` (torch.save) and safetensors."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from typer.testing import CliRunner  # noqa: E402

from modelsync.checkpoints import export_checkpoint, save_checkpoint  # noqa: E402
from modelsync.cli.main import app  # noqa: E402
from modelsync.errors import UsageError  # noqa: E402
from modelsync.repo.repository import Repo  # noqa: E402


def test_safetensors_export_holds_the_weights_by_name(repo: Repo, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    checkpoint = {"epoch": 3, "state_dict": model.state_dict(), "optimizer_states": []}
    commit = save_checkpoint(repo, checkpoint)
    path = export_checkpoint(repo, commit, tmp_path, format="safetensors")
    assert path == tmp_path / "model.safetensors"
    weights = safetensors_torch.load_file(path)
    assert weights.keys() == model.state_dict().keys()
    for key, tensor in model.state_dict().items():
        assert torch.equal(weights[key], tensor)


def test_safetensors_export_writes_tied_weights_under_each_name(repo: Repo, tmp_path: Path) -> None:
    embed = torch.nn.Embedding(5, 3)
    state = {"embed.weight": embed.weight.detach(), "head.weight": embed.weight.detach()}
    path = export_checkpoint(repo, save_checkpoint(repo, state), tmp_path, format="safetensors")
    weights = safetensors_torch.load_file(path)
    assert torch.equal(weights["embed.weight"], weights["head.weight"])
    assert torch.equal(weights["head.weight"], embed.weight.detach())


def test_ckpt_export_is_what_torch_load_reads_with_weights_only(repo: Repo, tmp_path: Path) -> None:
    state = {"epoch": 1, "w": torch.arange(6).reshape(2, 3), "betas": (0.9, 0.99)}
    path = export_checkpoint(repo, save_checkpoint(repo, state), tmp_path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["epoch"] == 1 and loaded["betas"] == (0.9, 0.99)
    assert torch.equal(loaded["w"], state["w"])


def test_export_refuses_a_file_where_a_directory_should_be(repo: Repo, tmp_path: Path) -> None:
    commit = save_checkpoint(repo, {"w": torch.ones(1)})
    (tmp_path / "taken").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        export_checkpoint(repo, commit, tmp_path / "taken")


def test_checkout_to_writes_the_file_and_leaves_head_alone(repo: Repo, tmp_path: Path) -> None:
    commit = save_checkpoint(repo, {"w": torch.ones(2)}, branch="runs/x")
    runner = CliRunner()
    result = runner.invoke(
        app, ["checkout", "runs/x", "--to", str(tmp_path / "out"), "--repo", str(repo.work_tree)]
    )
    assert result.exit_code == 0, result.output
    assert torch.equal(torch.load(tmp_path / "out" / "checkpoint.ckpt")["w"], torch.ones(2))
    assert repo.head_branch() == "main" and repo.head_commit() is None
    result = runner.invoke(
        app,
        [
            "checkout",
            commit,
            "--to",
            str(tmp_path / "st"),
            "--format",
            "safetensors",
            "-C",
            str(repo.work_tree),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "st" / "model.safetensors").is_file()
    bad = runner.invoke(
        app,
        ["checkout", commit, "--to", str(tmp_path), "--format", "zip", "-C", str(repo.work_tree)],
    )
    assert bad.exit_code == 1
    assert "unknown format 'zip'" in bad.output
