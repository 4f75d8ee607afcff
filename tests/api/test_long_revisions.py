"""Revisions longer than a file name may be: a client error with the usual body, never a 500.

A ref is a file, so a name the file system cannot hold names no ref; looking one up answers
"unknown revision" without the operating system's ``File name too long`` reaching the client.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelsync import Repo

LONGEST_ACCEPTED = "a" * 256
TOO_LONG = "a" * 5000
SHAPES = [
    pytest.param(LONGEST_ACCEPTED, id="256 characters"),
    pytest.param(TOO_LONG, id="5000 characters"),
]

def _requests(rev: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("GET", "/log", {"params": {"rev": rev}}),
        ("GET", f"/show/{rev}", {}),
        ("GET", "/diff", {"params": {"a": rev, "b": "HEAD"}}),
        ("GET", "/diff", {"params": {"a": "HEAD", "b": rev}}),
        ("GET", "/files/README.md", {"params": {"rev": rev}}),
        ("GET", "/checkpoints/tensors", {"params": {"rev": rev}}),
        ("GET", "/checkpoints/diff", {"params": {"a": rev, "b": rev}}),
        ("GET", "/checkpoints/download", {"params": {"rev": rev}}),
        ("POST", "/checkout", {"json": {"rev": rev}}),
    ]


def _assert_client_error(response: Any) -> None:
    assert response.status_code in (400, 404), response.text
    body = response.json()
    assert set(body) == {"code", "message"}
    assert "File name too long" not in body["message"]


@pytest.mark.parametrize("rev", SHAPES)
def test_an_over_long_revision_is_a_client_error_on_every_endpoint(
    client: TestClient, rev: str
) -> None:
    for method, url, kwargs in _requests(rev):
        _assert_client_error(client.request(method, url, **kwargs))


def test_a_256_character_revision_is_an_unknown_revision(client: TestClient) -> None:
    response = client.get("/log", params={"rev": LONGEST_ACCEPTED})
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_revision"


def test_checkout_refuses_a_branch_name_too_long_for_the_file_system(
    client: TestClient, repo: Repo
) -> None:
    head = repo.head_commit()
    response = client.post("/checkout", json={"rev": "HEAD", "create_branch": "é" * 200})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_ref_name"
    assert repo.head_commit() == head
