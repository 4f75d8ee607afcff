"""The repository as a FastAPI dependency (the full-stack template's ``api/deps.py`` pattern).

Routes take ``repo: RepoDep``; tests and embedders swap it with
``app.dependency_overrides[get_repo] = lambda: my_repo``. The app holds one ``Repo`` for the
repository it serves, opened on first use (so ``POST /init`` can create it), and one lock that
serialises this process's writes (the index file is read-modify-write).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from ..errors import RepositoryExists
from ..repo.repository import CONTROL_DIR, Repo


class RepoHolder:
    """The served repository: exactly ``path``, never a parent found by searching upwards."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.write_lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._repo: Repo | None = None

    def exists(self) -> bool:
        return (self.path / CONTROL_DIR / "HEAD").is_file()

    def get(self) -> Repo:
        with self._open_lock:
            if self._repo is None:
                self._repo = Repo(self.path)
            return self._repo

    def init(self, *, name: str | None, email: str | None, default_branch: str) -> Repo:
        with self._open_lock:
            if self.exists():
                raise RepositoryExists(f"a modelsync repository already exists at {self.path}")
            self._repo = Repo.init(self.path, name=name, email=email, default_branch=default_branch)
            return self._repo

    def close(self) -> None:
        with self._open_lock:
            if self._repo is not None:
                self._repo.close()
                self._repo = None


def get_holder(request: Request) -> RepoHolder:
    holder: RepoHolder = request.app.state.repo_holder
    return holder


HolderDep = Annotated[RepoHolder, Depends(get_holder)]


def get_repo(holder: HolderDep) -> Repo:
    """The served repository, its catalog caught up with what other processes' commits left
    unindexed (``Catalog.catch_up_pending``): a request never reads a catalog that lags."""
    repo = holder.get()
    repo.catalog.catch_up_pending()
    return repo


RepoDep = Annotated[Repo, Depends(get_repo)]


def get_write_lock(holder: HolderDep) -> threading.Lock:
    return holder.write_lock


WriteLockDep = Annotated[threading.Lock, Depends(get_write_lock)]
