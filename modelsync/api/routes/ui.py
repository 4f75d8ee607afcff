"""The web UI: static pages and assets shipped in the package (no CDN), and the API docs.

Pages hold no data: their scripts fetch it from the API with the session cookie, so they are
served without a token.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
PAGES = {
    "/": "runs.html",
    "/ui/run": "run.html",
    "/ui/compare": "compare.html",
    "/ui/commit": "commit.html",
    "/docs": "docs.html",
}

router = APIRouter(include_in_schema=False)


def _page(filename: str) -> FileResponse:
    return FileResponse(
        STATIC_DIR / filename, media_type="text/html", headers={"Cache-Control": "no-cache"}
    )


def _register(url: str, filename: str) -> None:
    @router.get(url, name=filename)
    def page() -> FileResponse:
        return _page(filename)


for _url, _filename in PAGES.items():
    _register(_url, _filename)


def install(app: FastAPI) -> None:
    """Serve the pages and, under /static, the assets."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
