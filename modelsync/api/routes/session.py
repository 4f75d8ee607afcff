"""``POST /auth/session``: the web UI trades the token for a read-only session cookie."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from ..schemas.repository import SessionOut
from ..security import SESSION_COOKIE, SettingsDep, require_write, session_value
from .responses import WRITE_ERRORS

router = APIRouter(tags=["auth"])


@router.post("/auth/session", dependencies=[Depends(require_write)], responses=WRITE_ERRORS)
def create_session(response: Response, settings: SettingsDep) -> SessionOut:
    """Set an HttpOnly, SameSite=Strict cookie that authorises reads (never writes), so pages
    and download links work in a browser without putting the token in URLs."""
    response.set_cookie(
        SESSION_COOKIE, session_value(settings), httponly=True, samesite="strict", path="/"
    )
    return SessionOut(read_session=True)
