"""The working tree: which files a user's paths name, and changing many files all or nothing.

A path is relative to the current directory when that is inside the working tree, and to the
working tree's root otherwise (as after ``git -C``). A pathspec is a file, a directory (every
file below it) or a glob: ``*``, ``?`` and ``[...]`` match within one path component and ``**``
across directories, e.g. ``'data/**/*.csv'``. Files ``.modelsyncignore`` excludes are skipped
unless a path names them exactly.

Every path this module hands on or changes is one a tree may hold (``objects.check_tree_path``),
so no pathspec and no tree reaches outside the root or into the control directory; and
``FileUpdate`` never writes or deletes through a symbolic link to a directory.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from types import TracebackType

from ..errors import PathError
from ..model.objects import MalformedObject, check_tree_path
from ..util.fileio import fsync_dir
from .ignore import IGNORE_FILE, IgnoreRules

GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    return not GLOB_CHARS.isdisjoint(pattern)


def _under(paths: Iterable[str], directory: str) -> list[str]:
    """The paths inside ``directory`` ("" is the root)."""
    if not directory:
        return list(paths)
    prefix = directory + "/"
    return [path for path in paths if path.startswith(prefix)]


class WorkTree:
    def __init__(self, root: Path, control_dir: str) -> None:
        self.root = root
        self.control_dir = control_dir

    def _base(self) -> Path:
        cwd = Path.cwd()
        return cwd if cwd == self.root or self.root in cwd.parents else self.root

    def relative_path(self, path: str | os.PathLike[str]) -> str:
        """A user's path as a POSIX path relative to the root ("" for the root itself)."""
        text = os.fspath(path)
        if "\x00" in text:
            raise PathError(f"invalid path {text!r}")
        head, tail = os.path.split(os.path.normpath(os.path.join(self._base(), text)))
        # Symlinked directories resolve (tmp dirs often are links); a linked file keeps its name.
        absolute = Path(os.path.realpath(head), tail)
        try:
            relative = absolute.relative_to(self.root)
        except ValueError:
            raise PathError(f"{text!r} is outside the repository at {self.root}") from None
        if relative.parts and relative.parts[0] == self.control_dir:
            raise PathError(f"{text!r} is inside the {self.control_dir} control directory")
        return relative.as_posix() if relative.parts else ""

    def files(self, start: str = "") -> Iterator[str]:
        """Every file below ``start`` that is not ignored, in sorted order."""
        rules = IgnoreRules(self.root)
        base = self.root / start if start else self.root
        for dirpath, dirnames, filenames in os.walk(base):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            rel_dir = "" if rel_dir == "." else rel_dir + "/"
            dirnames[:] = sorted(d for d in dirnames if not rules.ignored(rel_dir + d, is_dir=True))
            for name in sorted(filenames):
                rel = rel_dir + name
                if not rules.ignored(rel) and os.path.isfile(os.path.join(dirpath, name)):
                    yield rel

    def expand(self, patterns: Iterable[str], tracked: Collection[str]) -> list[str]:
        """The files (existing, or ``tracked`` ones now deleted) that pathspecs name, in order.

        Raises PathError, before anything happens, for a pattern that names nothing (an
        existing directory without files is not an error, as with git), or for a file whose
        path no tree can hold.
        """
        selected: dict[str, None] = {}
        for pattern in patterns:
            expand_one = self._glob if is_glob(pattern) else self._path
            selected.update(dict.fromkeys(expand_one(pattern, tracked)))
        for rel in selected:
            try:
                check_tree_path(rel)
            except MalformedObject as exc:
                raise PathError(
                    f"cannot track {rel!r}: {exc}; rename it or list it in {IGNORE_FILE}"
                ) from None
        return list(selected)

    def _path(self, pattern: str, tracked: Collection[str]) -> list[str]:
        rel = self.relative_path(pattern)
        absolute = self.root / rel
        if absolute.is_dir():
            return list(dict.fromkeys([*self.files(rel), *_under(tracked, rel)]))
        if absolute.is_file() or rel in tracked:
            return [rel]
        raise PathError(f"pathspec {pattern!r} did not match any files")

    def _glob(self, pattern: str, tracked: Collection[str]) -> list[str]:
        parts = pattern.split("/")
        first_glob = next(i for i, part in enumerate(parts) if is_glob(part))
        literal = "/".join(parts[:first_glob]) or ("/" if pattern.startswith("/") else ".")
        directory = self.relative_path(literal)
        import pathspec  # on first use, as in ``ignore``

        # Anchored gitignore syntax is glob syntax with ``**``, and names a directory's files too.
        spec = pathspec.GitIgnoreSpec.from_lines(["/" + "/".join(parts[first_glob:])])
        candidates = _under(tracked, directory)
        if (self.root / directory).is_dir():
            candidates += self.files(directory)
        skip = len(directory) + 1 if directory else 0
        matches = [rel for rel in dict.fromkeys(candidates) if spec.match_file(rel[skip:])]
        if not matches:
            raise PathError(f"pathspec {pattern!r} did not match any files")
        return matches


class FileUpdate:
    """Files written and removed in the working tree together, or not at all.

    ``write`` puts each new file, in full and fsync'd, in a temporary file beside where it goes
    (in the nearest directory that exists now). Only when every one is written, so that a missing
    or corrupt object stops the update before any file changed, does leaving the block remove the
    files to remove and rename the new ones into place. An error inside the block deletes the
    temporary files and leaves the working tree as it was.

    Paths are checked as a tree's are, so nothing outside the root or inside the control
    directory is named. The directories on the way are looked at without following links, from
    the root down: a write below a symbolic link is refused with PathError (following it could
    write anywhere), and a removal below one is skipped, since that file is not in the working
    tree (as git does). Only this process's own changes are guarded: a concurrent process that
    swaps a directory for a link between the check and the rename is not.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._staged: list[tuple[Path, Path]] = []
        self._removed: set[Path] = set()

    def __enter__(self) -> FileUpdate:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._apply()
        else:
            self._discard()

    def remove(self, rel: str) -> None:
        """Delete ``rel``; call for every removal before the writes that may need its place.

        Nothing happens to a path that is not a file or link in the working tree now.
        """
        path = self._checked(rel, "remove")
        directory, _blocker = self._walk_parents(rel)
        if directory == path.parent and os.path.lexists(path) and not _is_directory(path):
            self._removed.add(path)

    def write(self, rel: str, pieces: Iterable[bytes], mode: int) -> None:
        dest = self._checked(rel, "write")
        staging_dir = self._staging_dir(rel, dest)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=staging_dir)
        tmp = Path(name)
        self._staged.append((tmp, dest))
        with os.fdopen(fd, "wb") as out:
            for piece in pieces:
                out.write(piece)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)

    def _checked(self, rel: str, verb: str) -> Path:
        """``rel`` under the root, once it is a path that a tree may hold."""
        try:
            check_tree_path(rel)
        except MalformedObject as exc:
            raise PathError(f"cannot {verb} {rel!r}: {exc}") from None
        return self.root / rel

    def _walk_parents(self, rel: str) -> tuple[Path, Path | None]:
        """The deepest directory (not a link) on the way to ``rel``, and the file or link that
        stops the walk above ``rel``'s directory (None when the rest is missing or the walk got
        there)."""
        directory = self.root
        for name in rel.split("/")[:-1]:
            step = directory / name
            try:
                if not stat.S_ISDIR(step.lstat().st_mode):
                    return directory, step
            except FileNotFoundError:
                return directory, None
            directory = step
        return directory, None

    def _staging_dir(self, rel: str, dest: Path) -> Path:
        """The deepest existing directory above ``dest``, after checking nothing is in the way."""
        directory, blocker = self._walk_parents(rel)
        if blocker is not None and blocker not in self._removed:
            shown = blocker.relative_to(self.root).as_posix()
            if blocker.is_symlink():
                raise PathError(
                    f"cannot write {rel!r}: {shown!r} is a symbolic link, "
                    "and files are never written through one"
                )
            raise PathError(f"cannot write {rel!r}: the file {shown!r} is in the way")
        if blocker is None and _is_directory(dest) and not self._emptied(dest):
            raise PathError(f"cannot write {rel!r}: a directory with other files is in the way")
        return directory

    def _emptied(self, directory: Path) -> bool:
        """Whether removing the files to remove leaves ``directory`` without files or links."""
        for dirpath, dirs, files in os.walk(directory):
            linked = [name for name in dirs if os.path.islink(os.path.join(dirpath, name))]
            if any(Path(dirpath, name) not in self._removed for name in [*files, *linked]):
                return False
        return True

    def _apply(self) -> None:
        for path in sorted(self._removed, reverse=True):
            path.unlink(missing_ok=True)
            self._prune_empty_dirs(path.parent)
        touched: set[Path] = set()
        for tmp, dest in self._staged:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if _is_directory(dest):
                _remove_empty_tree(dest)
            os.replace(tmp, dest)
            touched.update((tmp.parent, dest.parent))
        for directory in touched:
            with contextlib.suppress(FileNotFoundError):
                fsync_dir(directory)

    def _discard(self) -> None:
        for tmp, _dest in self._staged:
            tmp.unlink(missing_ok=True)

    def _prune_empty_dirs(self, directory: Path) -> None:
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


def _is_directory(path: Path) -> bool:
    """Whether ``path`` is a directory itself, not a link to one."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _remove_empty_tree(directory: Path) -> None:
    """Remove a directory that holds only (possibly nested) empty directories."""
    for dirpath, _dirs, _files in os.walk(directory, topdown=False):
        os.rmdir(dirpath)
