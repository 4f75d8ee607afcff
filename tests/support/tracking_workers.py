"""Training functions that the multi-process tracking tests run in worker processes.

They live in an importable module (not a test file) so that spawned processes and joblib's
workers can import them by name.
"""

from __future__ import annotations

import modelsync

STEPS = 300
KEYS = ("loss", "acc", "lr")


def train(seed: int, steps: int = STEPS) -> dict[str, float]:
    for step in range(steps):
        modelsync.log({"loss": 1.0 / (step + 1), "acc": step / steps, "lr": 0.1})
    return {"final_score": float(seed)}


def run_trainings(repo_path: str, worker: int, count: int) -> int:
    """``count`` tracked calls of ``train`` in this process; strict, so any error raises."""
    tracked = modelsync.track(train, repo=repo_path, name=f"worker-{worker}", strict=True)
    for index in range(count):
        tracked(seed=worker * 100 + index)
    return count
