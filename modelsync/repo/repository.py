"""The repository's plumbing: opening one, objects, revisions, trees, commits, refs, and the
entry points of maintenance. Every CLI command and API endpoint is a thin layer over ``Repo``.

A repository is a working tree with a ``.modelsync/`` control directory::

    .modelsync/
      config.toml    validated settings (user, core)
      HEAD           "ref: refs/heads/main", or a commit id when detached
      refs/heads/    branches; runs are refs/heads/runs/<name>
      refs/tags/     tags (lightweight: a commit id; annotated: a tag object id)
      objects/       the object store (loose objects and packs)
      index          the staging area and stat cache
      index.db       the SQLite catalog, rebuildable from objects and refs

Refs and the staging area change only under their lock files, and every object is written
before the ref that points at it. The working-tree commands built on this (add, rm, status,
commit of the staging area, diff, checkout, reset) are in ``porcelain``, and are ``Repo``'s
methods by name; the walk over every ref tip is ``history``; fsck and gc are ``maintenance``.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import shutil
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..catalog.db import Catalog, PendingNote
from ..errors import (
    CatalogWarning,
    InvalidRefName,
    ModelSyncError,
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
)
from ..model.layout import BRANCH_PREFIX, HEAD, INDEXED_FILES, TAG_PREFIX
from ..model.objects import (
    CONTROL_DIR,
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
from ..store import DiskStore, ObjectStore, ObjectWriter
from . import catalogsync, porcelain
from .config import Config
from .files import iter_content
from .history import ref_tips, walk_commits
from .index import Index
from .refs import LockedRef, RefContainer, check_ref_name
from .revisions import Resolver, split_suffixes
from .worktree import WorkTree

if TYPE_CHECKING:
    from .diff import FileChange, Patch
    from .maintenance import FsckReport, GcReport

__all__ = ["CONTROL_DIR", "ENV_REPO", "NewCommit", "Repo"]

ENV_REPO = "MODELSYNC_DIR"

Progress = Callable[[int, int], None]


class Worker(Protocol):
    """Something a repository keeps running for the layers above it, until it closes."""

    def close(self) -> None: ...


W = TypeVar("W", bound=Worker)


def _is_work_tree(path: Path) -> bool:
    """Whether ``path`` is the top of a repository's working tree (holds ``.modelsync/HEAD``)."""
    return (path / CONTROL_DIR / "HEAD").is_file()


@dataclass(frozen=True)
class NewCommit:
    """A commit its ref has just moved to (``Repo.write_commit``), and the note that says the
    catalog may lack it until ``Repo.record_commit`` indexes it (``catalogsync``)."""

    oid: str
    commit: Commit
    note: PendingNote


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
        """Stop every thread this repository runs, each after those that still use it:

        1. the workers the layers above keep here (``worker``), newest first: the checkpoint
           writer finishes committing what ``save_async`` was given, which needs the catalog
           and the store, then lets go of the store's batch workers it kept between snapshots;
        2. the catalog, which those commits indexed;
        3. the store (``DiskStore.close``): its background compressor, which stops between two
           objects (what is left raw waits for the next process or gc), then its batch workers,
           then its pack descriptors.

        A run's metric writer and checkpoint queue are the run's, not the repository's:
        several runs may share one repository, each with threads named after it, and
        ``Run.finish`` stops them before the run's last commit (a run that opened its
        repository closes it only then). Finish the runs you gave a repository before closing
        it. A checkpoint load's reader threads live only during that call. Nothing else starts
        a thread: a plain ``add`` or ``commit`` leaves none running (the store's workers stop
        with the batch, and only ``raw-*`` packs left to compress start the compressor). The
        repository stays usable after ``close``; what starts again, the next ``close`` stops.
        """
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
        self, files: dict[str, TreeEntry], writer: ObjectWriter | None = None
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

    def _write_node(self, node: dict[str, object], writer: ObjectWriter) -> str:
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

    # --------------------------------------------------------------- staging
    def read_index(self) -> Index:
        """The staging area as it is on disk."""
        return Index.load(self.control_dir / "index")

    def locked_index(self) -> contextlib.AbstractContextManager[Index]:
        """The staging area under its lock file, for a command that changes it."""
        return Index.locked(self.control_dir / "index", self.config.core.lock_timeout)

    def relative_path(self, path: str | os.PathLike[str]) -> str:
        """A user's path as a POSIX path inside the work tree (see ``worktree``)."""
        return self.work.relative_path(path)

    # -------------------------------------------------------------- porcelain
    # The working-tree commands, written once as functions of a repository in ``porcelain``
    # (its docstring says why); named here, each is a method: ``repo.add(paths)``.
    add = porcelain.add
    rm = porcelain.rm
    status = porcelain.status
    commit = porcelain.commit
    diff = porcelain.diff
    checkout = porcelain.checkout
    reset = porcelain.reset

    # ---------------------------------------------------------------- commits
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
            made = self.write_commit(
                held,
                tree,
                message,
                parents=parents,
                meta=meta,
                expected_old=expected_old,
                timestamp=timestamp,
            )
        self.record_commit(made)
        return made.oid

    def write_commit(
        self,
        ref: LockedRef,
        tree: str,
        message: str,
        *,
        parents: tuple[str, ...] | None = None,
        meta: dict[str, object] | None = None,
        expected_old: str | None = None,
        timestamp: float | None = None,
    ) -> NewCommit:
        """Write the commit and move ``ref``, whose lock the caller holds, to it (the step
        ``commit_tree`` and ``porcelain.commit`` share); then ``record_commit`` it. Until it
        is indexed, a note says the catalog may lack it (``catalogsync``)."""
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
        return NewCommit(oid, commit, note)

    def _ref_holds(self, name: str, oid: str) -> bool:
        try:
            return self.refs.read_raw(name) == oid
        except OSError:
            return False

    def record_commit(self, made: NewCommit) -> None:
        """Index a commit whose ref has moved, and any ancestor the catalog lacks.

        The commit is made whatever happens here: a failure is a CatalogWarning, and the note
        it leaves makes the next command that opens the catalog index the commit.
        """
        try:
            run_files = self.run_files(made.commit)
            with self.catalog.write() as conn:
                catalogsync.index_commit(self, conn, made.oid, made.commit, run_files)
        except (ModelSyncError, OSError, sqlite3.Error) as exc:
            warnings.warn(catalogsync.lag_warning(made.oid, exc), CatalogWarning, stacklevel=3)
            return
        made.note.remove()

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

    # ---------------------------------------------------------------- content
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
        tips = ref_tips(self.refs).ids
        others = [self.peel(tip) for name, tip in tips.items() if name != excluded_ref]
        # Found as a tip or as a parent, so that ``oid`` itself is never read: it may be the
        # damaged commit its branch is being deleted for.
        return oid in others or any(
            oid in commit.parents for _, commit in walk_commits(self.read_commit, others)
        )

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
        stored), so that ``close`` closes them before the catalog and the store. A worker
        starts its threads only when given work, and stops them in its ``close``."""
        with self._workers_lock:
            worker = self._workers.get(kind)
            if worker is None:
                worker = self._workers[kind] = start()
        assert isinstance(worker, kind)
        return worker

    # ------------------------------------------------------- fsck, gc, index
    def _roots(self, report: FsckReport | None = None) -> list[tuple[str, str]]:
        """What everything kept hangs from: the ref tips (``history``) and the staged files.

        A ref holding no object id goes into ``report``; without one it raises
        RepositoryCorrupt, since all it reached would look unreachable.
        """
        tips = ref_tips(self.refs)
        if tips.unreadable:
            if report is None:
                problems = [f"ref {name} holds no object id" for name in tips.unreadable]
                raise RepositoryCorrupt(problems)
            for name in tips.unreadable:
                report.add_dangling_ref(name)
        roots = [
            ("tag" if name.startswith(TAG_PREFIX) and self._is_tag(oid) else "commit", oid)
            for name, oid in tips.ids.items()
        ]
        roots += [(entry.kind, entry.oid) for entry in self.read_index().entries.values()]
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
        tips = [self.peel(oid) for oid in ref_tips(self.refs).ids.values()]
        yield from walk_commits(self.read_commit, tips)

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
