"""``modelsync serve``: the REST API and web UI over a repository, secure by default.

The CLI does not import the API package (the two are siblings): it hands the settings to
uvicorn's app factory ``modelsync.api.app:create_app_from_env`` through the same
``MODELSYNC_*`` variables that configure it anywhere else (a container, a process manager).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ...errors import RepositoryNotFound
from ...repo.repository import ENV_REPO, Repo
from ..common import RepoOption, console, exit_with_error

APP_FACTORY = "modelsync.api.app:create_app_from_env"
SERVER_MODULES = ("fastapi", "uvicorn", "python_multipart", "pydantic_settings")
MIN_TOKEN_LENGTH = 16


class LogLevel(StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


def _require_server_extra() -> None:
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        exit_with_error(
            f"modelsync serve needs the server extra ({', '.join(missing)} missing): "
            "pip install 'modelsync[server]'"
        )


def _served_path(repo: Path | None) -> Path:
    """The repository at or above ``repo`` (or the cwd); if there is none, ``repo`` itself, so
    that ``POST /init`` can create it."""
    try:
        return Repo.discover(repo)
    except RepositoryNotFound:
        return (repo or Path.cwd()).resolve()


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def serve(
    repo: RepoOption = None,
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback exposes the repository.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="MODELSYNC_TOKEN",
            help="Bearer token for writes (and reads unless --public-read); "
            "default: generated and printed once.",
            show_default=False,
        ),
    ] = None,
    public_read: Annotated[
        bool, typer.Option("--public-read", help="Serve reads without a token.")
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option("--cors-origin", help="Origin allowed by CORS (repeatable; default none)."),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Host header name accepted besides loopback and --host (repeatable).",
        ),
    ] = None,
    max_upload_mb: Annotated[
        int, typer.Option(min=1, help="Largest file POST /add accepts, in MiB.")
    ] = 1024,
    log_level: Annotated[LogLevel, typer.Option(help="Server log level.")] = LogLevel.info,
) -> None:
    """Serve the repository's REST API (docs at /docs) and web UI (at /).

    Example: modelsync serve --port 8765 --public-read
    """
    _require_server_extra()
    generated = token is None
    token = token or secrets.token_urlsafe(32)
    if len(token) < MIN_TOKEN_LENGTH:
        exit_with_error(f"the token must be at least {MIN_TOKEN_LENGTH} characters long")
    path = _served_path(repo)
    os.environ.update(
        {
            ENV_REPO: str(path),
            "MODELSYNC_TOKEN": token,
            "MODELSYNC_HOST": host,
            "MODELSYNC_PUBLIC_READ": "true" if public_read else "false",
            "MODELSYNC_CORS_ORIGINS": json.dumps(cors_origin or []),
            "MODELSYNC_ALLOWED_HOSTS": json.dumps(allowed_host or []),
            "MODELSYNC_MAX_UPLOAD_BYTES": str(max_upload_mb << 20),
        }
    )
    url = _url(host, port)
    console.print(f"Serving {path} at {url} (API docs at {url}docs)", markup=False)
    if generated:
        console.print(f"Token (shown once): {token}", markup=False)
        console.print(f"Open the web UI at {url}#token={token}", markup=False)
    import uvicorn

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        log_level=log_level.value,
        server_header=False,
        proxy_headers=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(serve)
