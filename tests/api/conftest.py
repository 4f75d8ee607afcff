"""A real repository on disk and the app serving it, reached through the ASGI test client."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelsync import Repo
from modelsync.api import Settings, create_app, get_repo

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE_URL = "http://127.0.0.1:8765"
BIG_FILE_SIZE = 3 << 20


@pytest.fixture(autouse=True)
def _no_server_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MODELSYNC_") and name != "MODELSYNC_NO_PROGRESS":
            monkeypatch.delenv(name)


def _write(repo: Repo, rel: str, data: bytes) -> None:
    path = repo.work_tree / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file beside the repository that no request may ever read or write."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-OUTSIDE-THE-REPOSITORY\n")
    return secret


@pytest.fixture
def repo(repo: Repo) -> Repo:
    """The root fixture's repository with two commits on main (params and metrics change, a
    3 MiB chunked file), a branch at the first and an annotated tag at the second."""
    _write(repo, "README.md", b"# experiment\n")
    _write(repo, "params.json", json.dumps({"params": {"lr": 0.1, "batch_size": 32}}).encode())
    repo.add([str(repo.work_tree / "README.md"), str(repo.work_tree / "params.json")])
    repo.commit("first", meta={"metrics": {"loss": 1.0, "acc": 0.5}})
    _write(repo, "params.json", json.dumps({"params": {"lr": 0.01, "batch_size": 32}}).encode())
    _write(repo, "data/big.bin", bytes(range(256)) * (BIG_FILE_SIZE // 256))
    repo.add([str(repo.work_tree / "params.json"), str(repo.work_tree / "data")])
    repo.commit("second", meta={"metrics": {"loss": 0.5, "acc": 0.75}})
    repo.create_branch("feature", "HEAD~1")
    repo.create_tag("v1", "HEAD", message="first release")
    return repo


def make_app(repo: Repo, **settings: object) -> FastAPI:
    app = create_app(repo.work_tree, Settings(token=TOKEN, **settings))  # type: ignore[arg-type]
    app.dependency_overrides[get_repo] = lambda: repo
    return app


@pytest.fixture
def app(repo: Repo) -> FastAPI:
    return make_app(repo)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """Sends the token with every request."""
    with TestClient(app, base_url=BASE_URL, headers=AUTH) as client:
        yield client


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE_URL) as client:
        yield client


SPIKE_STEP = 500
SERIES_LENGTH = 1000


@pytest.fixture(scope="session")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    """A repository of real runs made with the tracking API (read-only for the tests):

    - ``baseline``: lr 0.1, ``loss`` over 1000 steps with one spike, ``acc``, checkpoints of a
      torch model at steps 500 and 1000 (weights changed between them), label ``best``;
    - ``tuned``: lr 0.01, same batch size;
    - ``broken``: lr 1.0, failed with an error;
    - ``pickled``: a checkpoint holding a value that can only be stored pickled.
    """
    import fractions

    import torch

    from modelsync.runs.start import start_run

    repo = Repo.init(tmp_path_factory.mktemp("tracked") / "repo")
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    with start_run("baseline", repo=repo, params={"lr": 0.1, "batch_size": 32}) as run:
        for step in range(SERIES_LENGTH):
            loss = 50.0 if step == SPIKE_STEP else 1.0 / (step + 1)
            run.log_metrics({"loss": loss, "acc": step / SERIES_LENGTH}, step=step)
            if step == SPIKE_STEP:
                run.checkpoint(model, step=step)
                run.tag("best")
        with torch.no_grad():
            model.weight.mul_(2.0)
        run.checkpoint(model, step=SERIES_LENGTH)
    with start_run("tuned", repo=repo, params={"lr": 0.01, "batch_size": 32}) as run:
        for step in range(100):
            run.log_metrics({"loss": 0.5 / (step + 1)}, step=step)
    with pytest.raises(RuntimeError), start_run("broken", repo=repo, params={"lr": 1.0}) as run:
        run.log_metrics({"loss": float("nan")}, step=0)
        raise RuntimeError("diverged")
    with start_run("pickled", repo=repo, params={"lr": 0.1}) as run:
        run.checkpoint({"weights": model.state_dict(), "ratio": fractions.Fraction(1, 3)}, step=1)
    yield repo
    repo.close()


@pytest.fixture
def reader(tracked: Repo) -> Iterator[TestClient]:
    """A client of the tracked repository, with the token."""
    app = create_app(tracked.work_tree, Settings(token=TOKEN))
    app.dependency_overrides[get_repo] = lambda: tracked
    with TestClient(app, base_url=BASE_URL, headers=AUTH) as client:
        yield client
