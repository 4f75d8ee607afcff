"""The repository façade: every CLI command and API endpoint is a thin layer over a method here.

A repository is a working tree with a ``.modelsync/`` control directory::

    .modelsync/
      config.toml    validated settings (user, core)
      HEAD           "ref: refs/heads/main", or a commit id when detached
      refs/heads/    branches; runs are refs/heads/runs/<name>
      refs/tags/     tags (lightweight: a commit id; annotated: a tag object id)
      objects/       the object store (loose objects and packs)
      index          the staging area and stat cache
      index.db       the SQLite catalog, rebuildable from objects and refs

A command that fails on bad input changes nothing: every check runs before the first write,
refs and the staging area are held under their lock files while they change, and working-tree
files are replaced all together (``worktree.FileUpdate``).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import shutil
import sqlite3
import stat
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..catalog.db import Catalog, PendingNote
from ..errors import (
    CatalogWarning,
    InvalidRefName,
    ModelSyncError,
    NothingToCommit,
    ObjectCorrupt,
    ObjectError,
    PathError,
    RefConflict,
    RepositoryCorrupt,
    RepositoryExists,
    RepositoryNotFound,
    RepositoryWarning,
    UnknownRevision,
    UsageError,
    WorkingTreeDirty,
)
from ..model.layout import BRANCH_PREFIX, HEAD, INDEXED_FILES, TAG_PREFIX, run_branch
from ..model.objects import (
    CONTROL_DIR,
    EXECUTABLE_MODE,
    TREE_MODE,
    Commit,
    MalformedObject,
    Signature,
    Tag,
    Tree,
    TreeEntry,
    check_tree_path,
    object_type,
)
from ..store import Batch, DiskStore, ObjectStore
from ..util.hashing import is_oid
from . import catalogsync
from .config import Config
from .files import entry_kind_for_size, hash_file, iter_content, store_file
from .index import Index, IndexEntry, file_mode
from .refs import SYMREF_PREFIX, LockedRef, RefContainer, check_ref_name
from .revisions import Resolver, split_suffixes
from .worktree import FileUpdate, WorkTree

if TYPE_CHECKING:
    from .diff import FileChange, Patch
    from .maintenance import FsckReport, GcReport

__all__ = ["CONTROL_DIR", "ENV_REPO", "Repo", "StatusReport"]

ENV_REPO = "MODELSYNC_DIR"
WORKING_KINDS = ("blob", "file")
"""Tree entry kinds that are files in the working tree."""
RESET_MODES = ("soft", "mixed", "hard")

Progress = Callable[[int, int], None]


class Worker(Protocol):
    """Something a repository keeps running for the layers above it, until it closes."""

    def close(self) -> None: ...


W = TypeVar("W", bound=Worker)


def _is_work_tree(path: Path) -> bool:
    """Whether ``path`` is the top of a repository's working tree (holds ``.modelsync/HEAD``)."""
    return (path / CONTROL_DIR / "HEAD").is_file()


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


class Repo:
    """A repository: a working tree and the ``.modelsync`` directory at its top.

    ``Repo(path)`` opens the repository whose working tree is ``path`` (RepositoryNotFound when
    ``path`` has no ``.modelsync``); ``Repo.open`` also looks in ``$MODELSYNC_DIR`` and the
    parent directories, as git does; ``Repo.init`` makes a new one.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        work_tree = Path(path).resolve()
        if not _is_work_tree(work_tree):
            raise RepositoryNotFound(str(work_tree), parents=False)
        control_dir = work_tree / CONTROL_DIR
        self.work_tree = work_tree
        self.control_dir = control_dir
        self.config = Config.load(control_dir / "config.toml")
        self.store: ObjectStore = DiskStore(control_dir / "objects")
        self.refs = RefContainer(control_dir, lock_timeout=self.config.core.lock_timeout)
        self.catalog = Catalog(
            control_dir / "index.db",
            fill=lambda conn: catalogsync.fill(self, conn),
            catch_up=lambda conn, notes: catalogsync.catch_up(self, conn, notes),
        )
        self.work = WorkTree(work_tree, CONTROL_DIR)
        self.resolver = Resolver(
            refs=self.refs,
            peel=self.peel,
            parents_of=lambda oid: self.read_commit(oid).parents,
            ids_with_prefix=self._ids_with_prefix,
        )
        self._workers: dict[type[Worker], Worker] = {}
        self._workers_lock = threading.Lock()

    # ------------------------------------------------------------ construction
    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str] = ".",
        *,
        name: str | None = None,
        email: str | None = None,
        default_branch: str = "main",
    ) -> Repo:
        work_tree = Path(path).resolve()
        control = work_tree / CONTROL_DIR
        if control.exists():
            raise RepositoryExists(f"a modelsync repository already exists at {work_tree}")
        check_ref_name(default_branch)
        work_tree.mkdir(parents=True, exist_ok=True)
        staging = work_tree / f".{CONTROL_DIR}.init-{os.getpid()}"
        config = Config()
        if name:
            config.user.name = name
        if email:
            config.user.email = email
        config.core.default_branch = default_branch
        try:
            for sub in ("objects/pack", "refs/heads", "refs/tags"):
                (staging / sub).mkdir(parents=True)
            config.save(staging / "config.toml")
            RefContainer(staging).set_symbolic(HEAD, BRANCH_PREFIX + default_branch)
            os.rename(staging, control)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        repo = cls(work_tree)
        repo.catalog.query("SELECT 1")
        return repo

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Repo:
        """Open the repository at ``path``, ``$MODELSYNC_DIR``, or above the working directory."""
        return cls(cls.discover(path))

    @staticmethod
    def discover(path: str | os.PathLike[str] | None = None) -> Path:
        if path is None:
            env = os.environ.get(ENV_REPO)
            start = Path(env) if env else Path.cwd()
        else:
            start = Path(path)
        start = start.resolve()
        if start.name == CONTROL_DIR and (start / "HEAD").is_file():
            return start.parent
        for candidate in (start, *start.parents):
            if _is_work_tree(candidate):
                return candidate
        raise RepositoryNotFound(str(start))

    def close(self) -> None:
        """Close the workers of the layers above (newest first), then the catalog and the
        store they write to."""
        with self._workers_lock:
            workers = list(self._workers.values())
        for worker in reversed(workers):
            worker.close()
        self.catalog.close()
        self.store.close()

    def __enter__(self) -> Repo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def author(self) -> Signature:
        return Signature(self.config.user.name, self.config.user.email)

    # ---------------------------------------------------------------- objects
    def _read_typed(self, oid: str, kind: str) -> bytes:
        data = self.store.get(oid)
        if object_type(data) != kind:
            raise ObjectCorrupt(oid, f"expected a {kind}", malformed=True)
        return data

    def read_commit(self, oid: str) -> Commit:
        try:
            return Commit.from_bytes(self._read_typed(oid, "commit"))
        except MalformedObject as exc:
            raise ObjectCorrupt(oid, str(exc), malformed=True) from exc

    def read_tree(self, oid: str) -> Tree:
        try:
            return Tree.from_bytes(self._read_typed(oid, "tree"))
        except MalformedObject as exc:
            raise ObjectCorrupt(oid, str(exc), malformed=True) from exc

    def read_tag(self, oid: str) -> Tag:
        try:
            return Tag.from_bytes(self._read_typed(oid, "tag"))
        except MalformedObject as exc:
            raise ObjectCorrupt(oid, str(exc), malformed=True) from exc

    def peel(self, oid: str) -> str:
        """The commit an id names: itself, or the target of an annotated tag."""
        data = self.store.get(oid)
        kind = object_type(data)
        if kind == "tag":
            return self.peel(self.read_tag(oid).target)
        if kind != "commit":
            raise UnknownRevision(oid[:12] + " (not a commit)")
        return oid

    def _is_tag(self, oid: str) -> bool:
        try:
            return object_type(self.store.get(oid)) == "tag"
        except ObjectError:
            return False

    def _ids_with_prefix(self, prefix: str) -> list[str]:
        found = self.catalog.commit_ids_with_prefix(prefix)
        if found:
            return found
        matches = []
        for oid in self.store.iter_ids():
            if oid.startswith(prefix) and object_type(self.store.get(oid)) in ("commit", "tag"):
                matches.append(oid)
        return matches

    # -------------------------------------------------------------- revisions
    def resolve(self, rev: str) -> str:
        """The commit id that ``rev`` names (see ``revisions``)."""
        return self.resolver.resolve(rev)

    def head_branch(self) -> str | None:
        target = self.refs.symbolic_target(HEAD)
        return target.removeprefix(BRANCH_PREFIX) if target else None

    def head_commit(self) -> str | None:
        return self.refs.resolve(HEAD)

    def branch_head(self, branch: str) -> str | None:
        return self.refs.resolve(BRANCH_PREFIX + branch)

    def tag_object(self, name: str) -> Tag | None:
        """The annotated tag that ``name`` names; None for a lightweight tag or any other rev."""
        if split_suffixes(name)[1]:
            return None
        found = self.resolver.resolve_ref(name)
        if found is None or not found[0].startswith(TAG_PREFIX) or not self._is_tag(found[1]):
            return None
        return self.read_tag(found[1])

    # ------------------------------------------------------------------ trees
    def write_tree(
        self, files: dict[str, TreeEntry], writer: Batch | ObjectStore | None = None
    ) -> str:
        """Write nested trees for a flat ``{path: entry}`` map; return the root tree id.

        Every path is checked before the first tree is written: PathError for a name no tree
        may hold (``objects.check_entry_name``), UsageError for a file where a directory is.
        """
        target = writer or self.store
        root: dict[str, object] = {}
        for path, entry in files.items():
            node = root
            *directories, name = _tree_path_names(path)
            for part in directories:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise UsageError(f"{path!r} conflicts with the file {part!r}")
                node = child
            if isinstance(node.get(name), dict):
                raise UsageError(f"{path!r} conflicts with the directory of the same name")
            node[name] = entry
        return self._write_node(root, target)

    def _write_node(self, node: dict[str, object], writer: Batch | ObjectStore) -> str:
        entries: dict[str, TreeEntry] = {}
        for name, child in node.items():
            if isinstance(child, dict):
                entries[name] = TreeEntry("tree", self._write_node(child, writer), 0, TREE_MODE)
            else:
                assert isinstance(child, TreeEntry)
                entries[name] = child
        return writer.put(Tree(entries).to_bytes())

    def flatten_tree(self, tree_oid: str, prefix: str = "") -> dict[str, TreeEntry]:
        files: dict[str, TreeEntry] = {}
        for name, entry in self.read_tree(tree_oid).entries.items():
            path = f"{prefix}{name}"
            if entry.kind == "tree":
                files.update(self.flatten_tree(entry.oid, path + "/"))
            else:
                files[path] = entry
        return files

    def commit_files(self, rev: str | None) -> dict[str, TreeEntry]:
        if rev is None:
            return {}
        return self.flatten_tree(self.read_commit(self.resolve(rev)).tree)

    def _head_files(self) -> dict[str, TreeEntry]:
        head = self.head_commit()
        return self.flatten_tree(self.read_commit(head).tree) if head else {}

    # --------------------------------------------------------------- staging
    def _index(self) -> Index:
        return Index.load(self.control_dir / "index")

    def _locked_index(self) -> contextlib.AbstractContextManager[Index]:
        return Index.locked(self.control_dir / "index", self.config.core.lock_timeout)

    def relative_path(self, path: str | os.PathLike[str]) -> str:
        """A user's path as a POSIX path inside the work tree (see ``worktree``)."""
        return self.work.relative_path(path)

    def add(self, paths: Iterable[str], progress: Progress | None = None) -> list[str]:
        """Stage files (paths, directories, globs); returns the paths whose content changed.

        ``progress`` is called with ``(bytes stored, bytes to store)``.
        """
        with self._locked_index() as index:
            targets = self.work.expand(list(paths), index.entries)
            changed: list[str] = []
            to_store: list[tuple[str, os.stat_result]] = []
            for rel in targets:
                st = self._stat_file(rel)
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

            with self.store.batch() as batch:
                for rel, st in to_store:
                    kind, oid = store_file(batch, self.work_tree / rel, st.st_size, advance)
                    current = index.entries.get(rel)
                    if current is None or (current.oid, current.mode) != (oid, file_mode(st)):
                        changed.append(rel)
                    index.entries[rel] = IndexEntry.for_file(kind, oid, st)
            index.save()
        return changed

    def rm(self, paths: Iterable[str], *, cached: bool = False, force: bool = False) -> list[str]:
        """Unstage tracked files and (unless ``cached``) delete them from the working tree.

        Refuses, unless ``force``, to delete a file whose content is not staged or committed.
        """
        with self._locked_index() as index:
            tracked = list(index.entries)
            selected: dict[str, None] = {}
            for pattern in paths:
                hits = [rel for rel in self.work.expand([pattern], tracked) if rel in index.entries]
                if not hits:
                    raise UsageError(f"pathspec {pattern!r} did not match any tracked file")
                selected.update(dict.fromkeys(hits))
            removed = list(selected)
            if not cached and not force:
                self._refuse_to_delete_changes(index, removed)
            for rel in removed:
                del index.entries[rel]
            index.save()
        if not cached:
            with FileUpdate(self.work_tree) as update:
                for rel in removed:
                    update.remove(rel)
        return removed

    def _refuse_to_delete_changes(self, index: Index, paths: list[str]) -> None:
        head_files = self._head_files()
        for rel in paths:
            staged = index.entries[rel]
            working = self._working_entry(rel, staged)
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

    def _stat_file(self, rel: str) -> os.stat_result | None:
        """The stat of the regular file at ``rel``; None when there is none (or a directory)."""
        try:
            st = (self.work_tree / rel).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    def _working_entry(self, rel: str, staged: IndexEntry | None) -> IndexEntry | None:
        """The working file as an index entry (hashing only when its stat changed)."""
        st = self._stat_file(rel)
        if st is None:
            return None
        if staged is not None and staged.matches_stat(st):
            return staged
        oid = hash_file(self.work_tree / rel, st.st_size)
        return IndexEntry.for_file(entry_kind_for_size(st.st_size), oid, st)

    def status(self) -> StatusReport:
        index = self._index()
        head_files = self._head_files()
        report = StatusReport(branch=self.head_branch(), head=self.head_commit())
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
            working = self._working_entry(rel, staged)
            if working is None:
                report.deleted.append(rel)
            elif not _same_content(working, staged):
                report.modified.append(rel)
        report.untracked = [rel for rel in self.work.files() if rel not in index.entries]
        return report

    # ---------------------------------------------------------------- commits
    def commit(
        self,
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
        files = self._index().tree_entries()
        with self.refs.locked(HEAD) as ref:
            head = ref.oid
            if head is not None:
                files = {**self._stored_only_entries(head), **files}
            if head is None and not files and not allow_empty:
                raise NothingToCommit("nothing to commit; stage files with 'modelsync add'")
            with self.store.batch() as batch:
                tree = self.write_tree(files, writer=batch)
            if head is not None and not allow_empty and self.read_commit(head).tree == tree:
                raise NothingToCommit("nothing to commit: the staged files match HEAD")
            oid, commit, note = self._write_commit(ref, tree, message, None, meta, None, None)
        self._record_commit(oid, commit, note)
        return oid

    def _stored_only_entries(self, commit_oid: str) -> dict[str, TreeEntry]:
        """Entries that live only in the store, never as working files (checkpoints): a plain
        commit on top of a run's commit carries them over instead of dropping them."""
        files = self.flatten_tree(self.read_commit(commit_oid).tree)
        return {rel: entry for rel, entry in files.items() if entry.kind not in WORKING_KINDS}

    def commit_tree(
        self,
        tree: str,
        message: str,
        *,
        ref: str,
        parents: tuple[str, ...] | None = None,
        meta: dict[str, object] | None = None,
        expected_old: str | None = None,
        timestamp: float | None = None,
        create: bool = False,
    ) -> str:
        """Write a commit of ``tree`` and move ``ref`` to it by compare-and-swap.

        ``ref`` is ``HEAD`` or a full ref name (``refs/heads/runs/foo``). ``parents`` default to
        the ref's current commit; with ``expected_old``, RefConflict if the ref holds another;
        with ``create``, RefConflict if the ref exists at all. It raises only when the ref has
        not moved: what fails after (indexing the commit, syncing the ref) is a warning.
        """
        with self.refs.locked(ref) as held:
            if create and held.oid is not None:
                raise RefConflict(f"{held.name} already exists")
            oid, commit, note = self._write_commit(
                held, tree, message, parents, meta, expected_old, timestamp
            )
        self._record_commit(oid, commit, note)
        return oid

    def _write_commit(
        self,
        ref: LockedRef,
        tree: str,
        message: str,
        parents: tuple[str, ...] | None,
        meta: dict[str, object] | None,
        expected_old: str | None,
        timestamp: float | None,
    ) -> tuple[str, Commit, PendingNote]:
        """Write the commit and move ``ref`` to it; until it is indexed, a note says the
        catalog may lack it (``catalogsync``)."""
        old = ref.oid
        if expected_old is not None and old != expected_old:
            raise RefConflict(f"{ref.name} moved while committing; try again")
        commit = Commit(
            tree=tree,
            parents=parents if parents is not None else ((old,) if old else ()),
            author=self.author,
            timestamp=time.time() if timestamp is None else timestamp,
            message=message,
            meta=dict(meta or {}),
        )
        oid = self.store.put(commit.to_bytes())
        note = self.catalog.note_pending(ref.name)
        try:
            ref.set(oid)
        except BaseException as exc:
            if not self._ref_holds(ref.name, oid):
                note.remove()  # the ref did not move: nothing changed
                raise
            if not isinstance(exc, OSError):
                raise
            # Renamed into place, then syncing its directory failed: the ref moved, so the
            # commit is made (a power cut could still undo it).
            warnings.warn(
                f"{ref.name} points at the new commit {oid[:12]}, but syncing that to disk "
                f"failed ({exc}): a power cut could undo it",
                RepositoryWarning,
                stacklevel=4,
            )
        return oid, commit, note

    def _ref_holds(self, name: str, oid: str) -> bool:
        try:
            return self.refs.read_raw(name) == oid
        except OSError:
            return False

    def _record_commit(self, oid: str, commit: Commit, note: PendingNote) -> None:
        """Index a commit whose ref has moved, and any ancestor the catalog lacks.

        The commit is made whatever happens here: a failure is a CatalogWarning, and the note
        it leaves makes the next command that opens the catalog index the commit.
        """
        try:
            run_files = self.run_files(commit)
            with self.catalog.write() as conn:
                catalogsync.index_commit(self, conn, oid, commit, run_files)
        except (ModelSyncError, OSError, sqlite3.Error) as exc:
            warnings.warn(catalogsync.lag_warning(oid, exc), CatalogWarning, stacklevel=3)
            return
        note.remove()

    def run_files(self, commit: Commit) -> dict[str, bytes]:
        """A run commit's files that the catalog indexes it by (none for other commits)."""
        if not commit.meta.get("run"):
            return {}
        entries = self.read_tree(commit.tree).entries
        return {
            name: self.store.get(entries[name].oid)
            for name in INDEXED_FILES
            if name in entries and entries[name].kind == "blob"
        }

    def log(self, rev: str = HEAD, limit: int | None = None) -> list[tuple[str, Commit]]:
        """Commits reachable from ``rev``, newest first."""
        if rev == HEAD and self.head_commit() is None:
            return []
        start = self.resolve(rev)
        loaded = {start: self.read_commit(start)}
        frontier = [(-loaded[start].timestamp, start)]
        out: list[tuple[str, Commit]] = []
        while frontier and (limit is None or len(out) < limit):
            _, oid = heapq.heappop(frontier)
            commit = loaded[oid]
            out.append((oid, commit))
            for parent in commit.parents:
                if parent not in loaded:
                    loaded[parent] = self.read_commit(parent)
                    heapq.heappush(frontier, (-loaded[parent].timestamp, parent))
        return out

    # ------------------------------------------------------------------- diff
    def diff(
        self, a: str | None = None, b: str | None = None, *, staged: bool = False
    ) -> list[FileChange]:
        """Changes between two sides, as git: no revs compares the index with the working tree;
        ``staged`` compares HEAD (or ``a``) with the index; one rev compares it with the
        working tree; two revs compare their commits."""
        from .diff import diff_file_maps

        if a is not None and b is not None:
            return diff_file_maps(self.commit_files(a), self.commit_files(b))
        index = self._index()
        staged_files = index.tree_entries()
        if staged:
            base = self.commit_files(a) if a is not None else self._head_files()
            return diff_file_maps(_working_kinds(base), staged_files)
        old = _working_kinds(self.commit_files(a)) if a is not None else staged_files
        working: dict[str, TreeEntry] = {}
        for rel in sorted(set(old) | set(index.entries)):
            entry = self._working_entry(rel, index.entries.get(rel))
            if entry is not None:
                working[rel] = entry.tree_entry()
        return diff_file_maps(old, working, new_in_work_tree=True)

    def patch(self, change: FileChange) -> Patch:
        """How one change's content changed (a unified diff for text; see ``diff.PATCHERS``)."""
        from .diff import make_patch

        return make_patch(self, change)

    def read_file_bytes(self, entry: TreeEntry, limit: int | None = None) -> bytes | None:
        """The content of a stored file, or None when it is larger than ``limit``."""
        if limit is not None and entry.size > limit:
            return None
        return b"".join(iter_content(self.store, entry.kind, entry.oid))

    def working_bytes(self, rel: str, limit: int | None = None) -> bytes | None:
        path = self.work_tree / rel
        if limit is not None and path.stat().st_size > limit:
            return None
        return path.read_bytes()

    # --------------------------------------------------------------- checkout
    def checkout(self, rev: str, *, force: bool = False, create_branch: str | None = None) -> str:
        """Make the working tree, index and HEAD match ``rev``; returns the commit id.

        A branch (or run) name attaches HEAD to it; anything else detaches HEAD.
        ``create_branch`` makes a new branch at ``rev`` and attaches HEAD to it.
        """
        target, branch = self._checkout_target(rev)
        if create_branch is not None:
            branch = check_ref_name(create_branch)
        target_files = self.flatten_tree(self.read_commit(target).tree)
        with contextlib.ExitStack() as stack:
            head = stack.enter_context(self.refs.locked(HEAD, follow=False))
            if create_branch is not None:
                new_branch = stack.enter_context(self.refs.locked(BRANCH_PREFIX + create_branch))
                if new_branch.raw is not None:
                    raise InvalidRefName(f"a branch named {create_branch!r} already exists")
            index = stack.enter_context(self._locked_index())
            self._update_work_tree(index, target_files, force=force)
            if create_branch is not None:
                new_branch.set(target)
            if branch is not None:
                head.set_symbolic(BRANCH_PREFIX + branch)
            else:
                head.set(target)
        return target

    def _checkout_target(self, rev: str) -> tuple[str, str | None]:
        """The commit ``rev`` names, and the branch to attach HEAD to (branches before tags)."""
        if rev == HEAD:
            return self.resolve(HEAD), self.head_branch()
        if not split_suffixes(rev)[1] and not rev.startswith("refs/"):
            for branch in (rev, run_branch(rev)):
                with contextlib.suppress(InvalidRefName):
                    oid = self.refs.resolve(BRANCH_PREFIX + check_ref_name(branch))
                    if oid is not None:
                        return self.peel(oid), branch
        return self.resolve(rev), None

    def _update_work_tree(
        self, index: Index, target_files: dict[str, TreeEntry], *, force: bool
    ) -> None:
        """Make the working tree and ``index`` match ``target_files``, all or nothing.

        Local changes to files that are the same in the index and the target are kept, as git
        does; ``force`` drops them.
        """
        from .diff import diff_file_maps

        target = _working_kinds(target_files)
        changes = diff_file_maps(index.tree_entries(), target)
        if not force:
            self._refuse_to_clobber(index, changes)
        entries: dict[str, IndexEntry] = {}
        written: list[tuple[str, TreeEntry]] = []
        with FileUpdate(self.work_tree) as update:
            for change in changes:
                if change.new is None:
                    update.remove(change.path)
            for rel, entry in sorted(target.items()):
                existing = index.entries.get(rel)
                if existing is not None and _same_content(existing, entry):
                    working = self._working_entry(rel, existing) if force else existing
                    if working is not None and _same_content(working, entry):
                        entries[rel] = existing
                        continue
                mode = 0o755 if entry.mode == EXECUTABLE_MODE else 0o644
                update.write(rel, iter_content(self.store, entry.kind, entry.oid), mode)
                written.append((rel, entry))
        for rel, entry in written:
            entries[rel] = IndexEntry.for_file(entry.kind, entry.oid, (self.work_tree / rel).stat())
        index.entries = entries
        index.save()

    def _refuse_to_clobber(self, index: Index, changes: list[FileChange]) -> None:
        head_files = self._head_files()
        for change in changes:
            staged = index.entries.get(change.path)
            if staged is None:
                if self._untracked_in_the_way(index, change.path):
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
            working = self._working_entry(change.path, staged)
            if working is not None and not _same_content(working, staged):
                raise WorkingTreeDirty(
                    f"checkout would overwrite local changes to {change.path!r}; "
                    "commit them or use --force"
                )

    def _untracked_in_the_way(self, index: Index, rel: str) -> bool:
        """Whether writing ``rel`` would destroy a file (or link) the index does not know."""
        path = self.work_tree / rel
        if path.is_symlink() or not path.is_dir():
            return os.path.lexists(path)
        for dirpath, _dirs, files in os.walk(path):
            base = Path(dirpath).relative_to(self.work_tree).as_posix()
            if any(f"{base}/{name}" not in index.entries for name in files):
                return True
        return False

    def reset(self, rev: str = HEAD, *, mode: str = "mixed") -> str:
        """Move the current branch to ``rev``; ``mixed`` resets the index, ``hard`` files too."""
        if mode not in RESET_MODES:
            raise UsageError(f"unknown reset mode {mode!r}; use soft, mixed or hard")
        target = self.resolve(rev)
        target_files = self.flatten_tree(self.read_commit(target).tree)
        with self.refs.locked(HEAD) as ref:
            if mode != "soft":
                with self._locked_index() as index:
                    if mode == "hard":
                        self._update_work_tree(index, target_files, force=True)
                    else:
                        self._reset_index(index, target_files)
            ref.set(target)
        return target

    def _reset_index(self, index: Index, target_files: dict[str, TreeEntry]) -> None:
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

    # -------------------------------------------------------- branches, tags
    def branches(self) -> dict[str, str]:
        branches = self.refs.items(BRANCH_PREFIX)
        return {name.removeprefix(BRANCH_PREFIX): oid for name, oid in branches.items()}

    def create_branch(self, name: str, rev: str = HEAD, *, force: bool = False) -> str:
        check_ref_name(name)
        oid = self.resolve(rev)
        with self.refs.locked(BRANCH_PREFIX + name) as ref:
            if ref.raw is not None and not force:
                raise InvalidRefName(f"a branch named {name!r} already exists")
            ref.set(oid)
        return oid

    def delete_branch(self, name: str, *, force: bool = False) -> str:
        """Delete a branch; unless ``force``, only one whose commits stay reachable."""
        full = BRANCH_PREFIX + name
        oid = self.refs.resolve(full)
        if oid is None:
            raise UnknownRevision(name, self.resolver.suggest(name))
        if self.head_branch() == name:
            raise UsageError(f"cannot delete the branch {name!r}: it is checked out")
        if not force and not self._reachable_from_other_refs(oid, full):
            raise UsageError(
                f"the branch {name!r} is not merged into HEAD or any other branch or tag; "
                "its commits would be lost at the next gc; use --force to delete it anyway"
            )
        self.refs.remove_if_equals(full, oid)
        return oid

    def _reachable_from_other_refs(self, oid: str, excluded_ref: str) -> bool:
        tips = [v for k, v in self.refs.items(BRANCH_PREFIX).items() if k != excluded_ref]
        tips += self.refs.items(TAG_PREFIX).values()
        head = self.head_commit()
        if head is not None:
            tips.append(head)
        seen: set[str] = set()
        stack = [self.peel(tip) for tip in tips]
        while stack:
            current = stack.pop()
            if current == oid:
                return True
            if current not in seen:
                seen.add(current)
                stack.extend(self.read_commit(current).parents)
        return False

    def tags(self) -> dict[str, str]:
        tags = self.refs.items(TAG_PREFIX)
        return {name.removeprefix(TAG_PREFIX): oid for name, oid in tags.items()}

    def create_tag(
        self, name: str, rev: str = HEAD, *, message: str | None = None, force: bool = False
    ) -> str:
        """Tag the commit ``rev`` names; with ``message``, as an annotated tag object."""
        check_ref_name(name, "tag")
        target = self.resolve(rev)
        with self.refs.locked(TAG_PREFIX + name) as ref:
            if ref.raw is not None and not force:
                raise InvalidRefName(f"a tag named {name!r} already exists")
            value = target
            if message is not None:
                tag = Tag(target, name, self.author, time.time(), message)
                value = self.store.put(tag.to_bytes())
            ref.set(value)
        return target

    def delete_tag(self, name: str) -> str:
        full = TAG_PREFIX + name
        oid = self.refs.resolve(full)
        if oid is None:
            raise UnknownRevision(name, self.resolver.suggest(name))
        self.refs.remove_if_equals(full, oid)
        return oid

    # ---------------------------------------------------------------- workers
    def worker(self, kind: type[W], start: Callable[[], W]) -> W:
        """This process's one worker of ``kind`` for this repository, made by ``start`` on first
        use. The layers above keep theirs here (the checkpoint writer, which remembers what it
        stored), so that ``close`` closes them before the catalog and the store."""
        with self._workers_lock:
            worker = self._workers.get(kind)
            if worker is None:
                worker = self._workers[kind] = start()
        assert isinstance(worker, kind)
        return worker

    # ------------------------------------------------------- fsck, gc, index
    def _roots(self, report: FsckReport | None = None) -> list[tuple[str, str]]:
        """What everything kept hangs from: refs, HEAD and the staged files.

        A ref holding no object id goes into ``report``; without one it raises
        RepositoryCorrupt, since all it reached would look unreachable.
        """
        roots: list[tuple[str, str]] = []
        unreadable: list[str] = []
        for name in [*self.refs.keys(BRANCH_PREFIX), *self.refs.keys(TAG_PREFIX)]:
            raw = self.refs.read_raw(name)
            if raw is None or raw.startswith(SYMREF_PREFIX):
                continue  # deleted meanwhile, or it names a ref that is a root itself
            if not is_oid(raw):
                unreadable.append(name)
            elif name.startswith(TAG_PREFIX) and self._is_tag(raw):
                roots.append(("tag", raw))
            else:
                roots.append(("commit", raw))
        if unreadable:
            if report is None:
                raise RepositoryCorrupt([f"ref {name} holds no object id" for name in unreadable])
            for name in unreadable:
                report.add_dangling_ref(name)
        head = self.head_commit()
        if head is not None:
            roots.append(("commit", head))
        roots += [(entry.kind, entry.oid) for entry in self._index().entries.values()]
        return roots

    def reachable(self, report: FsckReport | None = None) -> set[str]:
        """Every object id reachable from refs, HEAD and the index.

        What cannot be read goes into ``report``; without one, RepositoryCorrupt names it.
        """
        from .maintenance import reachable

        return reachable(self.store, self._roots(report), report)

    def fsck(self, progress: Progress | None = None, *, repair: bool = False) -> FsckReport:
        """Verify every stored object's hash, and that every ref and tree entry resolves;
        list the lock files whose writers are gone (``repair``: remove them)."""
        from .maintenance import (
            FsckReport,
            lock_files,
            remove_stale_locks,
            stale_locks,
            verify_objects,
        )

        report = FsckReport()
        verify_objects(self.store, report, progress)
        for name in [HEAD, *self.refs.keys(BRANCH_PREFIX), *self.refs.keys(TAG_PREFIX)]:
            raw = self.refs.read_raw(self.refs.follow(name))
            if raw is not None and not self.store.has(raw):
                report.add_dangling_ref(name)
        self.reachable(report)
        locks = lock_files(self.control_dir)
        report.stale_locks = remove_stale_locks(locks) if repair else stale_locks(locks)
        report.repaired = repair
        return report

    def gc(
        self,
        *,
        dry_run: bool = False,
        grace: float | None = None,
        progress: Progress | None = None,
    ) -> GcReport:
        """Remove objects no ref, tag, HEAD or staged file can reach, once older than ``grace``
        seconds (default ``maintenance.DEFAULT_GRACE``: another process may be about to commit
        them); ``grace=0`` prunes now. Then remove the lock files whose writers are gone.

        RepositoryCorrupt, removing nothing, when a ref or an object on the way down from the
        roots cannot be read: what it refers to would look unreachable.
        """
        from .maintenance import DEFAULT_GRACE, collect_garbage, lock_files, remove_stale_locks

        if grace is None:
            grace = DEFAULT_GRACE
        report = collect_garbage(
            self.store, self._roots(), dry_run=dry_run, progress=progress, grace=grace
        )
        if not dry_run:
            report.stale_locks = remove_stale_locks(lock_files(self.control_dir))
        return report

    def all_commits(self) -> Iterator[tuple[str, Commit]]:
        """Every commit reachable from HEAD or any branch or tag, each once."""
        tips = [*self.refs.items(BRANCH_PREFIX).values(), *self.refs.items(TAG_PREFIX).values()]
        head = self.head_commit()
        if head is not None:
            tips.append(head)
        seen: set[str] = set()
        stack = [self.peel(oid) for oid in tips]
        while stack:
            oid = stack.pop()
            if oid in seen:
                continue
            seen.add(oid)
            commit = self.read_commit(oid)
            yield oid, commit
            stack.extend(commit.parents)

    def reindex(self, progress: Progress | None = None) -> int:
        """Rebuild the SQLite catalog from objects and refs; returns the commits indexed.

        Every commit is read before the catalog changes, in one transaction, so readers see the
        old catalog or the new one, and a missing object leaves the old one in place. A catalog
        SQLite cannot read is moved aside first (``Catalog.rebuild``).
        """
        commits = list(self.all_commits())

        def fill(conn: sqlite3.Connection) -> int:
            for done, (oid, commit) in enumerate(commits, 1):
                self.catalog.record_commit(conn, oid, commit, self.run_files(commit))
                if progress:
                    progress(done, len(commits))
            return len(commits)

        return self.catalog.rebuild(fill)


def _tree_path_names(path: str) -> list[str]:
    """The names along a flat tree path; PathError for a path that no tree may hold."""
    try:
        return check_tree_path(path).split("/")
    except MalformedObject as exc:
        raise PathError(f"cannot commit {path!r}: {exc}") from None


def _working_kinds(files: dict[str, TreeEntry]) -> dict[str, TreeEntry]:
    """The entries of a tree that are files in the working tree (not checkpoints)."""
    return {rel: entry for rel, entry in files.items() if entry.kind in WORKING_KINDS}


def _same_content(a: IndexEntry | TreeEntry, b: IndexEntry | TreeEntry) -> bool:
    return (a.oid, a.mode) == (b.oid, b.mode)
