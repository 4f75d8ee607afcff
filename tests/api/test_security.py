"""Secure by default: tokens for writes (and reads), the Host guard, paths and revisions that
cannot leave the repository, size limits, no CORS unless asked, safe response headers."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelsync import Repo
from modelsync.api.security import WRITE_METHODS

from .conftest import AUTH, BASE_URL, TOKEN, make_app


def _write_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Every write operation the app documents, with ``x`` for each path parameter."""
    for path, operations in app.openapi()["paths"].items():
        for method in sorted(operations):
            if method.upper() in WRITE_METHODS:
                yield method.upper(), re.sub(r"\{[^}]+\}", "x", path)


def test_the_app_has_write_endpoints_to_guard(app: FastAPI) -> None:
    assert {path for _, path in _write_routes(app)} >= {
        "/init",
        "/add",
        "/commit",
        "/checkout",
        "/branches",
        "/branches/x",
        "/tags",
        "/tags/x",
    }


def test_every_write_endpoint_without_a_token_is_401(
    app: FastAPI, anonymous: TestClient, repo: Repo
) -> None:
    before = repo.refs.items("refs/")
    for method, path in _write_routes(app):
        response = anonymous.request(method, path, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert repo.refs.items("refs/") == before


def test_a_wrong_token_is_403(anonymous: TestClient) -> None:
    response = anonymous.post(
        "/branches", json={"name": "x"}, headers={"Authorization": "Bearer wrong-token-value"}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_reads_need_the_token_by_default(anonymous: TestClient) -> None:
    assert anonymous.get("/status").status_code == 401
    assert anonymous.get("/status", headers=AUTH).status_code == 200


def test_public_read_opens_reads_but_not_writes(repo: Repo) -> None:
    with TestClient(make_app(repo, public_read=True), base_url=BASE_URL) as client:
        assert client.get("/status").status_code == 200
        assert client.get("/files/README.md").content == b"# experiment\n"
        assert client.post("/branches", json={"name": "x"}).status_code == 401


def test_the_session_cookie_opens_reads_but_never_writes(anonymous: TestClient) -> None:
    session = anonymous.post("/auth/session", headers=AUTH)
    assert session.status_code == 200
    cookie = session.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert TOKEN not in cookie
    assert anonymous.get("/status").status_code == 200
    assert anonymous.post("/branches", json={"name": "x"}).status_code == 401


def test_a_forged_session_cookie_is_refused(app: FastAPI) -> None:
    with TestClient(app, base_url=BASE_URL, cookies={"modelsync_session": "0" * 64}) as client:
        assert client.get("/status").status_code == 401


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8765",
        "127.0.0.1.nip.io",
        "localhost.evil.example",
        "0.0.0.0:8765",
        "",
    ],
)
def test_a_foreign_host_header_is_400(client: TestClient, host: str) -> None:
    response = client.get("/status", headers={"Host": host})
    assert response.status_code == 400
    assert response.json()["code"] == "host_not_allowed"


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost", "LOCALHOST:1", "[::1]:8765"])
def test_loopback_host_headers_are_accepted(client: TestClient, host: str) -> None:
    assert client.get("/status", headers={"Host": host}).status_code == 200


def test_allowed_hosts_extend_the_list(repo: Repo) -> None:
    app = make_app(repo, allowed_hosts=("models.example.org",))
    with TestClient(app, base_url="http://models.example.org", headers=AUTH) as client:
        assert client.get("/status").status_code == 200
        assert client.get("/status", headers={"Host": "other.example.org"}).status_code == 400


def test_the_host_guard_also_protects_the_ui_and_docs(client: TestClient) -> None:
    for path in ("/", "/docs", "/openapi.json", "/static/common.js"):
        assert client.get(path, headers={"Host": "evil.example"}).status_code == 400


TRAVERSALS = [
    "%2e%2e/secret.txt",
    "%2e%2e/%2e%2e/secret.txt",
    "..%2fsecret.txt",
    "%252e%252e/secret.txt",
    "data/%2e%2e/%2e%2e/secret.txt",
    "%2Fetc/passwd",
    "a%5c..%5c..%5csecret.txt",
    "README.md%00.txt",
    ".modelsync/HEAD",
    "%2e/README.md",
    "C:/secret.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_download_paths_that_leave_the_repository_are_refused(
    client: TestClient, outside: Path, path: str
) -> None:
    response = client.get(f"/files/{path}")
    assert 400 <= response.status_code < 500
    assert b"TOP-SECRET" not in response.content


def test_a_double_slash_absolute_path_is_refused(client: TestClient) -> None:
    response = client.get("/files//etc/passwd")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_path"


@pytest.mark.parametrize(
    "rev",
    [
        "refs/../../secret.txt",
        "refs/heads/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/etc/passwd",
        "HEAD\\..",
        "a\x00b",
        "-rf",
    ],
)
def test_revisions_that_could_name_files_outside_refs_are_400(client: TestClient, rev: str) -> None:
    for response in (
        client.get("/log", params={"rev": rev}),
        client.get("/diff", params={"a": rev, "b": "HEAD"}),
        client.get("/files/README.md", params={"rev": rev}),
        client.post("/branches", json={"name": "x", "rev": rev}),
        client.post("/checkout", json={"rev": rev}),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_revision"


@pytest.mark.parametrize(
    "path",
    [
        "../evil.txt",
        "%2e%2e/evil.txt",
        "/tmp/evil.txt",
        "a\\..\\evil.txt",
        ".modelsync/config.toml",
        "x/../../evil.txt",
        "glob*.txt",
    ],
)
def test_uploads_that_would_land_outside_the_work_tree_are_refused(
    client: TestClient, repo: Repo, path: str
) -> None:
    config_before = (repo.control_dir / "config.toml").read_bytes()
    response = client.post("/add", params={"path": path}, files={"file": ("e", b"EVIL")})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_path"
    assert not (repo.work_tree.parent / "evil.txt").exists()
    assert (repo.control_dir / "config.toml").read_bytes() == config_before


def test_uploads_through_a_symlink_out_of_the_work_tree_are_refused(
    client: TestClient, repo: Repo, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.symlink(target, repo.work_tree / "link")
    response = client.post("/add", params={"path": "link/evil.txt"}, files={"file": ("e", b"EVIL")})
    assert response.status_code == 400
    assert list(target.iterdir()) == []


def test_an_upload_over_the_limit_is_413_and_leaves_nothing(repo: Repo) -> None:
    with TestClient(
        make_app(repo, max_upload_bytes=1000), base_url=BASE_URL, headers=AUTH
    ) as client:
        response = client.post(
            "/add", params={"path": "big.bin"}, files={"file": ("b", b"x" * 5000)}
        )
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
        assert (
            client.post(
                "/add", params={"path": "ok.bin"}, files={"file": ("b", b"x" * 999)}
            ).status_code
            == 201
        )
    assert not (repo.work_tree / "big.bin").exists()
    assert list((repo.control_dir / "tmp").iterdir()) == []


def test_a_streamed_upload_without_content_length_is_cut_at_the_limit(repo: Repo) -> None:
    boundary = "modelsyncboundary"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="b"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for _ in range(64):
            yield b"y" * 1024
        yield f"\r\n--{boundary}--\r\n".encode()

    with TestClient(
        make_app(repo, max_upload_bytes=10_000), base_url=BASE_URL, headers=AUTH
    ) as client:
        response = client.post(
            "/add",
            params={"path": "streamed.bin"},
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert response.status_code == 413
    assert not (repo.work_tree / "streamed.bin").exists()


def test_a_json_body_over_the_limit_is_413(repo: Repo) -> None:
    with TestClient(make_app(repo, max_body_bytes=200), base_url=BASE_URL, headers=AUTH) as client:
        response = client.post("/commit", json={"message": "m" * 1000, "allow_empty": True})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_no_cors_headers_unless_origins_are_listed(client: TestClient) -> None:
    preflight = client.options(
        "/status", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/status", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_listed_cors_origins_are_allowed_and_no_others(repo: Repo) -> None:
    app = make_app(repo, cors_origins=("http://ui.example",))
    with TestClient(app, base_url=BASE_URL, headers=AUTH) as client:
        allowed = client.get("/status", headers={"Origin": "http://ui.example"})
        assert allowed.headers["access-control-allow-origin"] == "http://ui.example"
        other = client.get("/status", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_responses_carry_a_strict_content_security_policy(client: TestClient) -> None:
    page = client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"


def test_committed_html_is_downloaded_never_rendered(client: TestClient, repo: Repo) -> None:
    (repo.work_tree / "page.html").write_text("<script>alert(1)</script>")
    repo.add([str(repo.work_tree / "page.html")])
    repo.commit("html")
    response = client.get("/files/page.html")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment;")


def test_unexpected_errors_reveal_nothing(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(self: Repo) -> None:
        raise RuntimeError("/secret/path/on/the/server")

    monkeypatch.setattr(Repo, "status", explode)
    with TestClient(
        make_app(repo), base_url=BASE_URL, headers=AUTH, raise_server_exceptions=False
    ) as client:
        response = client.get("/status")
    assert response.status_code == 500
    assert response.json() == {
        "code": "internal_error",
        "message": "internal server error; see the server log",
    }
