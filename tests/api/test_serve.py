"""``modelsync serve`` as a real process: loopback by default, a generated token printed once,
and requests sent byte for byte over a socket (nothing normalises their paths on the way)."""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelsync import Repo
from modelsync.cli.main import app as cli

from .serving import Server


@pytest.fixture(scope="module")
def server(tracked: Repo) -> Iterator[Server]:
    running = Server(tracked.work_tree)
    yield running
    running.stop()


def _token(server: Server) -> str:
    lines = [line for line in server.output if line.startswith("Token (shown once): ")]
    assert len(lines) == 1
    return lines[0].removeprefix("Token (shown once): ").strip()


@pytest.fixture(scope="module")
def token(server: Server) -> str:
    banner = server.banner()
    assert banner[0].startswith(f"Serving {server.repo_path} at {server.url}/")
    return _token(server)


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port``, from /proc/net/tcp (IPv4)."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":
            octets = bytes.fromhex(address)[::-1]
            addresses.add(".".join(str(b) for b in octets))
    return addresses


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_it_listens_on_loopback_only_by_default(server: Server) -> None:
    assert _listening_addresses(server.port) == {"127.0.0.1"}


def test_the_generated_token_is_printed_once_with_the_ui_address(
    server: Server, token: str
) -> None:
    assert len(token) >= 32
    assert any(
        line.strip() == f"Open the web UI at {server.url}/#token={token}" for line in server.output
    )
    request = urllib.request.Request(
        f"{server.url}/auth/session", method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response) == {"read_session": True}


def _get(server: Server, path: bytes, host: bytes = b"127.0.0.1", token: str = "") -> bytes:
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n" if token else b""
    return server.raw(
        b"GET "
        + path
        + b" HTTP/1.1\r\nHost: "
        + host
        + b"\r\n"
        + auth
        + b"Connection: close\r\n\r\n"
    )


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "path",
    [
        b"/files/../../secret.txt",
        b"/files/data/../../../../etc/passwd",
        b"/files/%2e%2e/%2e%2e/etc/passwd",
        b"/files/..%2f..%2fetc%2fpasswd",
        b"/files/%2E%2E%5C%2E%2E%5Cetc%5Cpasswd",
        b"/files//etc/passwd",
        b"/files/.modelsync/config.toml",
        b"/files/README%00.md",
        b"/show/refs/../../../../etc/passwd",
        b"/log?rev=refs/heads/../../../../../etc/passwd",
        b"/static/../../../../etc/passwd",
        b"/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ],
)
def test_traversal_over_a_real_socket_is_refused(server: Server, token: str, path: bytes) -> None:
    reply = _get(server, path, token=token)
    assert 400 <= _status(reply) < 500
    assert b"root:" not in reply and b"[user]" not in reply


def test_a_foreign_host_is_refused_before_anything_else(server: Server, token: str) -> None:
    reply = _get(server, b"/status", host=b"attacker.example", token=token)
    assert _status(reply) == 400
    assert b"host_not_allowed" in reply


def test_reads_without_the_token_are_401(server: Server) -> None:
    assert _status(_get(server, b"/runs")) == 401


def test_a_short_token_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "-C", str(tmp_path), "--token", "short"])
    assert result.exit_code == 1
    assert "at least 16 characters" in result.output


def test_without_the_server_extra_serve_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "uvicorn" else real_find_spec(name)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    result = CliRunner().invoke(cli, ["serve", "-C", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: modelsync serve needs the server extra (uvicorn missing): "
        "pip install 'modelsync[server]'"
    )
