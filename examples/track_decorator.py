"""``@modelsync.track`` on a plain training function: no framework, two lines of tracking.

    python examples/track_decorator.py [--repo PATH]

The call's arguments become the run's params, ``modelsync.log`` records metrics from anywhere
inside, and the returned dict of numbers becomes the run's final metrics.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

import modelsync


@modelsync.track
def fit_linear(lr: float = 0.1, epochs: int = 30, noise: float = 0.1) -> dict[str, float]:
    """Gradient descent on a synthetic linear regression."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8))
    true_w = rng.normal(size=8)
    y = x @ true_w + noise * rng.normal(size=500)
    modelsync.dataset(x, name="features")
    w = np.zeros(8)
    for epoch in range(epochs):
        grad = 2 * x.T @ (x @ w - y) / len(y)
        w -= lr * grad
        modelsync.log({"mse": float(np.mean((x @ w - y) ** 2))}, step=epoch)
    mse = float(np.mean((x @ w - y) ** 2))
    return {"mse": mse, "weight_error": float(np.abs(w - true_w).max())}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path, default=None)
    args = parser.parse_args()
    repo = args.repo or Path(tempfile.mkdtemp(prefix="modelsync-track-"))
    if not (repo / ".modelsync").exists():
        modelsync.Repo.init(repo).close()
    os.environ["MODELSYNC_DIR"] = str(repo)
    print(fit_linear(lr=0.05))
