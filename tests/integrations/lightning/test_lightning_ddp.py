"""Two CPU processes (gloo): rank 0 commits each checkpoint once, every rank agrees on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from modelsync.repo.repository import Repo
from modelsync.runs import read as runs
from tests.support.lightning_models import fit_in_two_processes

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*is deprecated:FutureWarning"),
    # The tests load data in the main process on purpose (num_workers=0): small and quick.
    pytest.mark.filterwarnings("ignore:The '.*dataloader' does not have many workers"),
    pytest.mark.filterwarnings("ignore:GPU available but not used"),
]


def assert_one_commit_per_checkpoint_that_every_rank_knows(
    repo: Repo, out: Path, name: str
) -> None:
    assert [run.name for run in runs.list_runs(repo)] == [name]
    assert runs.get_run(repo, name).status == "finished"
    assert [model.step for model in runs.list_checkpoints(repo, name)] == [4, 8]
    kinds = [commit.meta["kind"] for _, commit in repo.log(name)]
    assert kinds == ["status", "checkpoint", "checkpoint", "start"]
    ranks = [json.loads((out / f"rank-{rank}.json").read_text()) for rank in (0, 1)]
    expected = {
        "run": name,
        "last": repo.resolve(f"{name}@last"),
        "best": repo.resolve(f"{name}@best"),
    }
    assert ranks == [expected, expected]
    assert len(runs.metric_series(repo, name, "val_loss")) == 2


def test_ddp_spawn(repo: Repo, tmp_path: Path) -> None:
    fit_in_two_processes(repo.work_tree, tmp_path, "ddp_spawn")
    assert_one_commit_per_checkpoint_that_every_rank_knows(repo, tmp_path, "ddp_spawn")


def test_ddp(repo: Repo, tmp_path: Path) -> None:
    script = Path(__file__).parents[2] / "support" / "lightning_ddp_script.py"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    subprocess.run(
        [sys.executable, str(script), str(repo.work_tree), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    assert_one_commit_per_checkpoint_that_every_rank_knows(repo, tmp_path, "ddp")
