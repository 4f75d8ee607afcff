"""The quick-start demo (`make demo`): real training runs tracked into ./demo-repo, then
inspected from the CLI exactly as a user would.

1. two PyTorch Lightning runs of an MLP on scikit-learn's digits, with ModelSyncCallback;
2. a scikit-learn estimator wrapped in Tracked;
3. a plain function under @modelsync.track;
4. `modelsync runs`, `log`, `compare`, `diff`, `metrics`, `show`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from lightning_digits import train
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from track_decorator import fit_linear

import modelsync
from modelsync.integrations.sklearn import Tracked

REPO = Path(os.environ.get("MODELSYNC_DEMO_REPO", "demo-repo")).resolve()


def cli(*args: str) -> None:
    print(f"\n$ modelsync {shlex.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "modelsync", *args], check=True)


def main() -> None:
    shutil.rmtree(REPO, ignore_errors=True)
    modelsync.Repo.init(REPO).close()
    os.environ["MODELSYNC_DIR"] = str(REPO)

    print("training two Lightning runs on digits ...", flush=True)
    fast = train(REPO, lr=0.01, epochs=4, run_name="mlp-lr-0.01")
    slow = train(REPO, lr=0.001, epochs=4, run_name="mlp-lr-0.001")

    print("fitting a tracked scikit-learn model ...", flush=True)
    x, y = load_digits(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(x, y, random_state=0)
    Tracked(
        LogisticRegression(max_iter=2000),
        repo=REPO,
        run_name="logreg",
        eval_sets={"valid": (x_valid, y_valid)},
    ).fit(x_train, y_train)

    print("running a @modelsync.track function ...", flush=True)
    fit_linear(lr=0.05)

    cli("runs")
    cli("log", fast, "--oneline")
    cli("runs", "--where", "metrics.val_acc > 0.9", "--sort", "-metrics.val_acc")
    cli("compare", fast, slow)
    cli("diff", f"{fast}@best", f"{slow}@best")
    cli("metrics", fast, slow, "--key", "val_loss")
    cli("fsck")
    print(f"\nThe repository is in {REPO}; explore it with MODELSYNC_DIR={REPO} modelsync --help")


if __name__ == "__main__":
    main()
