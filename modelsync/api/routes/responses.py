"""The error responses each kind of endpoint documents in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from ..errors import ErrorBody


def error_doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


READ_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_doc("bad input: an invalid revision, path or parameter"),
    401: error_doc("no token, and reads are not public"),
    403: error_doc("the token is wrong"),
    404: error_doc("unknown revision, path, run, or no repository"),
}

WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **READ_ERRORS,
    409: error_doc(
        "the update conflicts with the repository's state (ref moved, exists, dirty tree)"
    ),
    413: error_doc("the request body is too large"),
}

UNSUPPORTED_MEDIA = error_doc("the body is not multipart/form-data")
