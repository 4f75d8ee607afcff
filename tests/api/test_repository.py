"""Repository endpoints against a real repository: what each answers, and the errors' codes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient

from modelsync import Repo
from modelsync.api import Settings, create_app

from .conftest import AUTH, BASE_URL, BIG_FILE_SIZE, TOKEN


def test_status_reports_the_branch_and_a_clean_tree(client: TestClient, repo: Repo) -> None:
    body = client.get("/status").json()
    assert body["branch"] == "main"
    assert body["head"] == repo.head_commit()
    assert body["clean"] is True


def test_add_uploads_a_file_into_the_work_tree_and_stages_it(
    client: TestClient, repo: Repo
) -> None:
    response = client.post(
        "/add", params={"path": "models/weights.bin"}, files={"file": ("w.bin", b"\x00\x01" * 1000)}
    )
    assert response.status_code == 201
    assert response.json() == {"path": "models/weights.bin", "size": 2000, "changed": True}
    assert (repo.work_tree / "models/weights.bin").read_bytes() == b"\x00\x01" * 1000
    assert client.get("/status").json()["staged"] == {"models/weights.bin": "added"}


def test_add_of_identical_content_reports_no_change(client: TestClient) -> None:
    response = client.post(
        "/add", params={"path": "README.md"}, files={"file": ("r", b"# experiment\n")}
    )
    assert response.status_code == 201
    assert response.json()["changed"] is False


def test_add_streams_a_large_upload_to_disk_and_leaves_no_temporary_file(
    client: TestClient, repo: Repo
) -> None:
    payload = bytes(range(256)) * ((5 << 20) // 256)
    response = client.post("/add", params={"path": "large.bin"}, files={"file": ("l", payload)})
    assert response.status_code == 201
    assert (
        hashlib.sha256((repo.work_tree / "large.bin").read_bytes()).digest()
        == hashlib.sha256(payload).digest()
    )
    assert list((repo.control_dir / "tmp").iterdir()) == []


def test_add_without_a_file_part_is_400(client: TestClient) -> None:
    response = client.post("/add", params={"path": "x.txt"}, files={"other": ("x", b"1")})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_upload"


def test_add_with_a_raw_body_is_415(client: TestClient) -> None:
    response = client.post("/add", params={"path": "x.txt"}, content=b"raw")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_commit_then_log_shows_it_first(client: TestClient, repo: Repo) -> None:
    client.post("/add", params={"path": "notes.txt"}, files={"file": ("n", b"hello")})
    created = client.post("/commit", json={"message": "add notes"})
    assert created.status_code == 201
    commit_id = created.json()["id"]
    assert repo.head_commit() == commit_id
    first = client.get("/log", params={"limit": 1}).json()
    assert [c["id"] for c in first["commits"]] == [commit_id]
    assert first["commits"][0]["author"] == {"name": "Test User", "email": "test@example.com"}


def test_commit_with_nothing_staged_is_409(client: TestClient) -> None:
    response = client.post("/commit", json={"message": "again"})
    assert response.status_code == 409
    assert response.json()["code"] == "nothing_to_commit"


def test_log_pages_through_history_with_next_offset(client: TestClient) -> None:
    page1 = client.get("/log", params={"limit": 1}).json()
    page2 = client.get("/log", params={"limit": 1, "offset": page1["next_offset"]}).json()
    assert [c["message"] for c in page1["commits"] + page2["commits"]] == ["second", "first"]
    assert page2["next_offset"] is None


def test_log_of_an_empty_repository_is_empty(tmp_path: Path) -> None:
    Repo.init(tmp_path / "empty").close()
    app = create_app(tmp_path / "empty", Settings(token=TOKEN))
    with TestClient(app, base_url=BASE_URL, headers=AUTH) as client:
        assert client.get("/log").json() == {"commits": [], "next_offset": None}


def test_show_lists_files_and_changes_against_the_parent(client: TestClient) -> None:
    body = client.get("/show/HEAD").json()
    assert body["message"] == "second"
    assert body["meta"]["metrics"] == {"loss": 0.5, "acc": 0.75}
    assert {f["path"]: f["kind"] for f in body["files"]} == {
        "README.md": "blob",
        "data/big.bin": "file",
        "params.json": "blob",
    }
    assert {c["path"]: c["status"] for c in body["changes"]} == {
        "data/big.bin": "added",
        "params.json": "modified",
    }


def test_show_accepts_tags_and_ancestry_suffixes(client: TestClient) -> None:
    assert client.get("/show/v1").json()["message"] == "second"
    assert client.get("/show/HEAD~1").json()["message"] == "first"
    assert client.get("/show/feature").json()["message"] == "first"


def test_show_of_an_unknown_revision_is_404_with_a_suggestion(client: TestClient) -> None:
    response = client.get("/show/featur")
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_revision"
    assert "feature" in response.json()["message"]


def test_diff_reports_the_files_that_changed(client: TestClient, repo: Repo) -> None:
    body = client.get("/diff", params={"a": "HEAD~1", "b": "HEAD"}).json()
    assert body["a"] == repo.resolve("HEAD~1") and body["b"] == repo.head_commit()
    assert {f["path"]: f["status"] for f in body["files"]} == {
        "data/big.bin": "added",
        "params.json": "modified",
    }
    assert body["run"] is None


def test_download_streams_a_chunked_file_byte_for_byte(client: TestClient) -> None:
    response = client.get("/files/data/big.bin")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith('attachment; filename="big.bin"')
    assert response.content == bytes(range(256)) * (BIG_FILE_SIZE // 256)


def test_download_reads_the_file_as_committed_in_the_revision(client: TestClient) -> None:
    old = client.get("/files/params.json", params={"rev": "HEAD~1"}).json()
    assert old == {"params": {"lr": 0.1, "batch_size": 32}}


def test_download_of_a_missing_path_is_404(client: TestClient) -> None:
    response = client.get("/files/nope.txt")
    assert response.status_code == 404
    assert response.json()["code"] == "path_not_found"


def test_checkout_moves_head_and_rewrites_the_work_tree(client: TestClient, repo: Repo) -> None:
    response = client.post("/checkout", json={"rev": "feature"})
    assert response.status_code == 200
    assert response.json()["branch"] == "feature"
    assert not (repo.work_tree / "data/big.bin").exists()
    assert client.get("/status").json()["branch"] == "feature"


def test_checkout_over_uncommitted_changes_is_409(client: TestClient, repo: Repo) -> None:
    (repo.work_tree / "params.json").write_text("changed")
    response = client.post("/checkout", json={"rev": "feature"})
    assert response.status_code == 409
    assert response.json()["code"] == "working_tree_dirty"
    assert (repo.work_tree / "params.json").read_text() == "changed"


def test_init_creates_the_served_repository_once(tmp_path: Path) -> None:
    app = create_app(tmp_path / "new", Settings(token=TOKEN))
    with TestClient(app, base_url=BASE_URL, headers=AUTH) as client:
        missing = client.get("/status")
        assert missing.status_code == 404
        assert missing.json()["code"] == "repository_not_found"
        created = client.post("/init", json={"name": "Bo", "default_branch": "trunk"})
        assert created.status_code == 201
        assert client.get("/status").json()["branch"] == "trunk"
        again = client.post("/init", json={})
        assert again.status_code == 409
        assert again.json()["code"] == "repository_exists"
    assert (tmp_path / "new" / ".modelsync" / "HEAD").is_file()


def test_the_served_repository_is_never_a_parent_found_by_searching_upwards(
    repo: Repo,
) -> None:
    inner = repo.work_tree / "sub"
    inner.mkdir()
    app = create_app(inner, Settings(token=TOKEN))
    with TestClient(app, base_url=BASE_URL, headers=AUTH) as client:
        assert client.get("/status").status_code == 404


def test_invalid_query_parameters_are_400_not_422(client: TestClient) -> None:
    response = client.get("/log", params={"limit": 0})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


def test_unknown_routes_are_json_404(client: TestClient) -> None:
    response = client.get("/no/such/endpoint")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Not Found"}
