"""A checkpoint writer knows an object store and a commit callable; a repository keeps one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from modelsync.checkpoints import CheckpointWriter, read_manifest, writer_for  # noqa: E402
from modelsync.model.objects import TreeEntry  # noqa: E402
from modelsync.repo.repository import Repo  # noqa: E402
from modelsync.store import MemoryStore, ObjectWriter  # noqa: E402


class RecordingCommit:
    """A ``CommitCheckpoint`` that writes into a store and remembers what it was asked."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.calls: list[tuple[TreeEntry, str, str | None, dict[str, Any]]] = []

    def __call__(
        self,
        write: Callable[[ObjectWriter], TreeEntry],
        *,
        message: str,
        branch: str | None,
        meta: dict[str, Any],
    ) -> str:
        with self.store.batch() as batch:
            entry = write(batch)
        self.calls.append((entry, message, branch, meta))
        return f"commit-{len(self.calls)}"


def test_a_writer_commits_through_the_callable_it_was_given() -> None:
    store = MemoryStore()
    commit = RecordingCommit(store)
    writer = CheckpointWriter(store, commit)
    snapshot = writer.capture({"epoch": 3, "w": torch.ones(4)})
    assert writer.commit(snapshot, message="m", branch="runs/x", meta={"run": "x"}) == "commit-1"
    [(entry, message, branch, meta)] = commit.calls
    assert (entry.kind, entry.size, message, branch) == ("checkpoint", 16, "m", "runs/x")
    assert meta == {"kind": "checkpoint", "epoch": 3, "run": "x"}
    assert [record.name for record in read_manifest(store, entry.oid).tensors] == ["w"]


def test_a_repository_keeps_one_writer_per_process(repo: Repo) -> None:
    assert writer_for(repo) is writer_for(repo)
    with Repo.open(repo.work_tree) as other:
        assert writer_for(other) is not writer_for(repo)


def test_closing_the_repository_finishes_its_writers_background_commits(repo: Repo) -> None:
    future = writer_for(repo).save_async({"w": torch.randn(1 << 20)}, branch="runs/x")
    repo.close()
    assert future.done()
    assert repo.refs.resolve("refs/heads/runs/x") == future.result()
