"""Branches and tags over HTTP: list, create, delete, and the conflicts (409) they can hit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from modelsync import Repo


def test_branches_lists_every_branch_and_marks_the_current_one(
    client: TestClient, repo: Repo
) -> None:
    body = client.get("/branches").json()
    assert body == [
        {"name": "feature", "commit": repo.resolve("HEAD~1"), "current": False},
        {"name": "main", "commit": repo.head_commit(), "current": True},
    ]


def test_create_branch_at_a_revision(client: TestClient, repo: Repo) -> None:
    response = client.post("/branches", json={"name": "runs/exp-1", "rev": "HEAD~1"})
    assert response.status_code == 201
    assert repo.branch_head("runs/exp-1") == repo.resolve("HEAD~1")


def test_create_existing_branch_is_409_unless_forced(client: TestClient, repo: Repo) -> None:
    response = client.post("/branches", json={"name": "feature"})
    assert response.status_code == 409
    assert response.json()["code"] == "ref_exists"
    assert repo.branch_head("feature") == repo.resolve("HEAD~1")
    forced = client.post("/branches", json={"name": "feature", "force": True})
    assert forced.status_code == 201
    assert repo.branch_head("feature") == repo.head_commit()


def test_create_branch_with_an_invalid_name_is_400(client: TestClient) -> None:
    response = client.post("/branches", json={"name": "bad..name"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_ref_name"


def test_delete_branch(client: TestClient, repo: Repo) -> None:
    response = client.delete("/branches/feature")
    assert response.status_code == 200
    assert response.json()["commit"] == repo.resolve("HEAD~1")
    assert repo.branch_head("feature") is None


def test_delete_the_checked_out_branch_is_refused(client: TestClient, repo: Repo) -> None:
    response = client.delete("/branches/main")
    assert response.status_code == 400
    assert repo.branch_head("main") is not None


def test_delete_unknown_branch_is_404(client: TestClient) -> None:
    response = client.delete("/branches/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_revision"


def test_tags_list_peels_annotated_tags_to_their_commit(client: TestClient, repo: Repo) -> None:
    assert client.get("/tags").json() == [
        {"name": "v1", "commit": repo.head_commit(), "current": False}
    ]


def test_create_and_delete_a_tag(client: TestClient, repo: Repo) -> None:
    created = client.post("/tags", json={"name": "runs/exp@best", "rev": "HEAD~1"})
    assert created.status_code == 201
    assert repo.resolve("runs/exp@best") == repo.resolve("HEAD~1")
    assert client.post("/tags", json={"name": "runs/exp@best"}).status_code == 409
    deleted = client.delete("/tags/runs/exp@best")
    assert deleted.status_code == 200
    assert "runs/exp@best" not in repo.tags()


def test_tag_at_an_unknown_revision_is_404(client: TestClient) -> None:
    response = client.post("/tags", json={"name": "v2", "rev": "nope"})
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_revision"
