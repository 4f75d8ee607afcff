"""Track scikit-learn fits: a wrapped estimator, a search with a child run per candidate, and
the best model loaded back from the repository.

    python examples/sklearn_tracked.py [--repo PATH]    # default: a new temporary repository
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelsync import Repo
from modelsync.errors import RepositoryNotFound
from modelsync.integrations.sklearn import Tracked, load
from modelsync.runs.read import list_runs


def main(repo_path: Path) -> None:
    try:
        Repo.open(repo_path).close()
    except RepositoryNotFound:
        Repo.init(repo_path).close()
    X, y = load_digits(return_X_y=True)
    X_train, X_valid, y_train, y_valid = train_test_split(X, y, random_state=0)

    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    search = GridSearchCV(pipeline, {"logisticregression__C": [0.01, 0.1, 1.0]}, cv=3, n_jobs=2)
    model = Tracked(search, repo=repo_path, eval_sets={"valid": (X_valid, y_valid)})
    model.fit(X_train, y_train)

    best = load(model.run_name_, repo=repo_path, trusted=model_types_to_trust())
    print(f"search run {model.run_name_}: best C = {model.best_params_}")
    print(f"reloaded model, validation accuracy {best.score(X_valid, y_valid):.3f}")
    for run in list_runs(repo_path):
        print(f"  {run.name:40} {run.status:9} {run.metrics.get('mean_test_score', '')}")
    print(f"inspect it: modelsync -C {repo_path} runs")


def model_types_to_trust() -> list[str]:
    # a fitted search holds its cross-validation splitter and scorer, which skops only loads
    # when asked: we wrote this repository ourselves a moment ago
    return [
        "sklearn.metrics._scorer._PassthroughScorer",
        "sklearn.model_selection._split.StratifiedKFold",
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path, default=None)
    args = parser.parse_args()
    main(args.repo or Path(tempfile.mkdtemp(prefix="modelsync-sklearn-")))
