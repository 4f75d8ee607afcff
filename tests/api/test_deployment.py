"""The Dockerfile and docker-compose.yml run the tested ``modelsync serve``, with options the CLI
accepts today: a renamed or removed option fails here, not in someone's deployment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from modelsync.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = (ROOT / "docker-compose.yml").read_text()


def _json_instruction(name: str) -> list[str]:
    match = re.search(rf"^{name} (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert match, f"no exec-form {name} in the Dockerfile"
    return list(json.loads(match.group(1)))


def _compose_command() -> list[str]:
    match = re.search(r"^\s+command: (\[.*\])$", COMPOSE, re.MULTILINE)
    assert match, "no command list in docker-compose.yml"
    return list(json.loads(match.group(1)))


def _parse_with_the_cli(args: list[str]) -> dict[str, object]:
    """The parameters ``modelsync <args>`` would run with (raises on an unknown option)."""
    group = typer.main.get_command(app)
    command = group.get_command(group.make_context("modelsync", args[:1]), args[0])
    assert command is not None, f"modelsync has no command {args[0]!r}"
    return dict(command.make_context(args[0], args[1:]).params)


def test_the_image_runs_modelsync_serve_with_options_the_cli_accepts() -> None:
    assert _json_instruction("ENTRYPOINT") == ["modelsync"]
    params = _parse_with_the_cli(_json_instruction("CMD"))
    assert Path(str(params["repo"])) == Path("/repo")
    assert params["host"] == "0.0.0.0"
    assert params["port"] == 8765
    assert params["public_read"] is False


def test_compose_runs_the_same_command_as_the_image() -> None:
    assert _compose_command() == _json_instruction("CMD")


def test_the_image_runs_as_a_non_root_user_on_a_slim_base() -> None:
    assert re.findall(r"^FROM python:\$\{PYTHON_VERSION\}-slim", DOCKERFILE, re.MULTILINE)
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")


def test_compose_needs_a_token_and_publishes_on_loopback_only() -> None:
    assert "MODELSYNC_TOKEN: ${MODELSYNC_TOKEN:?" in COMPOSE
    ports = re.findall(r'^\s+- "([^"]+)"$', COMPOSE, re.MULTILINE)
    assert ports == ["127.0.0.1:8765:8765"]


def test_the_image_serves_the_extra_it_installs() -> None:
    assert "ARG EXTRAS=server" in DOCKERFILE
    assert '[${EXTRAS}]"' in DOCKERFILE
