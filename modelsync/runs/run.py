"""Runs: track a training run as the branch ``runs/<name>`` of the repository.

::

    with modelsync.start_run(params={"lr": 0.1}) as run:
        for step in range(1000):
            run.log_metrics({"loss": loss})        # buffered; the step counts itself
        run.checkpoint(model)                      # a commit: model, params, metrics, files

Starting a run commits its params and environment (status ``running``); each checkpoint
commits the model with everything logged since the previous commit (``metrics.seg``); finishing
commits the final status. Metric points are buffered in memory and flushed in the background
(see ``runs.writer``). ``start_run`` (``runs.start``) decides what a run starts from and builds
it; ``runs.active`` keeps the active run that module-level ``modelsync.log`` acts on.

A run started with ``strict=False`` (what ``@track`` and the framework adapters use) never
breaks training: a tracking problem becomes a ``TrackingWarning``, is listed in the run's
``problems``, and training goes on. With ``strict=True`` it raises.
"""

from __future__ import annotations

import operator
import os
import sqlite3
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from ..catalog.runs import write_params
from ..checkpoints.saving import writer_for
from ..checkpoints.writer import checkpoint_message
from ..errors import (
    TRACKING_ERRORS,
    ModelSyncError,
    ReadOnlyRepository,
    RefConflict,
    RefLocked,
    TrackingError,
    TrackingWarning,
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
    SEGMENT_FILE,
    label_tag,
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
from .active import deactivate
from .commit_queue import CommitQueue, PendingCheckpoint
from .datasets import fingerprint
from .names import check_label
from .seeding import recorded_seeds
from .writer import MetricWriter

if TYPE_CHECKING:
    from ..store import Batch

MAX_PROBLEMS = 100
_STEP_MIN, _STEP_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Origin:
    """What a run's first commit starts from. A new run starts from nothing. A resumed run
    follows its own latest commit (``head``) and carries on its datasets, saved files,
    checkpoint, metric position (``next_seq``, ``last_step``) and latest metric values. A forked
    run's first commit has ``fork_point`` as parent and carries its checkpoint."""

    head: str | None = None
    fork_point: str | None = None
    datasets: Mapping[str, DatasetInfo] = field(default_factory=dict)
    files: Mapping[str, TreeEntry] = field(default_factory=dict)
    checkpoint: TreeEntry | None = None
    next_seq: int = 0
    last_step: int = -1
    metrics: Mapping[str, float] = field(default_factory=dict)


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
        origin: Origin = Origin(),
        problems: Sequence[tuple[str, BaseException]] = (),
    ) -> None:
        """Start the run ``info`` describes, from ``origin``, with ``params`` (as stored:
        ``stored_params``). The ``problems`` met while gathering ``origin`` are reported first,
        so that the first commit lists them; that commit (``start``, or ``resume`` after
        ``origin.head``) claims the branch ``runs/<name>``, raising ``RefConflict`` when another
        run has it; then the metric writer starts. ``owns_repo``: the run closes ``repo`` when
        it ends."""
        self.repo = repo
        self.info = info
        self.strict = strict
        self._owns_repo = owns_repo
        self._params = params
        self._environment = environment
        self._requirements = requirements
        self._datasets = dict(origin.datasets)
        self._files = dict(origin.files)
        self._checkpoint = origin.checkpoint
        self._head = origin.head
        self._fork_point = origin.fork_point
        self._closed = False
        self._commit_lock = threading.RLock()
        self._queue = CommitQueue(self._checkpoint_failed, lambda: f"modelsync-run-{self.name}")
        self._tagged: dict[str, str] = {}
        self._use_writer(
            MetricWriter(
                repo.catalog,
                info.name,
                next_seq=origin.next_seq,
                last_step=origin.last_step,
                fallback=self._log_checked,
            )
        )
        self._writer_reported = False
        for message, cause in problems:
            self.report_problem(message, cause)
        self._writer.latest.update(origin.metrics)
        self._commit_start()
        self._writer.start()

    def _use_writer(self, writer: MetricWriter) -> None:
        """Log through ``writer`` from now on; what its buffer does not take by itself (a new
        name, a value that is not a float, a step to check, an ended run, a writer failure to
        report) comes back to ``_log_checked``."""
        self._writer = writer

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
        flat = stored_params(params, self.name)
        self._params.update(flat)
        try:
            with self.repo.catalog.write() as conn:
                write_params(conn, self.name, flat)
        except (sqlite3.Error, OSError) as exc:
            self.report_problem(f"params of run {self.name!r} are not indexed yet: {exc}", exc)

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

    def _commit_start(self) -> None:
        """The run's first commit. Without ``strict``, a failure to write it (a full disk) is
        reported and training goes on: the run's next commit (a checkpoint, its end) makes it.
        A ``RefConflict`` (the name is taken) is raised: ``start_run`` decides."""
        kind = "start" if self._head is None else "resume"
        try:
            self._commit(kind, f"{kind} run {self.name}")
        except RefConflict:
            raise
        except TRACKING_ERRORS as exc:
            if self.strict:
                raise
            self.report_problem(
                f"run {self.name!r} could not commit ({kind}): {describe(exc)}; "
                "its next commit tries again",
                exc,
            )

    def _commit_or_report(self, kind: str, message: str, **options: Any) -> str | None:
        try:
            return self._commit(kind, message, **options)
        except TRACKING_ERRORS as exc:
            error = describe(exc)
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
    ) -> str:
        with self._commit_lock:
            segment, blocks = self._writer.pending_segment()
            if self._environment.seeds is not None:
                self._environment.seeds = recorded_seeds()
            head = self._head
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
                raise repository_error(self.repo, exc) from exc
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
        deactivate(self)  # from now on, nothing takes it for the active run
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
        status, error = ended_by(exc)
        try:
            self.finish(status, error=error)
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
        error = repository_error(self.repo, exc)
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
            f"run {self.name!r}: metrics could not be indexed ({describe(exc)}); "
            "they are kept for the next commit",
            exc,
        )


# ------------------------------------------------------------------ helpers
def stored_params(
    params: Mapping[str, Any], run_name: str, *, stacklevel: int = 2
) -> dict[str, Any]:
    """``params`` as run ``run_name`` stores them: nested dicts become dotted keys, and a value
    JSON cannot hold is stored as its repr, with a ``TrackingWarning`` (``stacklevel`` counted
    from the caller, as for ``Run.report_problem``)."""
    unsupported: list[str] = []
    flat = flatten(json_safe(params, unsupported))
    if unsupported:
        warnings.warn(
            f"run {run_name!r}: stored as their repr: {'; '.join(unsupported)}",
            TrackingWarning,
            stacklevel=stacklevel + 1,
        )
    return flat


def ended_by(exc: BaseException) -> tuple[RunStatus, str]:
    """The final status and error of a run that ``exc`` ended: ``failed`` for an error,
    ``interrupted`` for anything else (Ctrl-C, ``SystemExit``), with its traceback."""
    status: RunStatus = "failed" if isinstance(exc, Exception) else "interrupted"
    return status, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def describe(exc: BaseException) -> str:
    """An exception as a problem's text: its message, else its type's name."""
    return str(exc) or type(exc).__name__


def repository_error(repo: Repo, exc: OSError) -> ModelSyncError:
    """A failure to write the repository, as the ModelSyncError the user sees."""
    if isinstance(exc, PermissionError) or exc.errno == 30:
        return ReadOnlyRepository(
            f"cannot write the repository at {repo.control_dir}: {exc.strerror}"
        )
    return TrackingError(f"cannot write the repository at {repo.control_dir}: {exc}")


def _check_file_name(name: str) -> str:
    """A saved file's name, once it is a path a tree can hold (``objects.check_tree_path``)."""
    try:
        return check_tree_path(name)
    except MalformedObject as exc:
        raise UsageError(f"invalid file name {shorten(name)}: {exc}; use a relative path") from None
