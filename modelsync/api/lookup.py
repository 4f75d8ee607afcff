"""Looking things up for a request: checked revisions, a commit's files, its params and metrics."""

from __future__ import annotations

from typing import Any, TypeVar

from ..metadata import Params, StoredModel
from ..objects import Commit, TreeEntry
from ..repo import Repo
from .errors import not_found
from .schemas import ValueChange, json_safe
from .security import validate_repo_path, validate_revision

JSON_FILE_LIMIT = 16 << 20
PARAMS_FILE = "params.json"

M = TypeVar("M", bound=StoredModel)


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


def read_stored(repo: Repo, files: dict[str, TreeEntry], path: str, model: type[M]) -> M | None:
    """The run file at ``path`` of a commit's files as ``model``, or None if absent or invalid."""
    entry = files.get(path)
    if entry is None or entry.kind not in ("blob", "file"):
        return None
    data = repo.read_file_bytes(entry, limit=JSON_FILE_LIMIT)
    if data is None:
        return None
    try:
        return model.from_stored(data)
    except ValueError:
        return None


def commit_params(repo: Repo, files: dict[str, TreeEntry]) -> dict[str, Any]:
    params = read_stored(repo, files, PARAMS_FILE, Params)
    return params.params if params is not None else {}


def commit_metrics(commit: Commit) -> dict[str, Any]:
    metrics = commit.meta.get("metrics")
    return metrics if isinstance(metrics, dict) else {}


def value_changes(a: dict[str, Any], b: dict[str, Any]) -> list[ValueChange]:
    """Keys whose values differ between two flat maps, sorted."""
    changes = []
    for key in sorted(set(a) | set(b)):
        before, after = json_safe(a.get(key)), json_safe(b.get(key))
        if before != after or (key in a) != (key in b):
            changes.append(ValueChange(key=key, a=before, b=after))
    return changes
