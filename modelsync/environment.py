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
from collections.abc import Collection
from pathlib import Path
from typing import Any

from .errors import UsageError
from .metadata import CudaInfo, Environment, GitInfo, GpuInfo
from .optional import loaded
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
def git_info(code_dir: Path, *, with_diff: bool = True) -> GitInfo | None:
    """The git state of the repository holding ``code_dir``; None outside one or without git."""
    if shutil.which("git") is None or not code_dir.is_dir():
        return None
    root = _git(code_dir, "rev-parse", "--show-toplevel")
    if not root:
        return None
    info = GitInfo(root=root.strip())
    commit = _git(code_dir, "rev-parse", "--verify", "--quiet", "HEAD")
    info.commit = commit.strip() if commit else None
    branch = _git(code_dir, "symbolic-ref", "--quiet", "--short", "HEAD")
    info.branch = branch.strip() if branch else None
    remote = _git(code_dir, "config", "--get", "remote.origin.url")
    info.remote = _CREDENTIALS.sub("", remote.strip()) if remote else None
    status = _git(code_dir, "status", "--porcelain", "--untracked-files=normal") or ""
    lines = [line for line in status.splitlines() if line]
    info.untracked = [line[3:] for line in lines if line.startswith("??")]
    info.dirty = any(not line.startswith("??") for line in lines)
    if with_diff and info.dirty and info.commit:
        diff = _git(code_dir, "diff", "HEAD", "--no-color", "--no-ext-diff") or ""
        raw = diff.encode("utf-8", "surrogateescape")
        info.diff_truncated = len(raw) > MAX_DIFF_BYTES
        info.diff = raw[:MAX_DIFF_BYTES].decode("utf-8", "replace")
    return info


def _git(cwd: Path, *args: str) -> str | None:
    env: dict[str, Any] = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    return _run(["git", "-C", str(cwd), *args], env=env)


def _run(command: list[str], env: dict[str, Any] | None = None) -> str | None:
    """stdout of ``command``, or None when it fails, is missing or hangs."""
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            env=env,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.decode("utf-8", "surrogateescape")
