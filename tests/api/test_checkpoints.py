"""Checkpoints over HTTP: tensor listings, per-tensor diffs, downloads; never unpickled."""

from __future__ import annotations

import io
import pickle

import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import load as load_safetensors

from modelsync import Repo
from modelsync.checkpoints import load_checkpoint


def test_tensor_listing_of_a_checkpoint_commit(reader: TestClient, tracked: Repo) -> None:
    body = reader.get("/checkpoints/tensors", params={"rev": "baseline@best"}).json()
    assert body["commit"] == tracked.resolve("baseline@best")
    assert [(t["name"], t["dtype"], t["shape"]) for t in body["tensors"]] == [
        ("weight", "float32", [3, 4]),
        ("bias", "float32", [3]),
    ]
    assert body["total_bytes"] == 60
    assert body["pickled"] == []


def test_per_tensor_diff_between_two_checkpoints(reader: TestClient) -> None:
    body = reader.get("/checkpoints/diff", params={"a": "baseline@best", "b": "baseline"}).json()
    changes = {t["name"]: t for t in body["tensors"]}
    assert changes["bias"]["status"] == "unchanged"
    weight = changes["weight"]
    assert weight["status"] == "changed"
    assert weight["relative"] == pytest.approx(1.0)
    assert weight["max_abs"] > 0


def test_safetensors_download_holds_the_exact_weights(reader: TestClient, tracked: Repo) -> None:
    response = reader.get(
        "/checkpoints/download", params={"rev": "baseline@best", "format": "safetensors"}
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    weights = load_safetensors(response.content)
    stored = load_checkpoint(tracked, "baseline@best")
    assert set(weights) == {"weight", "bias"}
    assert torch.equal(weights["weight"], stored["weight"])
    assert not list((tracked.control_dir / "tmp").glob("export-*"))


def test_ckpt_download_loads_with_torch_weights_only(reader: TestClient, tracked: Repo) -> None:
    response = reader.get("/checkpoints/download", params={"rev": "baseline", "format": "ckpt"})
    assert response.status_code == 200
    loaded = torch.load(io.BytesIO(response.content), weights_only=True)
    assert torch.equal(loaded["weight"], load_checkpoint(tracked, "baseline")["weight"])


def test_a_commit_without_checkpoint_is_404(reader: TestClient) -> None:
    response = reader.get("/checkpoints/tensors", params={"rev": "tuned"})
    assert response.status_code == 404
    assert response.json()["code"] == "no_checkpoint"


def test_pickled_values_are_listed_never_loaded(
    reader: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("the server unpickled a stored value")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    listing = reader.get("/checkpoints/tensors", params={"rev": "pickled"}).json()
    assert listing["pickled"] == [{"path": "ratio", "type": "fractions.Fraction"}]
    weights = reader.get(
        "/checkpoints/download", params={"rev": "pickled", "format": "safetensors"}
    )
    assert weights.status_code == 200
    whole = reader.get("/checkpoints/download", params={"rev": "pickled", "format": "ckpt"})
    assert whole.status_code == 400
    assert whole.json()["code"] == "unsafe_load"
    assert (
        reader.get("/checkpoints/diff", params={"a": "baseline", "b": "pickled"}).status_code == 200
    )
