"""Errors as JSON with a stable code: ``{"code": "unknown_revision", "message": "..."}``.

ModelSync's exceptions are mapped here, at the HTTP boundary, to a status and a code that clients
may match on. Anything unexpected becomes a 500 ``internal_error`` whose message reveals nothing
about the server.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import errors as core

log = logging.getLogger("modelsync.api")


class ErrorBody(BaseModel):
    code: str
    message: str


class ApiError(Exception):
    """An error raised by the API layer itself (bad path, missing file, bad token)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)


def not_found(message: str, code: str = "not_found") -> ApiError:
    return ApiError(404, code, message)


def conflict(message: str, code: str) -> ApiError:
    return ApiError(409, code, message)


def too_large(message: str) -> ApiError:
    return ApiError(413, "payload_too_large", message)


# Most specific first: the first class an exception is an instance of decides.
_CORE_ERRORS: tuple[tuple[type[core.ModelSyncError], int, str], ...] = (
    (core.RepositoryNotFound, 404, "repository_not_found"),
    (core.RepositoryExists, 409, "repository_exists"),
    (core.InvalidConfig, 500, "invalid_config"),
    (core.ReadOnlyRepository, 500, "read_only_repository"),
    (core.ObjectMissing, 500, "object_missing"),
    (core.ObjectCorrupt, 500, "object_corrupt"),
    (core.IndexLocked, 409, "index_locked"),
    (core.IndexCorrupt, 500, "index_corrupt"),
    (core.UnknownRun, 404, "unknown_run"),
    (core.UnknownRevision, 404, "unknown_revision"),
    (core.AmbiguousRevision, 400, "ambiguous_revision"),
    (core.RefLocked, 409, "ref_locked"),
    (core.RefConflict, 409, "ref_conflict"),
    (core.InvalidRefName, 400, "invalid_ref_name"),
    (core.PathError, 400, "invalid_path"),
    (core.WorkingTreeDirty, 409, "working_tree_dirty"),
    (core.NothingToCommit, 409, "nothing_to_commit"),
    (core.UnsafeLoad, 400, "unsafe_load"),
    (core.TrackingError, 400, "tracking_error"),
    (core.UsageError, 400, "bad_request"),
)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        ErrorBody(code=code, message=message).model_dump(), status_code=status, headers=headers
    )


def core_error_status(exc: core.ModelSyncError) -> tuple[int, str]:
    for cls, status, code in _CORE_ERRORS:
        if isinstance(exc, cls):
            return status, code
    return 400, "bad_request"


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(exc.status, exc.code, exc.message, headers)


async def _on_core_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, core.ModelSyncError)
    status, code = core_error_status(exc)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(status, code, str(exc))


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = f"{where}: {first.get('msg', 'invalid value')}" if where else str(first.get("msg"))
    return error_response(400, "invalid_request", message)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path)
    return error_response(500, "internal_error", "internal server error; see the server log")


async def _on_os_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OSError)
    log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(500, "io_error", f"{exc.strerror or 'I/O error'} on the server")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(core.ModelSyncError, _on_core_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(OSError, _on_os_error)
    app.add_exception_handler(Exception, _on_unexpected)
