"""``show`` lists a checkpoint's tensors; ``diff`` reports each tensor's change."""

from __future__ import annotations

import json
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from modelsync.checkpoints import save_checkpoint  # noqa: E402
from modelsync.cli.main import app  # noqa: E402
from modelsync.repo.repository import Repo  # noqa: E402


def run(repo: Repo, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--repo", str(repo.work_tree)])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def two_epochs(repo: Repo) -> tuple[str, str]:
    embed = torch.nn.Embedding(4, 2)
    state = {
        "epoch": 0,
        "state_dict": {
            "embed.weight": embed.weight.detach(),
            "head.weight": embed.weight.detach(),
            "bias": torch.tensor([3.0, 4.0]),
        },
    }
    first = save_checkpoint(repo, state, "epoch 0", branch="runs/cli")
    state = {
        "epoch": 1,
        "state_dict": {
            "embed.weight": embed.weight.detach(),
            "head.weight": embed.weight.detach(),
            "bias": torch.tensor([3.0, 7.0]),
            "scale": torch.ones(3, dtype=torch.bfloat16),
        },
    }
    second = save_checkpoint(repo, state, "epoch 1", branch="runs/cli")
    return first, second


def test_show_lists_tensors_with_dtype_shape_and_size(
    repo: Repo, two_epochs: tuple[str, str]
) -> None:
    output = run(repo, "show", "runs/cli").output
    assert "Checkpoint (3 tensors, 46 B):" in output
    lines = [line.split() for line in output.splitlines()]
    assert [
        "state_dict/embed.weight",
        "float32",
        "[4,",
        "2]",
        "32",
        "B",
        "(tied:",
        "state_dict/head.weight)",
    ] in lines
    assert ["state_dict/scale", "bfloat16", "[3]", "6", "B"] in lines


def test_show_json_has_the_tensor_table(repo: Repo, two_epochs: tuple[str, str]) -> None:
    document = json.loads(run(repo, "show", "runs/cli", "--json").output)
    tensors = {t["name"]: t for t in document["checkpoint"]["tensors"]}
    assert tensors["state_dict/bias"] == {
        "name": "state_dict/bias",
        "dtype": "float32",
        "shape": [2],
        "nbytes": 8,
        "device": "cpu",
        "chunks": 1,
        "tied": [],
    }
    assert tensors["state_dict/embed.weight"]["tied"] == ["state_dict/head.weight"]
    assert document["checkpoint"]["nbytes"] == 46
    assert document["checkpoint"]["pickled"] == []


def test_diff_reports_tensor_changes(repo: Repo, two_epochs: tuple[str, str]) -> None:
    first, second = two_epochs
    output = run(repo, "diff", first, second).output
    assert "changed   state_dict/bias  float32 [2]  l2 3  relative 0.6  max |diff| 3" in output
    assert "added     state_dict/scale  bfloat16 [3]  6 B" in output
    assert "1 of 3 tensors unchanged" in output


def test_diff_json_has_every_tensor(repo: Repo, two_epochs: tuple[str, str]) -> None:
    first, second = two_epochs
    (change,) = json.loads(run(repo, "diff", first, second, "--json").output)
    assert change["path"] == "checkpoint"
    tensors = {t["name"]: t for t in change["patch"]["tensors"]}
    assert {name: t["status"] for name, t in tensors.items()} == {
        "state_dict/embed.weight": "unchanged",
        "state_dict/bias": "changed",
        "state_dict/scale": "added",
    }
    assert tensors["state_dict/bias"]["l2"] == pytest.approx(3.0)
    assert tensors["state_dict/bias"]["relative"] == pytest.approx(0.6)
    assert tensors["state_dict/bias"]["max_abs"] == pytest.approx(3.0)
