"""Runs on a CUDA machine: the GPU in the environment, GPU tensors as metrics, data and models."""

from __future__ import annotations

import pytest
import torch

import modelsync
from modelsync.checkpoints import load_checkpoint
from modelsync.repo.repository import Repo
from modelsync.runs import read as runs
from modelsync.runs.datasets import fingerprint
from modelsync.runs.environment import capture_environment

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_the_environment_names_the_gpus_and_the_cuda_version() -> None:
    torch.zeros(1, device="cuda")
    env, _ = capture_environment()
    assert env.cuda is not None
    assert env.cuda.cuda_version == torch.version.cuda
    assert env.cuda.cudnn_version == str(torch.backends.cudnn.version())
    assert len(env.cuda.gpus) == torch.cuda.device_count()
    assert env.cuda.gpus[0].name == torch.cuda.get_device_name(0)
    assert env.cuda.gpus[0].memory_mib is not None and env.cuda.gpus[0].memory_mib > 1024


def test_capturing_the_environment_does_not_initialise_cuda() -> None:
    import subprocess
    import sys

    probe = (
        "import torch\n"
        "from modelsync.runs.environment import capture_environment\n"
        "env, _ = capture_environment()\n"
        "print(env.cuda is not None and bool(env.cuda.gpus), torch.cuda.is_initialized())"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True", "False"]


def test_gpu_scalars_are_logged_as_metrics(repo: Repo) -> None:
    with modelsync.start_run("gpu-metrics", repo=repo) as run:
        loss = torch.tensor(0.25, device="cuda")
        run.log_metrics({"loss": loss, "acc": torch.tensor([0.5], device="cuda")})
    assert [p.value for p in runs.metric_series(repo, "gpu-metrics", "loss")] == [0.25]
    assert [p.value for p in runs.metric_series(repo, "gpu-metrics", "acc")] == [0.5]


def test_a_gpu_tensor_has_the_fingerprint_of_its_cpu_copy() -> None:
    tensor = torch.randn(64, 32, device="cuda", dtype=torch.bfloat16)
    assert fingerprint(tensor).digest == fingerprint(tensor.cpu()).digest


def test_a_gpu_model_checkpoints_and_loads_back_bit_for_bit(repo: Repo) -> None:
    model = torch.nn.Linear(128, 64).cuda()
    with modelsync.start_run("gpu-model", repo=repo) as run:
        commit = run.checkpoint(model, step=1)
    loaded = load_checkpoint(repo, commit or "", map_location="cpu")
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded[key], tensor.cpu())
    env = runs.get_environment(repo, "gpu-model")
    assert env is not None and env.cuda is not None and env.cuda.gpus
