"""Runs: track a training run as the branch ``runs/<name>`` of the repository.

::

    with modelsync.start_run(params={"lr": 0.1}) as run:
        for step in range(1000):
            run.log_metrics({"loss": loss})        # buffered; the step counts itself
        run.checkpoint(model)                      # a commit: model, params, metrics, files

Starting a run commits its params and environment (status ``running``); each checkpoint
commits the model with everything logged since the previous commit (``metrics.seg``); finishing
commits the final status. Metric points are buffered in memory and flushed in the background
(see ``runs.writer``). ``modelsync.log``, ``log_params``, ``checkpoint`` and ``dataset`` act
on the active run of the current context, so code deep inside training needs no handle.

A run started with ``strict=False`` (what ``@track`` and the framework adapters use) never
breaks training: a tracking problem becomes a ``TrackingWarning``, is listed in the run's
``problems``, and training goes on. With ``strict=True`` it raises.
"""

from __future__ import annotations

import atexit
import contextvars
import operator
import os
import socket
import sqlite3
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from ..catalog.liveness import effective_status
from ..catalog.runs import forget_points_from, last_step_of, write_params
from ..checkpoint.saving import writer_for
from ..checkpoint.writer import checkpoint_message
from ..errors import (
    TRACKING_ERRORS,
    ModelSyncError,
    ReadOnlyRepository,
    RefConflict,
    RefLocked,
    TrackingError,
    TrackingWarning,
    UnknownRun,
    UsageError,
    shorten,
)
from ..model.layout import (
    CHECKPOINT_ENTRY,
    DATASETS_FILE,
    ENVIRONMENT_FILE,
    FILES_PREFIX,
    PARAMS_FILE,
    REQUIREMENTS_FILE,
    RUN_FILE,
    RUN_REFS,
    SEGMENT_FILE,
    label_tag,
    run_branch,
    run_ref,
)
from ..model.metadata import (
    FINAL_STATUSES,
    DatasetInfo,
    DatasetList,
    Environment,
    Params,
    RunInfo,
    RunStatus,
)
from ..model.objects import FILE_MODE, EntryKind, MalformedObject, TreeEntry, check_tree_path
from ..model.params import flatten, json_safe
from ..model.segment import check_metric_key, to_metric_value
from ..repo.files import store_file
from ..repo.repository import Repo
from .commit_queue import CommitQueue, PendingCheckpoint
from .datasets import fingerprint
from .environment import capture_environment
from .names import check_label, check_run_name, generate_run_name
from .read import RepoLike, get_run
from .seeding import recorded_seeds
from .writer import MetricWriter

if TYPE_CHECKING:
    from ..store import Batch

MAX_PROBLEMS = 100
_NAME_ATTEMPTS = 20
_STEP_MIN, _STEP_MAX = -(2**63), 2**63 - 1

_active: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "modelsync_active_run", default=None
)
_suppressed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "modelsync_tracking_suppressed", default=False
)
_open_runs: list[Run] = []
_open_lock = threading.Lock()
_pid = os.getpid()  # this process's: kept right across fork, cheaper than asking each call


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


class Run:
    """A run in progress. Create it with ``start_run`` (or ``@track``), not directly."""

    def __init__(
        self,
        repo: Repo,
        info: RunInfo,
        *,
        owns_repo: bool,
        strict: bool,
        params: dict[str, Any],
        environment: Environment,
        requirements: str | None,
    ) -> None:
        self.repo = repo
        self.info = info
        self.strict = strict
        self._owns_repo = owns_repo
        self._params = params
        self._environment = environment
        self._requirements = requirements
        self._datasets: dict[str, DatasetInfo] = {}
        self._files: dict[str, TreeEntry] = {}
        self._checkpoint: TreeEntry | None = None
        self._head: str | None = None
        self._fork_point: str | None = None
        self._closed = False
        self._pid = os.getpid()
        self._token: contextvars.Token[Run | None] | None = None
        self._commit_lock = threading.RLock()
        self._queue = CommitQueue(self._checkpoint_failed, lambda: f"modelsync-run-{self.name}")
        self._tagged: dict[str, str] = {}
        self._use_writer(MetricWriter(repo.catalog, info.name, fallback=self._log_checked))
        self._writer_reported = False

    def _use_writer(self, writer: MetricWriter) -> None:
        self._writer = writer
        # log_metrics calls go straight to the writer's buffer, one Python frame instead of
        # two; what it does not take by itself (a new name, a value that is not a float, a step
        # to check, an ended run, a writer failure to report) comes back to _log_checked.
        self.log_metrics = writer.log  # type: ignore[method-assign,assignment]

    # ---------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def ref(self) -> str:
        return run_ref(self.name)

    @property
    def head(self) -> str | None:
        """The run's latest commit."""
        return self._head

    @property
    def status(self) -> RunStatus:
        return self.info.status

    @property
    def step(self) -> int | None:
        """The step of the last logged metrics (None before any)."""
        step = self._writer.last_step
        return None if step < 0 else step

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def is_open(self) -> bool:
        return not self._closed

    def __repr__(self) -> str:
        return f"<Run {self.name!r} {self.info.status}>"

    # ----------------------------------------------------------------- logging
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log values (Python, numpy or torch scalars) at ``step`` (default: the next step)."""
        self._writer.log(metrics, step)

    def _log_checked(self, metrics: Mapping[str, Any], step: int | None, when: float) -> None:
        """``log_metrics`` of a call the buffer does not take by itself."""
        if self._closed:
            self._ended("log metrics")
            return
        if step is not None and (type(step) is not int or not _STEP_MIN <= step <= _STEP_MAX):
            try:
                step = self._checked_step(step)
            except TrackingError as exc:
                self.report_problem(str(exc))
                return
        try:
            self._writer.log_checked(metrics, step, when)
        except (TypeError, TrackingError, AttributeError):
            self._log_valid(metrics, step, when)
        if self._writer.error is not None:
            self._writer_failed()

    def _log_valid(self, metrics: Mapping[str, Any], step: int | None, when: float) -> None:
        """After a call the writer refused: report what is wrong and log the valid points."""
        if not isinstance(metrics, Mapping):
            self.report_problem(
                f"log_metrics takes a dict of name -> number, not {type(metrics).__name__}"
            )
            return
        valid = self._valid_metrics(metrics)
        if valid:
            self._writer.log_checked(valid, step, when)

    def flush(self) -> None:
        """Index the buffered metrics in the catalog now (the writer does it every second)."""
        self._writer.flush()
        if self._writer.error is not None:
            self._writer_failed()

    def _valid_metrics(self, metrics: Mapping[str, Any]) -> dict[str, float]:
        """The valid points of a call that has invalid ones; each invalid one is reported."""
        valid = {}
        for key, value in metrics.items():
            try:
                valid[check_metric_key(key)] = to_metric_value(value)
            except TypeError as exc:
                self.report_problem(f"metric {key!r} of run {self.name!r} was not logged: {exc}")
            except TrackingError as exc:
                self.report_problem(str(exc))
        return valid

    def _checked_step(self, step: object) -> int:
        try:
            if isinstance(step, bool):
                raise TypeError
            value = operator.index(step)  # type: ignore[arg-type]
        except TypeError:
            raise TrackingError(f"step must be an integer, not {step!r}") from None
        if not _STEP_MIN <= value <= _STEP_MAX:
            raise TrackingError(f"step {value} does not fit in 64 bits")
        return int(value)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record hyperparameters; nested dicts become dotted keys. Later values replace earlier."""
        if self._closed:
            self._ended("log params")
            return
        if not isinstance(params, Mapping):
            self.report_problem(f"log_params takes a dict, not {type(params).__name__}")
            return
        flat = self._json_params(params)
        self._params.update(flat)
        try:
            with self.repo.catalog.write() as conn:
                write_params(conn, self.name, flat)
        except (sqlite3.Error, OSError) as exc:
            self.report_problem(f"params of run {self.name!r} are not indexed yet: {exc}", exc)

    def _json_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        unsupported: list[str] = []
        flat = flatten(json_safe(params, unsupported))
        if unsupported:
            warnings.warn(
                f"run {self.name!r}: stored as their repr: {'; '.join(unsupported)}",
                TrackingWarning,
                stacklevel=3,
            )
        return flat

    def dataset(self, obj: Any, name: str | None = None) -> DatasetInfo:
        """Fingerprint ``obj`` (array, frame, sparse matrix, tensor, file, directory): an input."""
        info = fingerprint(obj, name)
        if self._closed:
            self._ended(f"record the dataset {info.name!r}")
        else:
            self._datasets[info.name] = info
        return info

    def save(self, source: str | os.PathLike[str] | bytes, name: str | None = None) -> str:
        """Store a file (or bytes) as ``files/<name>`` in the run's commits; returns the name.

        The content is read now, so the file may change or disappear afterwards.
        """
        if self._closed:
            raise TrackingError(
                f"cannot save files to run {self.name!r}: the run has ended ({self.info.status})"
            )
        if isinstance(source, bytes | bytearray | memoryview):
            if name is None:
                raise UsageError("run.save(data) needs name= for bytes")
            stored = _check_file_name(name)
            data = bytes(source)
            self._save_content(stored, lambda batch: ("blob", batch.put(data)), len(data))
            return stored
        path = Path(os.fsdecode(os.fspath(source)))
        if not path.is_file():
            raise UsageError(f"cannot save {str(path)!r}: not a file")
        stored = _check_file_name(name if name is not None else path.name)
        size = path.stat().st_size
        self._save_content(stored, lambda batch: store_file(batch, path, size), size)
        return stored

    def _save_content(
        self, stored: str, write: Callable[[Batch], tuple[EntryKind, str]], size: int
    ) -> None:
        """Store a saved file's content; a failure to write it raises (strict) or is reported."""
        try:
            with self.repo.store.batch() as batch:
                kind, oid = write(batch)
        except (OSError, ReadOnlyRepository) as exc:
            error = self._write_failed(exc)
            self.report_problem(f"run {self.name!r} could not save {stored!r}: {error}", exc)
            return
        self._files[stored] = TreeEntry(kind, oid, size, FILE_MODE)

    def tag(self, label: str, commit: str | None = None) -> str:
        """Label the run, and point ``runs/<name>@<label>`` at ``commit`` (default: its latest
        commit); returns the commit tagged."""
        check_label(self.name, label)
        target = commit if commit is not None else self._head
        if target is None:
            raise TrackingError(f"run {self.name!r} has no commit to tag")
        if label not in self.info.tags:
            self.info.tags.append(label)
        try:
            self.repo.create_tag(label_tag(self.name, label), target, force=True)
        except (OSError, ReadOnlyRepository, RefLocked) as exc:
            error = self._write_failed(exc)
            self.report_problem(f"run {self.name!r} could not tag {label!r}: {error}", exc)
            return target
        self._tagged[label] = target
        return target

    # ----------------------------------------------------------------- commits
    @overload
    def checkpoint(
        self,
        model_or_state: Any,
        step: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        *,
        epoch: int | None = None,
        message: str | None = None,
        tags: Collection[str] = (),
        wait: Literal[True] = True,
    ) -> str | None: ...

    @overload
    def checkpoint(
        self,
        model_or_state: Any,
        step: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        *,
        epoch: int | None = None,
        message: str | None = None,
        tags: Collection[str] = (),
        wait: Literal[False],
    ) -> PendingCheckpoint: ...

    @overload
    def checkpoint(
        self,
        model_or_state: Any,
        step: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        *,
        epoch: int | None = None,
        message: str | None = None,
        tags: Collection[str] = (),
        wait: bool,
    ) -> str | PendingCheckpoint | None: ...

    def checkpoint(
        self,
        model_or_state: Any,
        step: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        *,
        epoch: int | None = None,
        message: str | None = None,
        tags: Collection[str] = (),
        wait: bool = True,
    ) -> str | PendingCheckpoint | None:
        """Commit a model (module, state dict, Lightning checkpoint) with everything logged since
        the last commit; ``metrics`` are logged at ``step`` first, and ``tags`` label the commit
        (``runs/<name>@<tag>``). Returns the commit id (None when ``strict=False`` and the
        commit failed: the next one carries what it would have).

        With ``wait=False`` only the tensors that changed are copied here; hashing, compressing,
        committing and labelling happen on the run's writer thread, in order, while training
        goes on (see ``runs.commit_queue``), and a ``PendingCheckpoint`` is returned at once.
        ``wait()`` and ``finish()`` wait for them.
        """
        labels = tuple(tags)
        for label in labels:
            check_label(self.name, label)
        if not wait:
            self._queue.make_room()
        capture = self._checkpoint_commit(
            model_or_state, step, metrics, epoch, message, copy=not wait
        )
        if capture is None:
            return None if wait else self._queue.skip(step, labels)
        at_step, commit = capture

        def commit_and_tag() -> str | None:
            oid = commit()
            for label in labels if oid is not None else ():
                self.tag(label, oid)
            return oid

        if not wait:
            return self._queue.submit(commit_and_tag, at_step, labels)
        self.wait()
        return commit_and_tag()

    def _checkpoint_commit(
        self,
        model_or_state: Any,
        step: int | None,
        metrics: Mapping[str, Any] | None,
        epoch: int | None,
        message: str | None,
        *,
        copy: bool,
    ) -> tuple[int | None, Callable[[], str | None]] | None:
        """Log ``metrics``, capture the model; returns the step it is at and the call that
        writes and commits it (None when the run has ended)."""
        if self._closed:
            self._ended("checkpoint")
            return None
        if step is not None:
            step = self._checked_step(step)
        if metrics:
            self.log_metrics(metrics, step)
        snapshot = writer_for(self.repo).capture(model_or_state, copy=copy)
        at_step = step if step is not None else snapshot.meta.get("step", self.step)
        at_epoch = epoch if epoch is not None else snapshot.meta.get("epoch")
        text = message or checkpoint_message(at_step, at_epoch)

        def commit() -> str | None:
            return self._commit_or_report(
                "checkpoint", text, step=at_step, epoch=at_epoch, snapshot=snapshot
            )

        return at_step, commit

    def wait(self) -> None:
        """Block until every checkpoint taken with ``wait=False`` is committed; those that
        failed are reported here (``strict``: the first one raises)."""
        self._queue.wait()

    def tagged(self, label: str) -> str | None:
        """The commit this run last pointed ``runs/<name>@<label>`` at, in this process (None
        before it has)."""
        return self._tagged.get(label)

    def _checkpoint_failed(self, pending: PendingCheckpoint, exc: Exception) -> None:
        """Report, on the training thread, a checkpoint that failed on the writer thread. A
        warning that a filter turned into an error there is warned again here, where the
        filters in force are the caller's."""
        if isinstance(exc, Warning) and not self.strict:
            warnings.warn(exc, stacklevel=6)
            return
        self.report_problem(f"the checkpoint at step {pending.step}: {exc}", exc, stacklevel=6)

    def _commit_or_report(self, kind: str, message: str, **options: Any) -> str | None:
        try:
            return self._commit(kind, message, **options)
        except TRACKING_ERRORS as exc:
            error = _describe(exc)
            self.report_problem(f"run {self.name!r} could not commit ({kind}): {error}", exc)
            return None

    def _commit(
        self,
        kind: str,
        message: str,
        *,
        step: int | None = None,
        epoch: int | None = None,
        snapshot: Any = None,
        parent_commit: str | None = None,
    ) -> str:
        with self._commit_lock:
            segment, blocks = self._writer.pending_segment()
            if self._environment.seeds is not None:
                self._environment.seeds = recorded_seeds()
            head = self._head or parent_commit
            try:
                with self.repo.store.batch() as batch:
                    if snapshot is not None:
                        manifest = writer_for(self.repo).write(snapshot, batch)
                        self._checkpoint = TreeEntry(
                            "checkpoint", manifest, snapshot.nbytes, FILE_MODE
                        )
                    tree = self.repo.write_tree(self._tree_files(batch, segment), writer=batch)
                meta: dict[str, object] = {
                    "run": self.name,
                    "kind": kind,
                    "status": self.info.status,
                    "step": step if step is not None else self.step,
                    "epoch": epoch,
                    "metrics": dict(self._writer.latest),
                }
                if snapshot is not None and self._checkpoint is not None:
                    meta["checkpoint"] = self._checkpoint.oid
                oid = self.repo.commit_tree(
                    tree,
                    message,
                    ref=self.ref,
                    parents=(self._fork_point,) if head is None and self._fork_point else None,
                    meta=meta,
                    expected_old=head,
                    create=head is None,
                )
            except OSError as exc:
                raise _repository_error(self.repo, exc) from exc
            self._writer.committed(blocks)
            self._head = oid
            return oid

    def _tree_files(self, batch: Any, segment: bytes) -> dict[str, TreeEntry]:
        def blob(data: bytes) -> TreeEntry:
            return TreeEntry("blob", batch.put(data), len(data), FILE_MODE)

        files = {
            RUN_FILE: blob(self.info.to_stored()),
            PARAMS_FILE: blob(Params(params=self._params).to_stored()),
            ENVIRONMENT_FILE: blob(self._environment.to_stored()),
            DATASETS_FILE: blob(DatasetList(datasets=self._datasets).to_stored()),
            SEGMENT_FILE: blob(segment),
        }
        if self._requirements is not None:
            files[REQUIREMENTS_FILE] = blob(self._requirements.encode("utf-8"))
        for name, entry in self._files.items():
            files[FILES_PREFIX + name] = entry
        if self._checkpoint is not None:
            files[CHECKPOINT_ENTRY] = self._checkpoint
        return files

    # --------------------------------------------------------------- lifecycle
    def finish(self, status: RunStatus = "finished", *, error: str | None = None) -> str | None:
        """End the run: flush every metric and commit the final status. Returns the commit id.

        ``status`` is ``finished``, ``failed`` (``error``: the traceback) or ``interrupted``.
        Finishing a finished run does nothing.
        """
        if status not in FINAL_STATUSES:
            raise TrackingError(
                f"invalid final status {status!r}; use one of {', '.join(FINAL_STATUSES)}"
            )
        if self._closed:
            return self._head
        self._closed = True
        self._writer.divert()  # later log_metrics calls are told the run has ended
        failure: TrackingError | None = None
        try:
            try:
                self.wait()
            except TrackingError as exc:  # strict: a checkpoint failed; the end is committed
                failure = exc
            self._writer.stop()
            if self._writer.error is not None:
                self._writer_failed()
            self.info.status = status
            self.info.end_time = time.time()
            self.info.error = error
            commit = self._commit_or_report("status", f"{status} run {self.name}")
        finally:
            self._release()
        if failure is not None:
            raise failure
        return commit

    def _release(self) -> None:
        self._queue.close()
        _forget(self)
        if self._token is not None:
            try:
                _active.reset(self._token)
            except ValueError:
                if _active.get() is self:
                    _active.set(None)
            self._token = None
        if self._owns_repo:
            self.repo.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.finish("finished")
            return
        status: RunStatus = "failed" if isinstance(exc, Exception) else "interrupted"
        try:
            self.finish(status, error=_format(exc))
        except ModelSyncError as problem:
            exc.add_note(f"modelsync: run {self.name!r} could not record its end: {problem}")

    # ---------------------------------------------------------------- problems
    def report_problem(
        self, message: str, cause: BaseException | None = None, *, stacklevel: int = 2
    ) -> None:
        """A tracking problem: with ``strict`` a ``TrackingError`` (from ``cause``); else listed
        in the run's ``problems`` (the first ``MAX_PROBLEMS``) and warned about as a
        ``TrackingWarning``, and training goes on. ``stacklevel`` as for ``warnings.warn``,
        counted from the caller (2: the caller's caller)."""
        if self.strict:
            raise TrackingError(message) from cause
        # listed first: a filter that makes the warning an error must not lose the problem
        if len(self.info.problems) < MAX_PROBLEMS:
            self.info.problems.append(message)
        warnings.warn(message, TrackingWarning, stacklevel=stacklevel + 1)

    def _write_failed(self, exc: OSError | ModelSyncError) -> ModelSyncError:
        """A failure to write the repository as a ModelSyncError: raised (strict), or returned
        for ``report_problem``."""
        if isinstance(exc, ModelSyncError):
            if self.strict:
                raise exc
            return exc
        error = _repository_error(self.repo, exc)
        if self.strict:
            raise error from exc
        return error

    def _ended(self, action: str) -> None:
        self.report_problem(f"cannot {action}: run {self.name!r} has ended ({self.info.status})")

    def _writer_failed(self) -> None:
        """Report the writer's first failure; later ones only keep points for the commit."""
        exc, self._writer.error = self._writer.error, None
        if exc is None or self._writer_reported:
            return
        self._writer_reported = True
        self.report_problem(
            f"run {self.name!r}: metrics could not be indexed ({_describe(exc)}); "
            "they are kept for the next commit",
            exc,
        )


# ------------------------------------------------------------------- starting
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
    try:
        if resume_name is None and name is not None and not unique_name:
            _check_free(repo_obj, name)
        if resume_name is not None:
            run = _resumed_run(repo_obj, resume_name, owns, strict, capture_exclude, code_dir)
            if params:
                run._params.update(run._json_params(params))
            run.info.tags += [t for t in label_list if t not in run.info.tags]
        else:
            run = _new_run(repo_obj, name, owns, strict, label_list, capture_exclude, code_dir)
            run.info.parent = _parent_name(parent)
            run.info.entrypoint = entrypoint
            if fork is not None:
                _fork_from(run, fork)
            if params:
                run._params.update(run._json_params(params))
        _first_commit(run, name, resume_name, unique_name)
    except BaseException:
        if owns:
            repo_obj.close()
        raise
    run._writer.start()
    _remember(run)
    run._token = _active.set(run)
    return run


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
    current = _active.get()
    if current is not None and current.is_open:
        return current.name
    return None


def _new_run(
    repo: Repo,
    name: str | None,
    owns: bool,
    strict: bool,
    tags: list[str],
    capture_exclude: Collection[str],
    code_dir: str | os.PathLike[str] | None,
) -> Run:
    environment, requirements = capture_environment(
        capture_exclude, Path(code_dir) if code_dir is not None else None
    )
    info = RunInfo(
        name=name or generate_run_name(),
        tags=tags,
        start_time=time.time(),
        pid=os.getpid(),
        hostname=socket.gethostname(),
    )
    return Run(
        repo,
        info,
        owns_repo=owns,
        strict=strict,
        params={},
        environment=environment,
        requirements=requirements,
    )


def _fork_from(run: Run, rev: str) -> None:
    commit_id = run.repo.resolve(rev)
    commit = run.repo.read_commit(commit_id)
    run._fork_point = commit_id
    run._checkpoint = run.repo.flatten_tree(commit.tree).get(CHECKPOINT_ENTRY)
    forked_run = commit.meta.get("run")
    if run.info.parent is None and isinstance(forked_run, str):
        run.info.parent = forked_run


def _check_free(repo: Repo, name: str) -> None:
    if repo.refs.resolve(run_ref(name)) is not None:
        raise TrackingError(
            f"a run named {name!r} already exists; pass resume={name!r} to continue it"
        )


def _first_commit(run: Run, name: str | None, resume_name: str | None, unique: bool) -> None:
    """Commit the run's start; a new run claims its name here, atomically."""
    if resume_name is not None:
        run._head = run.repo.refs.resolve(run.ref)
        _start_commit(run, "resume", f"resume run {run.name}")
        return
    for attempt in range(1, _NAME_ATTEMPTS + 1):
        try:
            _start_commit(run, "start", f"start run {run.name}")
            return
        except RefConflict:
            if name is not None and not unique:
                _check_free(run.repo, name)
                raise
            if attempt == _NAME_ATTEMPTS:
                raise
            run.info.name = generate_run_name() if name is None else _next_free(run.repo, name)
            run._writer.run = run.info.name


def _start_commit(run: Run, kind: str, message: str) -> None:
    """The run's first commit. Without ``strict``, a failure to write it (a full disk) is
    reported and training goes on: the run's next commit (a checkpoint, its end) makes it."""
    try:
        run._commit(kind, message)
    except RefConflict:
        raise  # the name is taken: ``_first_commit`` decides
    except TRACKING_ERRORS as exc:
        if run.strict:
            raise
        run.report_problem(
            f"run {run.name!r} could not commit ({kind}): {_describe(exc)}; "
            "its next commit tries again",
            exc,
        )


def _next_free(repo: Repo, name: str) -> str:
    """The first of ``name-2``, ``name-3``, ... that no run has taken (yet)."""
    taken = set(repo.refs.keys(RUN_REFS))
    number = 2
    while run_ref(f"{name}-{number}") in taken:
        number += 1
    return f"{name}-{number}"


def _resumed_run(
    repo: Repo,
    name: str,
    owns: bool,
    strict: bool,
    capture_exclude: Collection[str],
    code_dir: str | os.PathLike[str] | None,
) -> Run:
    head = repo.refs.resolve(run_ref(name))
    if head is None:
        raise UnknownRun(name)
    commit = repo.read_commit(head)
    files = repo.flatten_tree(commit.tree)

    def read(filename: str) -> bytes | None:
        entry = files.get(filename)
        return None if entry is None else repo.store.get(entry.oid)

    raw_info = read(RUN_FILE)
    if raw_info is None:
        raise TrackingError(f"the branch {run_branch(name)} is not a run (it has no {RUN_FILE})")
    info = RunInfo.from_stored(raw_info)
    problems: list[tuple[str, BaseException]] = []
    try:
        current: RunInfo | None = get_run(repo, name)
    except UnknownRun:
        current = None
    except TRACKING_ERRORS as exc:
        problems.append(_catalog_problem(repo, name, exc, strict))
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
    environment, requirements = capture_environment(
        capture_exclude, Path(code_dir) if code_dir is not None else None
    )
    raw_params = read(PARAMS_FILE)
    params = Params.from_stored(raw_params).params if raw_params else {}
    run = Run(
        repo,
        info,
        owns_repo=owns,
        strict=strict,
        params=dict(params),
        environment=environment,
        requirements=requirements,
    )
    raw_datasets = read(DATASETS_FILE)
    if raw_datasets:
        run._datasets = dict(DatasetList.from_stored(raw_datasets).datasets)
    run._files = {
        path[len(FILES_PREFIX) :]: entry
        for path, entry in files.items()
        if path.startswith(FILES_PREFIX)
    }
    run._checkpoint = files.get(CHECKPOINT_ENTRY)
    next_seq = _segment_end(read(SEGMENT_FILE))
    try:
        with repo.catalog.write() as conn:
            forget_points_from(conn, name, next_seq)
            last_step = last_step_of(conn, name)
    except TRACKING_ERRORS as exc:
        problems.append(_catalog_problem(repo, name, exc, strict))
        step = commit.meta.get("step")
        last_step = step if isinstance(step, int) else -1
    run._use_writer(
        MetricWriter(
            repo.catalog, name, next_seq=next_seq, last_step=last_step, fallback=run._log_checked
        )
    )
    for message, cause in problems:
        run.report_problem(message, cause)
    run._writer.latest.update(
        {
            k: float(v)
            for k, v in (commit.meta.get("metrics") or {}).items()
            if isinstance(v, int | float)
        }
    )
    return run


def _catalog_problem(
    repo: Repo, name: str, exc: Exception, strict: bool
) -> tuple[str, BaseException]:
    """A catalog failure while resuming ``name``: raised (strict, as a ModelSyncError), else
    what to report once the run exists."""
    if strict:
        if isinstance(exc, sqlite3.Error):
            raise _catalog_error(repo, exc) from exc
        if isinstance(exc, OSError):
            raise _repository_error(repo, exc) from exc
        raise exc
    return f"run {name!r}: the catalog failed while resuming it ({_describe(exc)})", exc


def _segment_end(data: bytes | None) -> int:
    from ..model.segment import decode_segment

    return 0 if data is None else decode_segment(data).end_seq


# -------------------------------------------------------------- active run
def active_run() -> Run | None:
    """The run that module-level ``log``/``checkpoint`` act on, or None.

    The current context's run, else (for threads started without it) the newest run still
    open in this process. A run inherited through ``fork`` belongs to the parent: not active.
    """
    run = _active.get()
    if run is not None and run.is_open and run._pid == _pid:
        return run
    with _open_lock:
        for candidate in reversed(_open_runs):
            if candidate._pid == _pid and candidate.is_open:
                return candidate
    return None


def _require_active(what: str) -> Run | None:
    run = active_run()
    if run is None and not _suppressed.get():
        raise TrackingError(
            f"modelsync.{what}() needs an active run: call modelsync.start_run() first, "
            "or decorate the training function with @modelsync.track"
        )
    return run


def log(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """``log_metrics`` on the active run."""
    run = _active.get()
    if run is None or run._closed or run._pid != _pid:  # else what active_run() would say
        run = _require_active("log")
        if run is None:
            return
    run.log_metrics(metrics, step)


def log_params(params: Mapping[str, Any]) -> None:
    """``log_params`` on the active run."""
    run = _require_active("log_params")
    if run is not None:
        run.log_params(params)


@overload
def checkpoint(
    model_or_state: Any,
    step: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    *,
    epoch: int | None = None,
    message: str | None = None,
    tags: Collection[str] = (),
    wait: Literal[True] = True,
) -> str | None: ...


@overload
def checkpoint(
    model_or_state: Any,
    step: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    *,
    epoch: int | None = None,
    message: str | None = None,
    tags: Collection[str] = (),
    wait: bool,
) -> str | PendingCheckpoint | None: ...


def checkpoint(
    model_or_state: Any,
    step: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    *,
    epoch: int | None = None,
    message: str | None = None,
    tags: Collection[str] = (),
    wait: bool = True,
) -> str | PendingCheckpoint | None:
    """``checkpoint`` on the active run; returns the commit id (``wait=False``: a
    ``PendingCheckpoint``)."""
    run = _require_active("checkpoint")
    if run is None:
        return None
    return run.checkpoint(
        model_or_state, step, metrics, epoch=epoch, message=message, tags=tags, wait=wait
    )


def dataset(obj: Any, name: str | None = None) -> DatasetInfo:
    """Fingerprint ``obj`` and record it as an input of the active run."""
    run = _require_active("dataset")
    if run is None:
        return fingerprint(obj, name)
    return run.dataset(obj, name)


def suppressed_tracking() -> contextvars.Token[bool]:
    """Make module-level calls no-ops in this context (tracking failed to start, not strict)."""
    return _suppressed.set(True)


def restore_tracking(token: contextvars.Token[bool]) -> None:
    _suppressed.reset(token)


# ------------------------------------------------------------------ helpers
def _remember(run: Run) -> None:
    with _open_lock:
        _open_runs.append(run)


def _forget(run: Run) -> None:
    with _open_lock:
        if run in _open_runs:
            _open_runs.remove(run)


def _check_file_name(name: str) -> str:
    """A saved file's name, once it is a path a tree can hold (``objects.check_tree_path``)."""
    try:
        return check_tree_path(name)
    except MalformedObject as exc:
        raise UsageError(f"invalid file name {shorten(name)}: {exc}; use a relative path") from None


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _repository_error(repo: Repo, exc: OSError) -> ModelSyncError:
    if isinstance(exc, PermissionError) or exc.errno == 30:
        return ReadOnlyRepository(
            f"cannot write the repository at {repo.control_dir}: {exc.strerror}"
        )
    return TrackingError(f"cannot write the repository at {repo.control_dir}: {exc}")


def _catalog_error(repo: Repo, exc: sqlite3.Error) -> ModelSyncError:
    if "readonly" in str(exc):
        return ReadOnlyRepository(f"cannot write the catalog of {repo.control_dir}: {exc}")
    return TrackingError(f"the catalog of {repo.control_dir} failed: {exc}")


@atexit.register
def _finish_open_runs() -> None:
    """At interpreter exit, end this process's open runs: nothing logged is lost."""
    with _open_lock:
        runs = [run for run in _open_runs if run._pid == os.getpid()]
    failure = getattr(sys, "last_value", None)
    for run in reversed(runs):
        try:
            if failure is None:
                run.finish("finished")
            else:
                status: RunStatus = "failed" if isinstance(failure, Exception) else "interrupted"
                run.finish(status, error=_format(failure))
        except ModelSyncError as exc:
            sys.stderr.write(f"modelsync: run {run.name!r} could not record its end: {exc}\n")
