"""Starting a run: ``modelsync.start_run``, for a new run, a resumed one or a fork.

A new run claims its name with its first commit, which creates the branch ``runs/<name>`` by
compare-and-swap: of two processes starting the same name, one gets it. A generated name that
turns out taken is replaced by another, and so is a given one with ``unique_name`` (``name-2``,
``name-3``, ...); otherwise a taken name is an error. A resumed run carries on from its
branch's latest commit: its params, datasets, saved files, checkpoint and metric position. A
forked run is a new run whose first commit has the fork point as parent and carries its
checkpoint.

Once started, the run is the active run of the caller's context (``active``), and the process
hooks are in place (``lifecycle``).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog.liveness import effective_status
from ..catalog.runs import forget_points_from, last_step_of
from ..errors import (
    TRACKING_ERRORS,
    ModelSyncError,
    ReadOnlyRepository,
    RefConflict,
    TrackingError,
    UnknownRun,
    UsageError,
)
from ..model.layout import (
    CHECKPOINT_ENTRY,
    DATASETS_FILE,
    FILES_PREFIX,
    PARAMS_FILE,
    RUN_FILE,
    RUN_REFS,
    SEGMENT_FILE,
    run_branch,
    run_ref,
)
from ..model.metadata import DatasetList, Environment, Params, RunInfo
from ..model.objects import Commit, TreeEntry
from ..model.segment import decode_segment
from ..repo.repository import Repo
from . import lifecycle
from .active import activate, context_run
from .environment import capture_environment
from .names import check_run_name, generate_run_name
from .read import RepoLike, get_run
from .run import Origin, Run, describe, repository_error, stored_params

_NAME_ATTEMPTS = 20


def start_run(
    name: str | None = None,
    repo: RepoLike = None,
    params: Mapping[str, Any] | None = None,
    tags: Collection[str] | None = None,
    parent: Run | str | None = None,
    resume: str | bool | None = None,
    *,
    strict: bool = True,
    capture_exclude: Collection[str] = (),
    code_dir: str | os.PathLike[str] | None = None,
    entrypoint: str | None = None,
    unique_name: bool = False,
    fork: str | None = None,
) -> Run:
    """Start (or, with ``resume``, continue) the run ``runs/<name>`` and make it the active run.

    ``name`` is generated (``brave-otter-0421``) when absent; a taken name is an error unless
    ``unique_name`` (then ``name-2``, ``name-3``, ... are tried). ``parent`` defaults to the
    active run, so runs started inside a run are its children. ``resume=True`` (or the run's
    name) continues an existing run with new commits. ``capture_exclude`` leaves environment
    items out (see ``environment.CAPTURE_ITEMS``). ``code_dir`` is where the user's code lives
    (for its git state; default: the main script's directory). ``fork`` (a revision, e.g.
    ``foo@best``) starts the new run from that commit: its first commit has it as parent and
    carries its checkpoint, and the run it belongs to is the default ``parent``.
    """
    resume_name = _resume_name(name, resume)
    if fork is not None and resume_name is not None:
        raise UsageError("fork starts a new run and resume continues one: pass only one of them")
    if resume_name is None and name is not None:
        check_run_name(name)
    label_list = [str(t) for t in tags or ()]
    repo_obj, owns = (repo, False) if isinstance(repo, Repo) else (Repo.open(repo), True)
    setup = _Setup(repo_obj, owns, strict, capture_exclude, code_dir)
    try:
        if resume_name is not None:
            run = _resumed_run(setup, resume_name, params, label_list)
        else:
            if name is not None and not unique_name:
                _check_free(repo_obj, name)
            run = _new_run(setup, name, params, label_list, parent, entrypoint, fork, unique_name)
    except BaseException:
        if owns:
            repo_obj.close()
        raise
    lifecycle.install()
    activate(run)
    return run


@dataclass(frozen=True)
class _Setup:
    """What starting any run takes: the repository (``owns_repo``: the run closes it when it
    ends), strictness, and what the environment capture leaves out and where the code is."""

    repo: Repo
    owns_repo: bool
    strict: bool
    capture_exclude: Collection[str]
    code_dir: str | os.PathLike[str] | None

    def environment(self) -> tuple[Environment, str | None]:
        """The environment now, and the requirements (None when left out)."""
        code_dir = Path(self.code_dir) if self.code_dir is not None else None
        return capture_environment(self.capture_exclude, code_dir)

    def run(
        self,
        info: RunInfo,
        params: dict[str, Any],
        environment: tuple[Environment, str | None],
        origin: Origin,
        problems: Sequence[tuple[str, BaseException]] = (),
    ) -> Run:
        """The run ``info`` describes, started (``Run``: its first commit is made)."""
        return Run(
            self.repo,
            info,
            owns_repo=self.owns_repo,
            strict=self.strict,
            params=params,
            environment=environment[0],
            requirements=environment[1],
            origin=origin,
            problems=problems,
        )


def _resume_name(name: str | None, resume: str | bool | None) -> str | None:
    if resume is None or resume is False:
        return None
    if resume is True:
        if name is None:
            raise UsageError("resume=True needs the name of the run to continue")
        return check_run_name(name)
    if not isinstance(resume, str):
        raise UsageError(f"resume takes a run name or True, not {resume!r}")
    if name is not None and name != resume:
        raise UsageError(f"name={name!r} and resume={resume!r} name different runs")
    return check_run_name(resume)


def _parent_name(parent: Run | str | None) -> str | None:
    if isinstance(parent, Run):
        return parent.name
    if isinstance(parent, str):
        return check_run_name(parent)
    current = context_run()
    if current is not None and current.is_open:
        return current.name
    return None


# ------------------------------------------------------------------ new runs
def _new_run(
    setup: _Setup,
    name: str | None,
    params: Mapping[str, Any] | None,
    tags: list[str],
    parent: Run | str | None,
    entrypoint: str | None,
    fork: str | None,
    unique: bool,
) -> Run:
    """A new run, started under ``name`` (generated when None), or under the first free name
    when it is taken and may change."""
    environment = setup.environment()
    info = RunInfo(
        name=name or generate_run_name(),
        tags=tags,
        start_time=time.time(),
        pid=os.getpid(),
        hostname=socket.gethostname(),
    )
    info.parent = _parent_name(parent)
    info.entrypoint = entrypoint
    origin = Origin() if fork is None else _fork_point(setup.repo, fork, info)
    flat = stored_params(params, info.name, stacklevel=3) if params else {}
    attempt = 1
    while True:
        try:
            return setup.run(info, flat, environment, origin)
        except RefConflict:
            if name is not None and not unique:
                _check_free(setup.repo, name)
                raise
            if attempt == _NAME_ATTEMPTS:
                raise
        attempt += 1
        info.name = generate_run_name() if name is None else _next_free(setup.repo, name)


def _fork_point(repo: Repo, rev: str, info: RunInfo) -> Origin:
    """The commit ``rev`` names, as the start of a new run; the run it belongs to becomes the
    new run's parent unless it has one."""
    commit_id = repo.resolve(rev)
    commit = repo.read_commit(commit_id)
    checkpoint = repo.flatten_tree(commit.tree).get(CHECKPOINT_ENTRY)
    forked_run = commit.meta.get("run")
    if info.parent is None and isinstance(forked_run, str):
        info.parent = forked_run
    return Origin(fork_point=commit_id, checkpoint=checkpoint)


def _check_free(repo: Repo, name: str) -> None:
    if repo.refs.resolve(run_ref(name)) is not None:
        raise TrackingError(
            f"a run named {name!r} already exists; pass resume={name!r} to continue it"
        )


def _next_free(repo: Repo, name: str) -> str:
    """The first of ``name-2``, ``name-3``, ... that no run has taken (yet)."""
    taken = set(repo.refs.keys(RUN_REFS))
    number = 2
    while run_ref(f"{name}-{number}") in taken:
        number += 1
    return f"{name}-{number}"


# -------------------------------------------------------------- resumed runs
def _resumed_run(
    setup: _Setup, name: str, params: Mapping[str, Any] | None, tags: list[str]
) -> Run:
    """The run ``name`` continued from its branch's latest commit, unless it is running."""
    repo = setup.repo
    head = repo.refs.resolve(run_ref(name))
    if head is None:
        raise UnknownRun(name)
    commit = repo.read_commit(head)
    files = repo.flatten_tree(commit.tree)
    raw_info = _read(repo, files, RUN_FILE)
    if raw_info is None:
        raise TrackingError(f"the branch {run_branch(name)} is not a run (it has no {RUN_FILE})")
    info = RunInfo.from_stored(raw_info)
    problems: list[tuple[str, BaseException]] = []
    try:
        current: RunInfo | None = get_run(repo, name)
    except UnknownRun:
        current = None
    except TRACKING_ERRORS as exc:
        problems.append(_catalog_problem(repo, name, exc, setup.strict))
        current = info.model_copy(update={"status": effective_status(info)})
    if current is not None and current.status == "running":
        raise TrackingError(
            f"run {name!r} is still running (pid {current.pid} on {current.hostname}); "
            "wait for it to end before resuming it"
        )
    info.status = "running"
    info.end_time = None
    info.error = None
    info.pid = os.getpid()
    info.hostname = socket.gethostname()
    environment = setup.environment()
    raw_params = _read(repo, files, PARAMS_FILE)
    run_params = dict(Params.from_stored(raw_params).params) if raw_params else {}
    origin = _carried_on(setup, name, head, commit, files, problems)
    if params:
        run_params.update(stored_params(params, name, stacklevel=3))
    info.tags += [t for t in tags if t not in info.tags]
    return setup.run(info, run_params, environment, origin, problems)


def _carried_on(
    setup: _Setup,
    name: str,
    head: str,
    commit: Commit,
    files: dict[str, TreeEntry],
    problems: list[tuple[str, BaseException]],
) -> Origin:
    """What the resumed run carries on from its latest commit ``head``. The catalog forgets the
    points logged after that commit (a run that crashed indexed points no commit holds); when
    it fails, the problem is added to ``problems`` (raised with ``strict``)."""
    repo = setup.repo
    raw_datasets = _read(repo, files, DATASETS_FILE)
    datasets = dict(DatasetList.from_stored(raw_datasets).datasets) if raw_datasets else {}
    saved = {
        path[len(FILES_PREFIX) :]: entry
        for path, entry in files.items()
        if path.startswith(FILES_PREFIX)
    }
    segment = _read(repo, files, SEGMENT_FILE)
    next_seq = 0 if segment is None else decode_segment(segment).end_seq
    try:
        with repo.catalog.write() as conn:
            forget_points_from(conn, name, next_seq)
            last_step = last_step_of(conn, name)
    except TRACKING_ERRORS as exc:
        problems.append(_catalog_problem(repo, name, exc, setup.strict))
        step = commit.meta.get("step")
        last_step = step if isinstance(step, int) else -1
    latest = {
        k: float(v)
        for k, v in (commit.meta.get("metrics") or {}).items()
        if isinstance(v, int | float)
    }
    return Origin(
        head=head,
        datasets=datasets,
        files=saved,
        checkpoint=files.get(CHECKPOINT_ENTRY),
        next_seq=next_seq,
        last_step=last_step,
        metrics=latest,
    )


def _read(repo: Repo, files: dict[str, TreeEntry], filename: str) -> bytes | None:
    entry = files.get(filename)
    return None if entry is None else repo.store.get(entry.oid)


def _catalog_problem(
    repo: Repo, name: str, exc: Exception, strict: bool
) -> tuple[str, BaseException]:
    """A catalog failure while resuming ``name``: raised (strict, as a ModelSyncError), else
    what to report once the run exists."""
    if strict:
        if isinstance(exc, sqlite3.Error):
            raise _catalog_error(repo, exc) from exc
        if isinstance(exc, OSError):
            raise repository_error(repo, exc) from exc
        raise exc
    return f"run {name!r}: the catalog failed while resuming it ({describe(exc)})", exc


def _catalog_error(repo: Repo, exc: sqlite3.Error) -> ModelSyncError:
    if "readonly" in str(exc):
        return ReadOnlyRepository(f"cannot write the catalog of {repo.control_dir}: {exc}")
    return TrackingError(f"the catalog of {repo.control_dir} failed: {exc}")
