"""What keeps a served repository safe: Host guard, tokens, body limits, path and revision checks.

- A request whose ``Host`` is not on the allow-list is refused before routing, so a web page on
  another origin cannot reach a loopback server through DNS rebinding.
- Writes need ``Authorization: Bearer <token>``; reads too unless ``public_read``. Tokens are
  compared in constant time. The web UI trades the token once for an HttpOnly, SameSite=Strict
  cookie that is good for reads only, so a cross-site form can never write.
- Paths and revisions from requests are checked before the repository sees them: nothing a
  request names can lead outside the repository.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from ..model.objects import CONTROL_DIR, is_control_dir_name
from .errors import ApiError, error_response
from .settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "modelsync_session"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_PATH_LENGTH = 4096
MAX_REV_LENGTH = 256

_bearer = HTTPBearer(auto_error=False, description="the token printed by `modelsync serve`")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


# ------------------------------------------------------------------- tokens
def session_value(settings: Settings) -> str:
    """The read-only cookie value: derived from the token, useless for writes."""
    key = settings.token.get_secret_value().encode()
    return hmac.new(key, b"modelsync read session v1", hashlib.sha256).hexdigest()


def _token_matches(settings: Settings, presented: str) -> bool:
    expected = settings.token.get_secret_value().encode()
    return hmac.compare_digest(expected, presented.encode())


def _check_bearer(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> None:
    if credentials is None:
        raise ApiError(
            401, "unauthorized", "missing bearer token: send 'Authorization: Bearer <token>'"
        )
    if not _token_matches(settings, credentials.credentials):
        raise ApiError(403, "forbidden", "invalid token")


def require_write(settings: SettingsDep, credentials: Credentials) -> None:
    """Every write endpoint depends on this: a valid bearer token, nothing else."""
    _check_bearer(settings, credentials)


def require_read(request: Request, settings: SettingsDep, credentials: Credentials) -> None:
    """Reads pass with ``public_read``, a valid bearer token, or the UI's session cookie."""
    if settings.public_read:
        return
    if credentials is None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is not None and hmac.compare_digest(
            cookie.encode(), session_value(settings).encode()
        ):
            return
    _check_bearer(settings, credentials)


# ------------------------------------------------------- paths and revisions
_GLOB = re.compile(r"[*?\[]")
_REV = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/@+-]*(?:[~^][0-9]*)*$")


def _path_problem(text: str) -> str | None:
    if not text:
        return "it is empty"
    if len(text) > MAX_PATH_LENGTH:
        return "it is too long"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return "it contains a NUL or control character"
    if "\\" in text:
        return "it contains a backslash"
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return "it is absolute"
    parts = text.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "it has an empty, '.' or '..' component"
    if is_control_dir_name(parts[0]):
        return f"it is inside the {CONTROL_DIR} control directory"
    return None


def validate_repo_path(text: str, *, allow_glob: bool = True) -> str:
    """A POSIX path relative to the repository root, or ApiError(400).

    The text is checked as given and once more percent-decoded, so ``%2e%2e`` is refused like
    ``..`` even where a proxy or client left it encoded.
    """
    for candidate in (text, unquote(text)):
        problem = _path_problem(candidate)
        if problem is not None:
            raise ApiError(400, "invalid_path", f"invalid path {text!r}: {problem}")
    if not allow_glob and _GLOB.search(text):
        raise ApiError(
            400, "invalid_path", f"invalid path {text!r}: '*', '?' and '[' are not allowed"
        )
    return text


def validate_revision(rev: str) -> str:
    """A revision (branch, tag, run, id, ``~N``/``^N``) that cannot name a file outside refs/."""
    if len(rev) > MAX_REV_LENGTH or not _REV.match(rev) or ".." in rev or "//" in rev:
        raise ApiError(400, "invalid_revision", f"invalid revision {rev[:MAX_REV_LENGTH]!r}")
    return rev


# -------------------------------------------------------------- middleware
_HOST = re.compile(r"^(?:\[(?P<ipv6>[0-9a-f:.]+)\]|(?P<name>[^:\[\]/\s]+))(?::[0-9]{1,5})?$")


def _host_name(raw: str) -> str:
    """The Host header's name without its port, lower case (``[::1]:8765`` gives ``::1``);
    empty for anything that is not a well-formed host."""
    match = _HOST.match(raw.strip().lower())
    if match is None:
        return ""
    return match.group("ipv6") or match.group("name")


class HostGuard:
    """Refuse, with 400, any request whose Host header is not on the allow-list."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = settings.host_allow_list()
        self.any_host = "*" in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.any_host:
            await self.app(scope, receive, send)
            return
        host = ""
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value.decode("latin-1")
                break
        if _host_name(host) not in self.allowed:
            response = error_response(
                400,
                "host_not_allowed",
                f"Host {host[:100]!r} is not allowed; start the server with --allowed-host NAME",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body parsing lets it through unchanged."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


class BodyLimit:
    """Cap request bodies: uploads at ``max_upload_bytes`` (plus form overhead), others at
    ``max_body_bytes``. A declared Content-Length over the cap is refused before reading; a
    body that grows past it while streaming raises BodyTooLarge where it is read."""

    FORM_OVERHEAD = 64 << 10

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.upload_limit = settings.max_upload_bytes + self.FORM_OVERHEAD
        self.body_limit = settings.max_body_bytes

    def _limit_for(self, scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-type" and value.lower().startswith(b"multipart/form-data"):
                return self.upload_limit
        return self.body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    response = error_response(
                        413, "payload_too_large", f"request body is larger than {limit} bytes"
                    )
                    await response(scope, receive, send)
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)


class SecurityHeaders:
    """Headers every response carries: no sniffing, no framing, a strict CSP, no referrer."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (
            b"content-security-policy",
            b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            b"form-action 'self'",
        ),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.HEADERS if n not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
