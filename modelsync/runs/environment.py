"""What a run ran on: Python, platform, command, packages, GPUs, the user's git state, seeds.

Each item can be left out by name (``exclude``, or the ``MODELSYNC_CAPTURE_EXCLUDE`` variable as
a comma-separated list). Nothing here imports torch: CUDA details come from torch only when the
program has imported it already, and from ``nvidia-smi`` otherwise; GPU names come from
``nvidia-smi``, and the cuDNN version and (without ``nvidia-smi``) GPU names from torch only once
the program has initialised CUDA itself: capture never does, which would break forked
dataloader workers.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from ..errors import UsageError
from ..model.metadata import CudaInfo, Environment, GitInfo, GpuInfo
from ..util.optional import loaded
from .seeding import recorded_seeds

CAPTURE_ITEMS = (
    "python",
    "platform",
    "command",
    "packages",
    "requirements",
    "gpu",
    "git",
    "git_diff",
    "seeds",
)
EXCLUDE_ENV = "MODELSYNC_CAPTURE_EXCLUDE"
KEY_PACKAGES = (
    "modelsync",
    "torch",
    "torchvision",
    "lightning",
    "pytorch-lightning",
    "torchmetrics",
    "scikit-learn",
    "numpy",
    "pandas",
    "scipy",
    "transformers",
    "accelerate",
    "datasets",
    "safetensors",
    "skops",
    "xgboost",
    "lightgbm",
    "jax",
    "tensorflow",
    "keras",
)
MAX_DIFF_BYTES = 1 << 20
COMMAND_TIMEOUT = 10.0

_CREDENTIALS = re.compile(r"(?<=://)[^/@]+@")


def check_exclude(exclude: Collection[str]) -> frozenset[str]:
    unknown = sorted(set(exclude) - set(CAPTURE_ITEMS))
    if unknown:
        raise UsageError(
            f"unknown environment item(s) {', '.join(unknown)}; "
            f"choose from {', '.join(CAPTURE_ITEMS)}"
        )
    return frozenset(exclude)


def excluded_by_env() -> frozenset[str]:
    raw = os.environ.get(EXCLUDE_ENV, "")
    return check_exclude([item.strip() for item in raw.split(",") if item.strip()])


def capture_environment(
    exclude: Collection[str] = (), code_dir: Path | None = None
) -> tuple[Environment, str | None]:
    """The environment, and the ``requirements.txt`` text (None when left out)."""
    skip = check_exclude(exclude) | excluded_by_env()
    env = Environment(captured=[item for item in CAPTURE_ITEMS if item not in skip])
    if "python" not in skip:
        env.python_version = sys.version
        env.python_executable = sys.executable
    if "platform" not in skip:
        env.platform = platform.platform()
        env.hostname = socket.gethostname()
    if "command" not in skip:
        env.command = list(sys.argv)
        env.cwd = os.getcwd()
    if "packages" not in skip:
        env.packages = key_package_versions()
    if "gpu" not in skip:
        env.cuda = cuda_info()
    if "git" not in skip:
        env.git = git_info(code_dir or default_code_dir(), with_diff="git_diff" not in skip)
    if "seeds" not in skip:
        env.seeds = recorded_seeds()
    requirements = None if "requirements" in skip else installed_requirements()
    return env, requirements


def default_code_dir() -> Path:
    """Where the user's code lives: the main script's directory, else the working directory."""
    script = sys.argv[0] if sys.argv else ""
    if script and os.path.isfile(script):
        return Path(script).resolve().parent
    return Path.cwd()


# ------------------------------------------------------------------- packages
@functools.lru_cache(maxsize=1)
def key_package_versions() -> dict[str, str]:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


@functools.lru_cache(maxsize=1)
def installed_requirements() -> str:
    """Every installed distribution as ``name==version``, like ``pip freeze``."""
    pins: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        found = _name_and_version(dist)
        if found is not None:
            pins.setdefault(_normalise(found[0]), f"{found[0]}=={found[1]}")
    return "".join(f"{pins[key]}\n" for key in sorted(pins))


def _name_and_version(dist: importlib.metadata.Distribution) -> tuple[str, str] | None:
    """Read from the metadata's header lines only: parsing whole files (long descriptions
    included) for hundreds of packages takes seconds."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            break
        key, _, value = line.partition(":")
        if key in ("Name", "Version") and key not in fields:
            fields[key] = value.strip()
    if "Name" not in fields or "Version" not in fields:
        return None
    return fields["Name"], fields["Version"]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ------------------------------------------------------------------------ GPU
def cuda_info() -> CudaInfo | None:
    info = CudaInfo()
    torch: Any = loaded("torch")
    cuda_ready = torch is not None and torch.cuda.is_initialized()
    if torch is not None:
        info.cuda_version = getattr(torch.version, "cuda", None)
    if cuda_ready:
        # asked any earlier, cuDNN would initialise CUDA itself
        info.cudnn_version = str(torch.backends.cudnn.version())
    smi = _nvidia_smi()
    if smi is not None:
        info.driver_version, info.gpus = smi
    elif cuda_ready:
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            info.gpus.append(GpuInfo(name=props.name, memory_mib=props.total_memory >> 20))
    if not info.gpus and info.cuda_version is None:
        return None
    return info


def _nvidia_smi() -> tuple[str | None, list[GpuInfo]] | None:
    if shutil.which("nvidia-smi") is None:
        return None
    out = _run(
        [
            "nvidia-smi",
            "--query-gpu=name,memory.total,driver_version",
            "--format=csv,noheader,nounits",
        ]
    )
    if out is None:
        return None
    gpus = []
    driver = None
    for line in out.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 3:
            continue
        name, memory, driver = parts
        gpus.append(GpuInfo(name=name, memory_mib=int(memory) if memory.isdigit() else None))
    return driver, gpus


# ------------------------------------------------------------------------ git
# A capture runs one ``git status`` (commit, branch and changes in one go), and ``git diff`` only
# when there are changes. What rarely changes is remembered for the process: the repository's
# root and remote, until its config file changes, and the diff, until the status or a changed
# file does. Files and configs changed in the last two seconds are never trusted to their
# timestamps (a timestamp ticks coarsely: a second edit within one tick can leave it as it was).
_RECENT_NS = 2_000_000_000
_CHANGED_PATH_FIELDS = {"1": 9, "2": 10, "u": 11}  # fields of a status record, path last

_Stamp: TypeAlias = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class _Repository:
    root: str
    remote: str | None
    config: Path
    config_stamp: _Stamp | None

    def is_current(self) -> bool:
        """Whether the config file is still as it was when the remote was read."""
        return self.config_stamp is not None and _stamp(self.config) == self.config_stamp


@dataclass(frozen=True)
class _Change:
    """A path with staged or unstaged changes, as ``git status`` listed it."""

    record: str
    paths: tuple[str, ...]  # a rename's source too
    submodule: bool


_repositories: dict[Path, _Repository] = {}
_diffs: dict[str, tuple[tuple[object, ...], str]] = {}


def git_info(code_dir: Path, *, with_diff: bool = True) -> GitInfo | None:
    """The git state of the repository holding ``code_dir``; None outside one or without git."""
    if shutil.which("git") is None or not code_dir.is_dir():
        return None
    status = _git(
        code_dir, "status", "--porcelain=v2", "--branch", "--untracked-files=normal", "-z"
    )
    repository = None if status is None else _repository(code_dir)
    if status is None or repository is None:
        return None
    info = GitInfo(root=repository.root, remote=repository.remote)
    changes = _read_status(status, info)
    info.dirty = bool(changes)
    if with_diff and info.dirty and info.commit:
        raw = _diff(code_dir, repository.root, info.commit, changes).encode(
            "utf-8", "surrogateescape"
        )
        info.diff_truncated = len(raw) > MAX_DIFF_BYTES
        info.diff = raw[:MAX_DIFF_BYTES].decode("utf-8", "replace")
    return info


def _repository(code_dir: Path) -> _Repository | None:
    """The root and remote of the repository holding ``code_dir``."""
    known = _repositories.get(code_dir)
    if known is not None and known.is_current():
        return known
    found = _git(code_dir, "rev-parse", "--show-toplevel", "--git-common-dir")
    lines = found.splitlines() if found else []
    if len(lines) != 2:
        return None
    config = Path(code_dir, lines[1], "config")
    stamp = _stamp(config)  # taken first: a later edit makes the next capture look again
    remote = _git(code_dir, "config", "--get", "remote.origin.url")
    repository = _Repository(
        root=lines[0],
        remote=_CREDENTIALS.sub("", remote.strip()) if remote else None,
        config=config,
        config_stamp=stamp,
    )
    _repositories[code_dir] = repository
    return repository


def _read_status(status: str, info: GitInfo) -> list[_Change]:
    """Commit, branch and untracked paths from ``git status --porcelain=v2 --branch -z`` into
    ``info``; returns the changed paths."""
    changes = []
    records = iter(status.split("\0"))
    for record in records:
        kind, _, rest = record.partition(" ")
        if record.startswith("# branch.oid "):
            oid = record.removeprefix("# branch.oid ")
            info.commit = None if oid == "(initial)" else oid
        elif record.startswith("# branch.head "):
            head = record.removeprefix("# branch.head ")
            info.branch = None if head == "(detached)" else head
        elif kind == "?":
            info.untracked.append(rest)
        elif kind in _CHANGED_PATH_FIELDS:
            fields = record.split(" ", _CHANGED_PATH_FIELDS[kind] - 1)
            paths = (fields[-1], next(records, "")) if kind == "2" else (fields[-1],)
            changes.append(_Change(record, paths, submodule=not fields[2].startswith("N")))
    return changes


def _diff(code_dir: Path, root: str, commit: str, changes: list[_Change]) -> str:
    """``git diff HEAD``, or the one taken last when nothing it depends on has changed."""
    key = _diff_key(root, commit, changes)
    cached = _diffs.get(root)
    if key is not None and cached is not None and cached[0] == key:
        return cached[1]
    diff = _git(code_dir, "diff", "HEAD", "--no-color", "--no-ext-diff") or ""
    if key is not None:
        _diffs[root] = (key, diff)
    return diff


def _diff_key(root: str, commit: str, changes: list[_Change]) -> tuple[object, ...] | None:
    """What the diff depends on: the commit, the status of each changed path and the stat of
    its file; None when that cannot tell (a submodule, a file changed just now)."""
    stamps: list[_Stamp | None] = []
    for change in changes:
        if change.submodule:
            return None
        for path in change.paths:
            stamp = _stamp(Path(root, path))
            if stamp is None and os.path.lexists(Path(root, path)):
                return None
            stamps.append(stamp)
    return (commit, tuple(change.record for change in changes), tuple(stamps))


def _stamp(path: Path) -> _Stamp | None:
    """The stat of ``path`` that changes with its content; None when it is missing or was
    changed too recently for its timestamps to tell."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if max(st.st_mtime_ns, st.st_ctime_ns) > time.time_ns() - _RECENT_NS:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_mode)


def _git(cwd: Path, *args: str) -> str | None:
    env: dict[str, Any] = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    return _run(["git", "-C", str(cwd), *args], env=env)


def _run(command: list[str], env: dict[str, Any] | None = None) -> str | None:
    """stdout of ``command``, or None when it fails, is missing or hangs."""
    executable = shutil.which(command[0])
    if executable is None:
        return None
    try:
        result = subprocess.run(
            [executable, *command[1:]],
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            env=env,
            check=False,
            stdin=subprocess.DEVNULL,
            # with a full path and no descriptors to close (ours are not inheritable), Python
            # starts it with posix_spawn: in half the time, in a process with many libraries
            close_fds=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.decode("utf-8", "surrogateescape")
