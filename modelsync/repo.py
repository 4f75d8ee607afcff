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
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .config import Config
from .db import Catalog
from .errors import (
    InvalidRefName,
    NothingToCommit,
    ObjectCorrupt,
    ObjectError,
    ObjectMissing,
    PathError,
    RefConflict,
    RepositoryExists,
    RepositoryNotFound,
    UnknownRevision,
    UsageError,
    WorkingTreeDirty,
)
from .files import hash_file, store_file, write_content
from .ignore import IgnoreRules
from .index import Index, IndexEntry, file_mode
from .objects import (
    TREE_MODE,
    Commit,
    MalformedObject,
    Signature,
    Tag,
    Tree,
    TreeEntry,
    object_type,
    references,
)
from .refs import BRANCH_PREFIX, HEAD, TAG_PREFIX, RefContainer, check_ref_name
from .revisions import Resolver
from .store import Batch, DiskStore, ObjectStore

CONTROL_DIR = ".modelsync"
ENV_REPO = "MODELSYNC_DIR"
STRUCTURED_KINDS = ("tree", "file", "commit", "tag", "checkpoint")

Progress = Callable[[int, int], None]


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


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str
    old: TreeEntry | None
    new: TreeEntry | None


@dataclass
class FsckReport:
    checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    dangling_refs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.missing or self.dangling_refs)


@dataclass
class GcReport:
    unreachable: list[str]
    removed: int
    bytes_freed: int
    dry_run: bool


class Repo:
    def __init__(self, work_tree: Path, control_dir: Path) -> None:
        self.work_tree = work_tree
        self.control_dir = control_dir
        self.config = Config.load(control_dir / "config.toml")
        self.store: ObjectStore = DiskStore(control_dir / "objects")
        self.refs = RefContainer(control_dir, lock_timeout=self.config.core.lock_timeout)
        self.catalog = Catalog(control_dir / "index.db")
        self.resolver = Resolver(
            refs=self.refs,
            peel=self.peel,
            parents_of=lambda oid: self.read_commit(oid).parents,
            ids_with_prefix=self._ids_with_prefix,
        )

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
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
            raise
        repo = cls(work_tree, control)
        repo.catalog.query("SELECT 1")
        return repo

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Repo:
        """Open the repository at ``path``, ``$MODELSYNC_DIR``, or above the working directory."""
        work_tree = cls.discover(path)
        return cls(work_tree, work_tree / CONTROL_DIR)

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
            if (candidate / CONTROL_DIR / "HEAD").is_file():
                return candidate
        raise RepositoryNotFound(str(start))

    def close(self) -> None:
        self.catalog.close()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

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
            raise ObjectCorrupt(oid, f"expected a {kind}")
        return data

    def read_commit(self, oid: str) -> Commit:
        try:
            return Commit.from_bytes(self._read_typed(oid, "commit"))
        except MalformedObject as exc:
            raise ObjectCorrupt(oid, str(exc)) from exc

    def read_tree(self, oid: str) -> Tree:
        try:
            return Tree.from_bytes(self._read_typed(oid, "tree"))
        except MalformedObject as exc:
            raise ObjectCorrupt(oid, str(exc)) from exc

    def read_tag(self, oid: str) -> Tag:
        try:
            return Tag.from_bytes(self._read_typed(oid, "tag"))
        except MalformedObject as exc:
            raise ObjectCorrupt(oid, str(exc)) from exc

    def peel(self, oid: str) -> str:
        """The commit an id names: itself, or the target of an annotated tag."""
        data = self.store.get(oid)
        kind = object_type(data)
        if kind == "tag":
            return self.peel(Tag.from_bytes(data).target)
        if kind != "commit":
            raise UnknownRevision(oid[:12] + " (not a commit)")
        return oid

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

    # ------------------------------------------------------------------ trees
    def write_tree(self, files: dict[str, TreeEntry], writer: Batch | ObjectStore | None = None) -> str:
        """Write nested trees for a flat ``{path: entry}`` map; return the root tree id."""
        target = writer or self.store
        root: dict[str, object] = {}
        for path, entry in files.items():
            node = root
            parts = path.split("/")
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise PathError(f"{path!r} conflicts with the file {part!r}")
                node = child
            node[parts[-1]] = entry
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

    # --------------------------------------------------------------- staging
    def _index(self) -> Index:
        return Index.load(self.control_dir / "index")

    def relative_path(self, path: str | os.PathLike[str]) -> str:
        """A user's path, relative to the cwd or absolute, as a POSIX path inside the work tree."""
        text = os.fspath(path)
        if "\x00" in text:
            raise PathError(f"invalid path {text!r}")
        absolute = Path(os.path.abspath(text))
        try:
            relative = absolute.relative_to(self.work_tree)
        except ValueError:
            raise PathError(f"{text!r} is outside the repository at {self.work_tree}") from None
        if relative.parts and relative.parts[0] == CONTROL_DIR:
            raise PathError(f"{text!r} is inside the {CONTROL_DIR} control directory")
        return relative.as_posix() if relative.parts else ""

    def _walk_work_tree(self, start: str = "") -> Iterator[str]:
        rules = IgnoreRules(self.work_tree)
        base = self.work_tree / start if start else self.work_tree
        for dirpath, dirnames, filenames in os.walk(base):
            rel_dir = Path(dirpath).relative_to(self.work_tree).as_posix()
            rel_dir = "" if rel_dir == "." else rel_dir + "/"
            dirnames[:] = sorted(d for d in dirnames if not rules.ignored(rel_dir + d, is_dir=True))
            for name in sorted(filenames):
                rel = rel_dir + name
                if not rules.ignored(rel) and os.path.isfile(os.path.join(dirpath, name)):
                    yield rel

    def _expand(self, patterns: Iterable[str], index: Index) -> list[str]:
        """Files named by paths, directories and globs (relative to the cwd)."""
        selected: dict[str, None] = {}
        for pattern in patterns:
            matched = False
            if any(ch in pattern for ch in "*?["):
                rel_pattern = self.relative_path(Path.cwd()) if pattern else ""
                full = f"{rel_pattern}/{pattern}".lstrip("/") if rel_pattern else pattern
                from fnmatch import fnmatchcase

                for rel in self._walk_work_tree():
                    if fnmatchcase(rel, full):
                        selected[rel] = None
                        matched = True
                for rel in index.entries:
                    if fnmatchcase(rel, full):
                        selected[rel] = None
                        matched = True
            else:
                rel = self.relative_path(pattern)
                absolute = self.work_tree / rel
                if absolute.is_dir():
                    for child in self._walk_work_tree(rel):
                        selected[child] = None
                    prefix = f"{rel}/" if rel else ""
                    for tracked in index.entries:
                        if tracked.startswith(prefix):
                            selected[tracked] = None
                    matched = True
                elif absolute.is_file() or rel in index.entries:
                    selected[rel] = None
                    matched = True
            if not matched:
                raise PathError(f"pathspec {pattern!r} did not match any files")
        return list(selected)

    def add(self, paths: Iterable[str], progress: Progress | None = None) -> list[str]:
        """Stage files (paths, directories, globs); returns the paths whose content changed."""
        index = self._index()
        targets = self._expand(list(paths), index)
        changed: list[str] = []
        with self.store.batch() as batch:
            for done, rel in enumerate(targets, 1):
                absolute = self.work_tree / rel
                try:
                    st = absolute.stat()
                except FileNotFoundError:
                    if index.entries.pop(rel, None) is not None:
                        changed.append(rel)
                    continue
                current = index.entries.get(rel)
                if current is not None and current.matches_stat(st):
                    continue
                kind, oid = store_file(batch, absolute, st.st_size)
                if current is None or current.oid != oid or current.mode != file_mode(st):
                    changed.append(rel)
                index.entries[rel] = IndexEntry.for_file(kind, oid, st)
                if progress:
                    progress(done, len(targets))
        index.save()
        return changed

    def rm(self, paths: Iterable[str], *, cached: bool = False) -> list[str]:
        index = self._index()
        removed = []
        for pattern in paths:
            rel = self.relative_path(pattern)
            prefix = f"{rel}/"
            hits = [p for p in index.entries if p == rel or p.startswith(prefix)]
            if not hits:
                raise PathError(f"pathspec {pattern!r} did not match any tracked file")
            removed += hits
        for rel in removed:
            del index.entries[rel]
        index.save()
        if not cached:
            for rel in removed:
                (self.work_tree / rel).unlink(missing_ok=True)
        return removed

    def _working_entry(self, rel: str, staged: IndexEntry | None) -> IndexEntry | None:
        """The working file as an index entry (hashing only when its stat changed)."""
        try:
            st = (self.work_tree / rel).stat()
        except FileNotFoundError:
            return None
        if staged is not None and staged.matches_stat(st):
            return staged
        oid = hash_file(self.work_tree / rel, st.st_size)
        kind = "blob" if st.st_size <= (1 << 20) else "file"
        return IndexEntry.for_file(kind, oid, st)

    def status(self) -> StatusReport:
        index = self._index()
        head = self.head_commit()
        head_files = self.commit_files(head) if head else {}
        report = StatusReport(branch=self.head_branch(), head=head)
        for rel in sorted(set(index.entries) | set(head_files)):
            staged = index.entries.get(rel)
            committed = head_files.get(rel)
            if staged is None:
                report.staged[rel] = "deleted"
            elif committed is None:
                report.staged[rel] = "added"
            elif (staged.oid, staged.mode) != (committed.oid, committed.mode):
                report.staged[rel] = "modified"
        for rel, staged in sorted(index.entries.items()):
            working = self._working_entry(rel, staged)
            if working is None:
                report.deleted.append(rel)
            elif (working.oid, working.mode) != (staged.oid, staged.mode):
                report.modified.append(rel)
        report.untracked = [rel for rel in self._walk_work_tree() if rel not in index.entries]
        return report

    # ---------------------------------------------------------------- commits
    def commit(
        self,
        message: str,
        *,
        allow_empty: bool = False,
        meta: dict[str, object] | None = None,
    ) -> str:
        """Commit the staging area onto the current branch (or detached HEAD)."""
        if not message.strip():
            raise UsageError("empty commit message; pass -m MESSAGE")
        index = self._index()
        files = {rel: TreeEntry(e.kind, e.oid, e.size, e.mode) for rel, e in index.entries.items()}
        tree = self.write_tree(files)
        head = self.head_commit()
        if head is not None and not allow_empty and self.read_commit(head).tree == tree:
            raise NothingToCommit("nothing to commit, working tree matches HEAD")
        return self.commit_tree(tree, message, ref=HEAD, meta=meta)

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
    ) -> str:
        """Write a commit of ``tree`` and move ``ref`` to it by compare-and-swap.

        ``ref`` is ``HEAD`` or a full ref name (``refs/heads/runs/foo``). ``parents`` default to
        the ref's current commit; the move fails with RefConflict if the ref changed meanwhile.
        """
        old = self.refs.resolve(ref) if expected_old is None else expected_old
        commit = Commit(
            tree=tree,
            parents=parents if parents is not None else ((old,) if old else ()),
            author=self.author,
            timestamp=time.time() if timestamp is None else timestamp,
            message=message,
            meta=dict(meta or {}),
        )
        oid = self.store.put(commit.to_bytes())
        if not self.refs.set_if_equals(ref, old, oid):
            raise RefConflict(f"{self.refs.follow(ref)} moved while committing; try again")
        with self.catalog.write() as conn:
            self.catalog.record_commit(conn, oid, commit)
        return oid

    def log(self, rev: str = HEAD, limit: int | None = None) -> list[tuple[str, Commit]]:
        """Commits reachable from ``rev``, newest first."""
        if rev == HEAD and self.head_commit() is None:
            return []
        start = self.resolve(rev)
        seen = {start}
        frontier = [(start, self.read_commit(start))]
        out: list[tuple[str, Commit]] = []
        while frontier and (limit is None or len(out) < limit):
            frontier.sort(key=lambda item: item[1].timestamp)
            oid, commit = frontier.pop()
            out.append((oid, commit))
            for parent in commit.parents:
                if parent not in seen:
                    seen.add(parent)
                    frontier.append((parent, self.read_commit(parent)))
        return out

    # ------------------------------------------------------------------- diff
    def diff(self, a: str | None = None, b: str | None = None, *, staged: bool = False) -> list[FileChange]:
        """Changes between two sides, as git: no revs compares the index with the working tree;
        ``staged`` compares HEAD with the index; one rev compares it with the working tree."""
        if a is not None and b is not None:
            return diff_file_maps(self.commit_files(a), self.commit_files(b))
        index = self._index()
        staged_files = {rel: TreeEntry(e.kind, e.oid, e.size, e.mode) for rel, e in index.entries.items()}
        if staged:
            base_rev = a if a is not None else self.head_commit()
            return diff_file_maps(self.commit_files(base_rev), staged_files)
        old = self.commit_files(a) if a is not None else staged_files
        working: dict[str, TreeEntry] = {}
        for rel in old:
            entry = self._working_entry(rel, index.entries.get(rel))
            if entry is not None:
                working[rel] = TreeEntry(entry.kind, entry.oid, entry.size, entry.mode)
        return diff_file_maps(old, working)

    def read_file_bytes(self, entry: TreeEntry, limit: int | None = None) -> bytes | None:
        """The content of a stored file, or None when it is larger than ``limit``."""
        if limit is not None and entry.size > limit:
            return None
        from .files import iter_content

        return b"".join(iter_content(self.store, entry.kind, entry.oid))

    def working_bytes(self, rel: str, limit: int | None = None) -> bytes | None:
        path = self.work_tree / rel
        if limit is not None and path.stat().st_size > limit:
            return None
        return path.read_bytes()

    # --------------------------------------------------------------- checkout
    def checkout(self, rev: str, *, force: bool = False, create_branch: str | None = None) -> str:
        """Make the working tree, index and HEAD match ``rev``; returns the commit id."""
        target = self.resolve(rev)
        branch = create_branch
        if branch is None and self.refs.resolve(BRANCH_PREFIX + rev) is not None:
            branch = rev
        target_files = self.flatten_tree(self.read_commit(target).tree)
        self._update_work_tree(target_files, force=force)
        if create_branch is not None:
            self.create_branch(create_branch, target)
        if branch is not None:
            self.refs.set_symbolic(HEAD, BRANCH_PREFIX + branch)
        else:
            self.refs.detach(HEAD, target)
        return target

    def _update_work_tree(self, target_files: dict[str, TreeEntry], *, force: bool) -> None:
        index = self._index()
        current = {rel: TreeEntry(e.kind, e.oid, e.size, e.mode) for rel, e in index.entries.items()}
        changes = diff_file_maps(current, target_files)
        if not force:
            self._refuse_to_clobber(index, changes)
        new_index = Index(index.path, {})
        for rel, entry in target_files.items():
            if entry.kind not in ("blob", "file"):
                continue
            path = self.work_tree / rel
            existing = index.entries.get(rel)
            if existing is not None and existing.oid == entry.oid and existing.mode == entry.mode:
                try:
                    st = path.stat()
                    if existing.matches_stat(st):
                        new_index.entries[rel] = existing
                        continue
                except FileNotFoundError:
                    pass
            write_content(self.store, entry.kind, entry.oid, path, 0o755 if entry.mode == "100755" else 0o644)
            new_index.entries[rel] = IndexEntry.for_file(entry.kind, entry.oid, path.stat())
        for change in changes:
            if change.new is None:
                (self.work_tree / change.path).unlink(missing_ok=True)
        new_index.save()

    def _refuse_to_clobber(self, index: Index, changes: list[FileChange]) -> None:
        head = self.head_commit()
        head_files = self.commit_files(head) if head else {}
        for change in changes:
            staged = index.entries.get(change.path)
            committed = head_files.get(change.path)
            if staged is not None and (committed is None or committed.oid != staged.oid):
                raise WorkingTreeDirty(
                    f"checkout would overwrite staged changes to {change.path!r}; "
                    "commit them or use --force"
                )
            working = self._working_entry(change.path, staged)
            if staged is not None and (working is None or working.oid != staged.oid):
                raise WorkingTreeDirty(
                    f"checkout would overwrite local changes to {change.path!r}; "
                    "commit them or use --force"
                )
            if staged is None and change.new is not None and (self.work_tree / change.path).exists():
                raise WorkingTreeDirty(
                    f"checkout would overwrite the untracked file {change.path!r}; "
                    "move it or use --force"
                )

    def reset(self, rev: str = HEAD, *, mode: str = "mixed") -> str:
        """Move the current branch to ``rev``; ``mixed`` also resets the index, ``hard`` the files."""
        if mode not in ("soft", "mixed", "hard"):
            raise UsageError(f"unknown reset mode {mode!r}; use soft, mixed or hard")
        target = self.resolve(rev)
        target_files = self.flatten_tree(self.read_commit(target).tree)
        if mode == "hard":
            self._update_work_tree(target_files, force=True)
        elif mode == "mixed":
            old_index = self._index()
            index = Index(old_index.path, {})
            for rel, entry in target_files.items():
                if entry.kind not in ("blob", "file"):
                    continue
                previous = old_index.entries.get(rel)
                if previous is not None and previous.oid == entry.oid:
                    index.entries[rel] = previous
                else:
                    index.entries[rel] = IndexEntry(entry.kind, entry.oid, entry.size, entry.mode)
            index.save()
        old = self.head_commit()
        self.refs.set_if_equals(HEAD, old, target, any_old=True)
        return target

    # -------------------------------------------------------- branches, tags
    def branches(self) -> dict[str, str]:
        return {name.removeprefix(BRANCH_PREFIX): oid for name, oid in self.refs.items(BRANCH_PREFIX).items()}

    def create_branch(self, name: str, rev: str = HEAD, *, force: bool = False) -> str:
        check_ref_name(name)
        oid = self.resolve(rev)
        full = BRANCH_PREFIX + name
        if force:
            self.refs.set_if_equals(full, None, oid, any_old=True)
        elif not self.refs.add_if_new(full, oid):
            raise InvalidRefName(f"a branch named {name!r} already exists")
        return oid

    def delete_branch(self, name: str) -> str:
        full = BRANCH_PREFIX + name
        oid = self.refs.resolve(full)
        if oid is None:
            raise UnknownRevision(name, self.resolver.suggest(name))
        if self.head_branch() == name:
            raise UsageError(f"cannot delete the branch {name!r}: it is checked out")
        self.refs.remove_if_equals(full, oid)
        return oid

    def tags(self) -> dict[str, str]:
        return {name.removeprefix(TAG_PREFIX): oid for name, oid in self.refs.items(TAG_PREFIX).items()}

    def create_tag(
        self, name: str, rev: str = HEAD, *, message: str | None = None, force: bool = False
    ) -> str:
        check_ref_name(name, "tag")
        target = self.resolve(rev)
        value = target
        if message is not None:
            value = self.store.put(Tag(target, name, self.author, time.time(), message).to_bytes())
        full = TAG_PREFIX + name
        if force:
            self.refs.set_if_equals(full, None, value, any_old=True)
        elif not self.refs.add_if_new(full, value):
            raise InvalidRefName(f"a tag named {name!r} already exists")
        return target

    def delete_tag(self, name: str) -> str:
        full = TAG_PREFIX + name
        oid = self.refs.resolve(full)
        if oid is None:
            raise UnknownRevision(name, self.resolver.suggest(name))
        self.refs.remove_if_equals(full, oid)
        return oid

    # ------------------------------------------------------- fsck, gc, index
    def _roots(self) -> list[tuple[str, str]]:
        roots = [("commit", oid) for oid in self.refs.items(BRANCH_PREFIX).values()]
        for oid in self.refs.items(TAG_PREFIX).values():
            roots.append(("tag" if self._is_tag(oid) else "commit", oid))
        head = self.refs.read_raw(HEAD)
        if head is not None and len(head) == 64:
            roots.append(("commit", head))
        for entry in self._index().entries.values():
            roots.append((entry.kind, entry.oid))
        return roots

    def _is_tag(self, oid: str) -> bool:
        try:
            return object_type(self.store.get(oid)) == "tag"
        except ObjectError:
            return False

    def reachable(self, report: FsckReport | None = None) -> set[str]:
        """Every object id reachable from refs, HEAD and the index."""
        seen: set[str] = set()
        stack = [(kind, oid, "ref") for kind, oid in self._roots()]
        while stack:
            kind, oid, parent = stack.pop()
            if oid in seen:
                continue
            seen.add(oid)
            if kind not in STRUCTURED_KINDS:
                if not self.store.has(oid) and report is not None:
                    report.missing.append((oid, f"{kind} referenced by {parent[:12]}"))
                continue
            try:
                data = self.store.get(oid)
                children = references(kind, data)
            except ObjectMissing:
                if report is not None:
                    report.missing.append((oid, f"{kind} referenced by {parent[:12]}"))
                continue
            except (ObjectCorrupt, MalformedObject):
                if report is not None and oid not in report.corrupt:
                    report.corrupt.append(oid)
                continue
            stack.extend((child_kind, child, oid) for child_kind, child in children)
        return seen

    def fsck(self, progress: Progress | None = None) -> FsckReport:
        """Verify every stored object's hash, and that every ref and tree entry resolves."""
        report = FsckReport()
        ids = list(self.store.iter_ids())
        for done, oid in enumerate(ids, 1):
            try:
                self.store.get(oid)
            except ObjectCorrupt:
                report.corrupt.append(oid)
            report.checked += 1
            if progress:
                progress(done, len(ids))
        for name in self.refs.keys(BRANCH_PREFIX) + self.refs.keys(TAG_PREFIX):
            raw = self.refs.read_raw(name)
            if raw is None or len(raw) != 64 or not self.store.has(raw):
                report.dangling_refs.append(name)
        self.reachable(report)
        return report

    def gc(self, *, dry_run: bool = False, progress: Progress | None = None) -> GcReport:
        """Remove objects no ref, tag, HEAD or staged file can reach."""
        keep = self.reachable()
        unreachable = [oid for oid in self.store.iter_ids() if oid not in keep]
        freed = sum(self.store.stored_size(oid) for oid in unreachable)
        removed = 0
        if not dry_run:
            removed = self.store.remove(set(unreachable))
            self.store.remove_stale_temporaries()
        if progress:
            progress(len(unreachable), len(unreachable))
        return GcReport(unreachable=unreachable, removed=removed, bytes_freed=freed, dry_run=dry_run)

    def all_commits(self) -> Iterator[tuple[str, Commit]]:
        """Every commit reachable from any branch or tag, each once."""
        seen: set[str] = set()
        stack = [self.peel(oid) for oid in self.refs.items(BRANCH_PREFIX).values()]
        stack += [self.peel(oid) for oid in self.refs.items(TAG_PREFIX).values()]
        while stack:
            oid = stack.pop()
            if oid in seen:
                continue
            seen.add(oid)
            commit = self.read_commit(oid)
            yield oid, commit
            stack.extend(commit.parents)

    def reindex(self, progress: Progress | None = None) -> int:
        """Rebuild the SQLite catalog from objects and refs; returns the commits indexed."""
        commits = list(self.all_commits())
        self.catalog.clear()
        with self.catalog.write() as conn:
            for done, (oid, commit) in enumerate(commits, 1):
                self.catalog.record_commit(conn, oid, commit)
                if progress:
                    progress(done, len(commits))
        return len(commits)


def diff_file_maps(old: dict[str, TreeEntry], new: dict[str, TreeEntry]) -> list[FileChange]:
    changes = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before is None:
            changes.append(FileChange(path, "added", None, after))
        elif after is None:
            changes.append(FileChange(path, "deleted", before, None))
        elif (before.oid, before.mode) != (after.oid, after.mode):
            changes.append(FileChange(path, "modified", before, after))
    return changes
