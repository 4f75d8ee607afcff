"""Looking things up for a request: checked revisions and the files of a commit."""

from __future__ import annotations

from ..model.objects import Commit, TreeEntry
from ..repo.repository import Repo
from .errors import not_found
from .security import validate_repo_path, validate_revision


def resolve(repo: Repo, rev: str) -> str:
    """The commit id of a revision that came from a request (validated first)."""
    return repo.resolve(validate_revision(rev))


def commit_entry(repo: Repo, commit: Commit, path: str) -> TreeEntry:
    """The tree entry at ``path`` in ``commit``, or a 404."""
    validate_repo_path(path)
    entry = repo.flatten_tree(commit.tree).get(path)
    if entry is None:
        raise not_found(f"no file {path!r} in this commit", "path_not_found")
    return entry
