"""The working-tree commands: add, rm, status, commit (of the staging area), diff, checkout and
reset, built on the repository's plumbing (objects, trees, commits, refs, the staging area).

Each command is a function of a repository, and ``Repo`` takes it as a method by name
(``add = porcelain.add``), so callers write ``repo.add(...)``. That reads more plainly than a
mixin, whose methods would need a protocol listing every piece of plumbing they touch, and than
delegating methods, which would repeat each signature and docstring: here each command is
written once, with its documentation, and a call through ``repo.add`` runs no extra frame, so
the warnings a commit gives still point at the caller. This module imports ``Repo`` only for
annotations: the repository imports its commands, never the reverse.

A command that fails on bad input changes nothing: every check runs before the first write, the
staging area and refs are held under their lock files while they change, and working-tree files
are replaced all together (``worktree.FileUpdate``).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidRefName, NothingToCommit, UsageError, WorkingTreeDirty
from ..model.layout import BRANCH_PREFIX, HEAD, run_branch
from ..model.objects import EXECUTABLE_MODE, TreeEntry
from .files import entry_kind_for_size, hash_file, iter_content, store_file
from .index import Index, IndexEntry, file_mode
from .refs import check_ref_name
from .revisions import split_suffixes
from .worktree import FileUpdate

if TYPE_CHECKING:
    from .diff import FileChange
    from .repository import Progress, Repo

__all__ = ["RESET_MODES", "WORKING_KINDS", "StatusReport"]

WORKING_KINDS = ("blob", "file")
"""Tree entry kinds that are files in the working tree."""
RESET_MODES = ("soft", "mixed", "hard")


@dataclass
class StatusReport:
    branch: str | None
    head: str | None
    staged: dict[str, str] = field(default_factory=dict)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.staged or self.modified or self.deleted)


# ------------------------------------------------------------------ staging
def add(repo: Repo, paths: Iterable[str], progress: Progress | None = None) -> list[str]:
    """Stage files (paths, directories, globs); returns the paths whose content changed.

    ``progress`` is called with ``(bytes stored, bytes to store)``.
    """
    with repo.locked_index() as index:
        targets = repo.work.expand(list(paths), index.entries)
        changed: list[str] = []
        to_store: list[tuple[str, os.stat_result]] = []
        for rel in targets:
            st = _stat_file(repo, rel)
            if st is None:
                if index.entries.pop(rel, None) is not None:
                    changed.append(rel)
                continue
            current = index.entries.get(rel)
            if current is None or not current.matches_stat(st):
                to_store.append((rel, st))
        total = sum(st.st_size for _, st in to_store)
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            if progress:
                progress(done, total)

        with repo.store.batch() as batch:
            for rel, st in to_store:
                kind, oid = store_file(batch, repo.work_tree / rel, st.st_size, advance)
                current = index.entries.get(rel)
                if current is None or (current.oid, current.mode) != (oid, file_mode(st)):
                    changed.append(rel)
                index.entries[rel] = IndexEntry.for_file(kind, oid, st)
        index.save()
    return changed


def rm(repo: Repo, paths: Iterable[str], *, cached: bool = False, force: bool = False) -> list[str]:
    """Unstage tracked files and (unless ``cached``) delete them from the working tree.

    Refuses, unless ``force``, to delete a file whose content is not staged or committed.
    """
    with repo.locked_index() as index:
        tracked = list(index.entries)
        selected: dict[str, None] = {}
        for pattern in paths:
            hits = [rel for rel in repo.work.expand([pattern], tracked) if rel in index.entries]
            if not hits:
                raise UsageError(f"pathspec {pattern!r} did not match any tracked file")
            selected.update(dict.fromkeys(hits))
        removed = list(selected)
        if not cached and not force:
            _refuse_to_delete_changes(repo, index, removed)
        for rel in removed:
            del index.entries[rel]
        index.save()
    if not cached:
        with FileUpdate(repo.work_tree) as update:
            for rel in removed:
                update.remove(rel)
    return removed


def _refuse_to_delete_changes(repo: Repo, index: Index, paths: list[str]) -> None:
    head_files = _head_files(repo)
    for rel in paths:
        staged = index.entries[rel]
        working = _working_entry(repo, rel, staged)
        if working is not None and not _same_content(working, staged):
            raise WorkingTreeDirty(
                f"{rel!r} has local changes; use --cached to keep the file, or --force"
            )
        committed = head_files.get(rel)
        if committed is None or committed.oid != staged.oid:
            raise WorkingTreeDirty(
                f"{rel!r} has staged changes that are not committed; "
                "use --cached to keep the file, or --force"
            )


def status(repo: Repo) -> StatusReport:
    index = repo.read_index()
    head_files = _head_files(repo)
    report = StatusReport(branch=repo.head_branch(), head=repo.head_commit())
    for rel in sorted(set(index.entries) | set(head_files)):
        staged = index.entries.get(rel)
        committed = head_files.get(rel)
        if staged is None:
            if committed is not None and committed.kind in WORKING_KINDS:
                report.staged[rel] = "deleted"
        elif committed is None:
            report.staged[rel] = "added"
        elif not _same_content(staged, committed):
            report.staged[rel] = "modified"
    for rel, staged in sorted(index.entries.items()):
        working = _working_entry(repo, rel, staged)
        if working is None:
            report.deleted.append(rel)
        elif not _same_content(working, staged):
            report.modified.append(rel)
    report.untracked = [rel for rel in repo.work.files() if rel not in index.entries]
    return report


# ------------------------------------------------------------------ commit
def commit(
    repo: Repo,
    message: str,
    *,
    allow_empty: bool = False,
    meta: dict[str, object] | None = None,
) -> str:
    """Commit the staging area onto the current branch (or detached HEAD).

    A failure before the branch moves raises and changes nothing; once it has moved the
    commit is made, and what fails after (indexing it, syncing the ref) is only a warning.
    """
    if not message.strip():
        raise UsageError("empty commit message; pass -m MESSAGE")
    files = repo.read_index().tree_entries()
    with repo.refs.locked(HEAD) as ref:
        head = ref.oid
        if head is not None:
            files = {**_stored_only_entries(repo, head), **files}
        if head is None and not files and not allow_empty:
            raise NothingToCommit("nothing to commit; stage files with 'modelsync add'")
        with repo.store.batch() as batch:
            tree = repo.write_tree(files, writer=batch)
        if head is not None and not allow_empty and repo.read_commit(head).tree == tree:
            raise NothingToCommit("nothing to commit: the staged files match HEAD")
        made = repo.write_commit(ref, tree, message, meta=meta)
    repo.record_commit(made)
    return made.oid


def _stored_only_entries(repo: Repo, commit_oid: str) -> dict[str, TreeEntry]:
    """Entries that live only in the store, never as working files (checkpoints): a plain
    commit on top of a run's commit carries them over instead of dropping them."""
    files = repo.flatten_tree(repo.read_commit(commit_oid).tree)
    return {rel: entry for rel, entry in files.items() if entry.kind not in WORKING_KINDS}


# -------------------------------------------------------------------- diff
def diff(
    repo: Repo, a: str | None = None, b: str | None = None, *, staged: bool = False
) -> list[FileChange]:
    """Changes between two sides, as git: no revs compares the index with the working tree;
    ``staged`` compares HEAD (or ``a``) with the index; one rev compares it with the
    working tree; two revs compare their commits."""
    from .diff import diff_file_maps

    if a is not None and b is not None:
        return diff_file_maps(repo.commit_files(a), repo.commit_files(b))
    index = repo.read_index()
    staged_files = index.tree_entries()
    if staged:
        base = repo.commit_files(a) if a is not None else _head_files(repo)
        return diff_file_maps(_working_kinds(base), staged_files)
    old = _working_kinds(repo.commit_files(a)) if a is not None else staged_files
    working: dict[str, TreeEntry] = {}
    for rel in sorted(set(old) | set(index.entries)):
        entry = _working_entry(repo, rel, index.entries.get(rel))
        if entry is not None:
            working[rel] = entry.tree_entry()
    return diff_file_maps(old, working, new_in_work_tree=True)


# ---------------------------------------------------------- checkout, reset
def checkout(
    repo: Repo, rev: str, *, force: bool = False, create_branch: str | None = None
) -> str:
    """Make the working tree, index and HEAD match ``rev``; returns the commit id.

    A branch (or run) name attaches HEAD to it; anything else detaches HEAD.
    ``create_branch`` makes a new branch at ``rev`` and attaches HEAD to it.
    """
    target, branch = _checkout_target(repo, rev)
    if create_branch is not None:
        branch = check_ref_name(create_branch)
    target_files = repo.flatten_tree(repo.read_commit(target).tree)
    with contextlib.ExitStack() as stack:
        head = stack.enter_context(repo.refs.locked(HEAD, follow=False))
        if create_branch is not None:
            new_branch = stack.enter_context(repo.refs.locked(BRANCH_PREFIX + create_branch))
            if new_branch.raw is not None:
                raise InvalidRefName(f"a branch named {create_branch!r} already exists")
        index = stack.enter_context(repo.locked_index())
        _update_work_tree(repo, index, target_files, force=force)
        if create_branch is not None:
            new_branch.set(target)
        if branch is not None:
            head.set_symbolic(BRANCH_PREFIX + branch)
        else:
            head.set(target)
    return target


def _checkout_target(repo: Repo, rev: str) -> tuple[str, str | None]:
    """The commit ``rev`` names, and the branch to attach HEAD to (branches before tags)."""
    if rev == HEAD:
        return repo.resolve(HEAD), repo.head_branch()
    if not split_suffixes(rev)[1] and not rev.startswith("refs/"):
        for branch in (rev, run_branch(rev)):
            with contextlib.suppress(InvalidRefName):
                oid = repo.refs.resolve(BRANCH_PREFIX + check_ref_name(branch))
                if oid is not None:
                    return repo.peel(oid), branch
    return repo.resolve(rev), None


def reset(repo: Repo, rev: str = HEAD, *, mode: str = "mixed") -> str:
    """Move the current branch to ``rev``; ``mixed`` resets the index, ``hard`` files too."""
    if mode not in RESET_MODES:
        raise UsageError(f"unknown reset mode {mode!r}; use soft, mixed or hard")
    target = repo.resolve(rev)
    target_files = repo.flatten_tree(repo.read_commit(target).tree)
    with repo.refs.locked(HEAD) as ref:
        if mode != "soft":
            with repo.locked_index() as index:
                if mode == "hard":
                    _update_work_tree(repo, index, target_files, force=True)
                else:
                    _reset_index(index, target_files)
        ref.set(target)
    return target


def _reset_index(index: Index, target_files: dict[str, TreeEntry]) -> None:
    entries: dict[str, IndexEntry] = {}
    for rel, entry in target_files.items():
        if entry.kind not in WORKING_KINDS:
            continue
        previous = index.entries.get(rel)
        if previous is not None and _same_content(previous, entry):
            entries[rel] = previous
        else:
            entries[rel] = IndexEntry(entry.kind, entry.oid, entry.size, entry.mode)
    index.entries = entries
    index.save()


def _update_work_tree(
    repo: Repo, index: Index, target_files: dict[str, TreeEntry], *, force: bool
) -> None:
    """Make the working tree and ``index`` match ``target_files``, all or nothing.

    Local changes to files that are the same in the index and the target are kept, as git
    does; ``force`` drops them.
    """
    from .diff import diff_file_maps

    target = _working_kinds(target_files)
    changes = diff_file_maps(index.tree_entries(), target)
    if not force:
        _refuse_to_clobber(repo, index, changes)
    entries: dict[str, IndexEntry] = {}
    written: list[tuple[str, TreeEntry]] = []
    with FileUpdate(repo.work_tree) as update:
        for change in changes:
            if change.new is None:
                update.remove(change.path)
        for rel, entry in sorted(target.items()):
            existing = index.entries.get(rel)
            if existing is not None and _same_content(existing, entry):
                working = _working_entry(repo, rel, existing) if force else existing
                if working is not None and _same_content(working, entry):
                    entries[rel] = existing
                    continue
            mode = 0o755 if entry.mode == EXECUTABLE_MODE else 0o644
            update.write(rel, iter_content(repo.store, entry.kind, entry.oid), mode)
            written.append((rel, entry))
    for rel, entry in written:
        entries[rel] = IndexEntry.for_file(entry.kind, entry.oid, (repo.work_tree / rel).stat())
    index.entries = entries
    index.save()


def _refuse_to_clobber(repo: Repo, index: Index, changes: list[FileChange]) -> None:
    head_files = _head_files(repo)
    for change in changes:
        staged = index.entries.get(change.path)
        if staged is None:
            if _untracked_in_the_way(repo, index, change.path):
                raise WorkingTreeDirty(
                    f"checkout would overwrite the untracked file {change.path!r}; "
                    "move it or use --force"
                )
            continue
        committed = head_files.get(change.path)
        if committed is None or not _same_content(committed, staged):
            raise WorkingTreeDirty(
                f"checkout would overwrite staged changes to {change.path!r}; "
                "commit them or use --force"
            )
        working = _working_entry(repo, change.path, staged)
        if working is not None and not _same_content(working, staged):
            raise WorkingTreeDirty(
                f"checkout would overwrite local changes to {change.path!r}; "
                "commit them or use --force"
            )


def _untracked_in_the_way(repo: Repo, index: Index, rel: str) -> bool:
    """Whether writing ``rel`` would destroy a file (or link) the index does not know."""
    path = repo.work_tree / rel
    if path.is_symlink() or not path.is_dir():
        return os.path.lexists(path)
    for dirpath, _dirs, files in os.walk(path):
        base = Path(dirpath).relative_to(repo.work_tree).as_posix()
        if any(f"{base}/{name}" not in index.entries for name in files):
            return True
    return False


# ------------------------------------------------------- working files
def _head_files(repo: Repo) -> dict[str, TreeEntry]:
    head = repo.head_commit()
    return repo.flatten_tree(repo.read_commit(head).tree) if head else {}


def _stat_file(repo: Repo, rel: str) -> os.stat_result | None:
    """The stat of the regular file at ``rel``; None when there is none (or a directory)."""
    try:
        st = (repo.work_tree / rel).stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _working_entry(repo: Repo, rel: str, staged: IndexEntry | None) -> IndexEntry | None:
    """The working file as an index entry (hashing only when its stat changed)."""
    st = _stat_file(repo, rel)
    if st is None:
        return None
    if staged is not None and staged.matches_stat(st):
        return staged
    oid = hash_file(repo.work_tree / rel, st.st_size)
    return IndexEntry.for_file(entry_kind_for_size(st.st_size), oid, st)


def _working_kinds(files: dict[str, TreeEntry]) -> dict[str, TreeEntry]:
    """The entries of a tree that are files in the working tree (not checkpoints)."""
    return {rel: entry for rel, entry in files.items() if entry.kind in WORKING_KINDS}


def _same_content(a: IndexEntry | TreeEntry, b: IndexEntry | TreeEntry) -> bool:
    return (a.oid, a.mode) == (b.oid, b.mode)
