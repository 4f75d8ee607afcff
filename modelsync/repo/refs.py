"""Refs: HEAD, branches (``refs/heads/``, runs are ``refs/heads/runs/<name>``) and tags; the
namespaces are defined in ``model.layout``.

A ref file holds one object id, or ``ref: <other ref>`` for a symbolic ref (HEAD). Every update
is a compare-and-swap under ``<ref>.lock`` (O_EXCL), as in dulwich: ``locked`` holds the lock,
the caller compares the value it holds with the one it read, and writes only if they match.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Collection, Iterator
from pathlib import Path

from ..errors import InvalidRefName, RefError, RefLocked, shorten
from ..model.layout import BRANCH_PREFIX, TAG_PREFIX
from ..util.fileio import LockFile, LockTimeout, atomic_write
from ..util.hashing import is_oid

SYMREF_PREFIX = "ref: "

_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
MAX_NAME_CHARS = 200
# A ref is a file, and each component of its name a file name, which file systems limit to 255
# bytes. A new name's components get at most MAX_COMPONENT_BYTES, leaving room for the ``.lock``
# and temporary siblings an update creates beside the ref.
_FILE_NAME_BYTES = 255
MAX_COMPONENT_BYTES = 200
# No ref file has a longer full name: ``refs/heads/runs/`` and MAX_NAME_CHARS of UTF-8.
_MAX_FULL_NAME_BYTES = 1024


def check_ref_name(name: str, what: str = "branch") -> str:
    """Validate a short branch, tag or run name the way ``git check-ref-format`` would, and so
    that its file, and the files beside it while it is updated, fit the file system."""
    problems = []
    if not name or name == "@":
        problems.append("it is empty")
    elif _FORBIDDEN.search(name):
        problems.append(
            "it contains a space, control character, '..', '//', '@{' or one of ~^:?*[\\"
        )
    elif name.startswith(("-", "/", ".")) or name.endswith(("/", ".", ".lock")):
        problems.append("it starts with '-', '/' or '.', or ends with '/', '.' or '.lock'")
    elif any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        problems.append("a path component starts with '.' or ends with '.lock'")
    elif len(name) > MAX_NAME_CHARS:
        problems.append(f"it is longer than {MAX_NAME_CHARS} characters")
    elif any(len(os.fsencode(part)) > MAX_COMPONENT_BYTES for part in name.split("/")):
        problems.append(f"a path component is longer than {MAX_COMPONENT_BYTES} bytes")
    if problems:
        raise InvalidRefName(f"invalid {what} name {shorten(name)}: {problems[0]}")
    return name


def could_be_stored(name: str) -> bool:
    """Whether a ref file could have the (short or full) name ``name``: a name that fails this
    names no ref, and looking it up must not reach the file system (ENAMETOOLONG)."""
    encoded = os.fsencode(name)
    if len(encoded) > _MAX_FULL_NAME_BYTES or b"\0" in encoded:
        return False
    return all(len(part) <= _FILE_NAME_BYTES for part in encoded.split(b"/"))


def _is_branch_or_tag(name: str) -> bool:
    """Whether ``name`` is the full name of a branch or tag (``refs/heads/main``)."""
    for prefix in (BRANCH_PREFIX, TAG_PREFIX):
        if name.startswith(prefix):
            try:
                check_ref_name(name[len(prefix) :])
            except InvalidRefName:
                return False
            return True
    return False


class RefContainer:
    def __init__(self, root: Path, lock_timeout: float = 10.0) -> None:
        self.root = root
        self.lock_timeout = lock_timeout

    def _path(self, name: str) -> Path:
        return self.root / name

    # ----------------------------------------------------------------- reading
    def read_raw(self, name: str) -> str | None:
        """What the ref file ``name`` holds, stripped; None when there is no such ref."""
        if not could_be_stored(name):
            return None
        try:
            # Undecodable bytes read as what they are, garbage: no id, which callers report.
            return self._path(name).read_text(encoding="utf-8", errors="replace").strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            # The repository's own path may leave too little room for a name that fits.
            if exc.errno == errno.ENAMETOOLONG:
                return None
            raise

    def symbolic_target(self, name: str) -> str | None:
        """The ref that ``name`` points at, if it is symbolic and that is a branch or tag: a
        target such as ``../../x`` is garbage, never a path to follow out of the refs."""
        raw = self.read_raw(name)
        if raw is None or not raw.startswith(SYMREF_PREFIX):
            return None
        target = raw[len(SYMREF_PREFIX) :]
        return target if _is_branch_or_tag(target) else None

    def follow(self, name: str) -> str:
        """The name of the ref that ``name`` finally points through (itself if not symbolic)."""
        seen = set()
        while (target := self.symbolic_target(name)) is not None:
            if name in seen:
                break
            seen.add(name)
            name = target
        return name

    def resolve(self, name: str) -> str | None:
        raw = self.read_raw(self.follow(name))
        if raw is None or not is_oid(raw):
            return None
        return raw

    def keys(self, prefix: str, *, exclude: Collection[str] = ()) -> list[str]:
        """Full names of the refs under ``prefix`` (e.g. ``refs/heads/``), sorted.

        A prefix that is no directory matches ref names starting with it (``refs/tags/runs/foo@``
        lists the labels of run ``foo``). ``exclude`` names directories to leave out
        (``refs/heads/runs/``): with 10,000 runs, listing only the other branches stays cheap.
        """
        base = self._path(prefix)
        if not base.is_dir():
            base = base.parent
        if not base.is_dir():
            return []
        skipped = {name.rstrip("/") + "/" for name in exclude}
        names = []
        for dirpath, dirs, files in os.walk(base):
            here = Path(dirpath).relative_to(self.root).as_posix() + "/"
            dirs[:] = [
                d
                for d in dirs
                if (here + d + "/").startswith(prefix) and here + d + "/" not in skipped
            ]
            for file in files:
                if file.endswith(".lock") or file.startswith("."):
                    continue
                if (here + file).startswith(prefix):
                    names.append(here + file)
        return sorted(names)

    def items(self, prefix: str, *, exclude: Collection[str] = ()) -> dict[str, str]:
        out = {}
        for name in self.keys(prefix, exclude=exclude):
            value = self.read_raw(name)
            if value is not None and is_oid(value):
                out[name] = value
        return out

    # ----------------------------------------------------------------- writing
    @contextlib.contextmanager
    def locked(self, name: str, *, follow: bool = True) -> Iterator[LockedRef]:
        """Hold ``name``'s lock (through symrefs when ``follow``): read it, then change it.

        Everything done inside sees a value no other writer can change until the block ends,
        so a caller can check, write the objects a new value needs, and only then write it.
        """
        target = self.follow(name) if follow else name
        lock = LockFile(self._path(target), timeout=self.lock_timeout)
        try:
            lock.acquire()
        except LockTimeout as exc:
            raise RefLocked(target, str(exc.lock_path), exc.owner_description) from None
        held = LockedRef(self, target)
        try:
            yield held
        finally:
            lock.release()
            if held.deleted:
                # Only now: the lock file kept the ref's directory from being empty.
                self._prune_empty_dirs(self._path(target).parent)

    def remove_if_equals(self, name: str, old: str | None, *, any_old: bool = False) -> bool:
        with self.locked(name, follow=False) as ref:
            if ref.raw is None or (not any_old and ref.raw != old):
                return False
            ref.delete()
            return True

    def _prune_empty_dirs(self, directory: Path) -> None:
        stop = {self._path(prefix.rstrip("/")) for prefix in (BRANCH_PREFIX, TAG_PREFIX)}
        stop.add(self.root)
        while directory not in stop and directory.is_relative_to(self.root):
            with contextlib.suppress(OSError):
                directory.rmdir()
                directory = directory.parent
                continue
            break

    def set_symbolic(self, name: str, target: str) -> None:
        with self.locked(name, follow=False) as ref:
            ref.set_symbolic(target)

    def detach(self, name: str, oid: str) -> None:
        """Make a symbolic ref (HEAD) hold an id directly."""
        with self.locked(name, follow=False) as ref:
            ref.set(oid)


class LockedRef:
    """A ref whose lock the caller holds (see ``RefContainer.locked``)."""

    def __init__(self, refs: RefContainer, name: str) -> None:
        self.name = name
        self._refs = refs
        self.raw = refs.read_raw(name)
        self.deleted = False

    @property
    def oid(self) -> str | None:
        """The id the ref holds, or None when it does not exist."""
        if self.raw is not None and not is_oid(self.raw):
            raise RefError(f"ref {self.name!r} holds {self.raw[:80]!r}, not an object id")
        return self.raw

    def set(self, value: str) -> None:
        atomic_write(self._refs._path(self.name), (value + "\n").encode())
        self.raw = value
        self.deleted = False

    def set_symbolic(self, target: str) -> None:
        atomic_write(self._refs._path(self.name), f"{SYMREF_PREFIX}{target}\n".encode())
        self.raw = SYMREF_PREFIX + target

    def delete(self) -> None:
        self._refs._path(self.name).unlink(missing_ok=True)
        self.raw = None
        self.deleted = True
