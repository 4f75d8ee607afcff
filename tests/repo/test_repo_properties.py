"""Whatever users do (write, delete, add, commit, checkout, reset), the repository stays sound:
fsck is clean, and checking out a commit gives back exactly the files it recorded."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from modelsync.errors import NothingToCommit, PathError
from modelsync.repo.repository import Repo

# "x" and "x/y" make checkouts swap a file for a directory and back.
NAMES = st.sampled_from(["a.txt", "b.bin", "d/c.txt", "d/e/f.txt", "x", "x/y"])
CONTENTS = st.binary(max_size=64)


def working_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".modelsync" not in p.relative_to(root).parts
    }


class RepositoryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="modelsync-prop-"))
        self.repo = Repo.init(self.tmp / "repo")
        self.root = self.repo.work_tree
        self.commits: dict[str, dict[str, bytes]] = {}

    def teardown(self) -> None:
        self.repo.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @rule(name=NAMES, content=CONTENTS)
    def write(self, name: str, content: bytes) -> None:
        path = self.root / name
        for parent in reversed(path.relative_to(self.root).parents[:-1]):
            if (self.root / parent).is_file():
                (self.root / parent).unlink()
        if path.is_dir():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    @rule(name=NAMES)
    def delete(self, name: str) -> None:
        path = self.root / name
        if path.is_file():
            path.unlink()

    @rule()
    def add_and_commit(self) -> None:
        self.repo.add([str(self.root)])
        try:
            oid = self.repo.commit("snapshot")
        except NothingToCommit:
            return
        self.commits[oid] = working_files(self.root)

    @precondition(lambda self: bool(self.commits))
    @rule(data=st.data())
    def commit_then_checkout(self, data: st.DataObject) -> None:
        self.add_and_commit()
        target = data.draw(st.sampled_from(list(self.commits)))
        self.repo.checkout(target)
        assert working_files(self.root) == self.commits[target]

    @precondition(lambda self: bool(self.commits))
    @rule(data=st.data())
    def hard_reset(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(list(self.commits)))
        untracked = set(self.repo.status().untracked)
        before = working_files(self.root)
        try:
            self.repo.reset(target, mode="hard")
        except PathError:
            # An untracked file sits where the commit has a file or directory: nothing moves.
            assert working_files(self.root) == before
            return
        files = working_files(self.root)
        expected = self.commits[target]
        assert {path: files.get(path) for path in expected} == expected
        assert set(files) - set(expected) <= untracked

    @invariant()
    def fsck_is_clean(self) -> None:
        assert self.repo.fsck().ok


RepositoryMachine.TestCase.settings = settings(
    max_examples=30, stateful_step_count=12, deadline=None
)
test_repository_stays_sound = RepositoryMachine.TestCase
