"""The application factory: ``create_app(repo_path, settings)``, no globals.

Middleware, outermost first: the Host guard (refuses before anything else runs), security
headers, CORS (only when origins are listed), the request body limit; then the routers.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from .. import __version__
from ..repo.repository import ENV_REPO
from .deps import RepoHolder
from .errors import install_error_handlers
from .routes import checkpoints, files, refs, repository, runs, session, ui
from .security import BodyLimit, HostGuard, SecurityHeaders
from .settings import Settings

DESCRIPTION = """\
A ModelSync repository over HTTP: commits, refs, files, runs, metrics and checkpoints.

Writes (POST, DELETE) need `Authorization: Bearer <token>`; reads do too unless the server runs
with `--public-read`. Errors are JSON: `{"code": "...", "message": "..."}`.
"""


def create_app(repo_path: str | os.PathLike[str], settings: Settings | None = None) -> FastAPI:
    """A FastAPI app serving the repository at exactly ``repo_path`` (which may not exist yet:
    ``POST /init`` creates it)."""
    settings = settings or Settings()
    holder = RepoHolder(Path(repo_path))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        holder.close()

    app = FastAPI(
        title="ModelSync",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.repo_holder = holder
    install_error_handlers(app)
    for module in (repository, refs, files, runs, checkpoints, session):
        app.include_router(module.router)
    ui.install(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi_without_422(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    app.add_middleware(BodyLimit, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
        )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HostGuard, settings=settings)
    return app


def create_app_from_env() -> FastAPI:
    """The app that ``modelsync serve`` (and so the Docker image) runs through uvicorn: the
    repository at ``$MODELSYNC_DIR`` (default: the current directory), settings from the
    ``MODELSYNC_*`` variables."""
    return create_app(os.environ.get(ENV_REPO) or os.getcwd(), Settings())


def _openapi_without_422(app: FastAPI) -> dict[str, Any]:
    """FastAPI documents 422 for bad input; this API answers 400 (documented per route)."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return schema
