"""Where things live in a repository: the ref namespaces, a run's branch and labels, and the
files of a run commit. This is their one definition; every layer above reads it (the catalog
indexes these files, runs write them, the CLI and the server show them).

Refs (files under ``.modelsync/``)::

    HEAD                             the current branch (``ref: refs/heads/main``) or a commit id
    refs/heads/<branch>              branches
    refs/heads/runs/<name>           a run: each snapshot of its training is a commit on it
    refs/tags/<tag>                  tags
    refs/tags/runs/<name>@<label>    a run's labels (``run.tag("best")``); ``foo@best`` in a
                                     revision, and ``foo@last`` is the run's latest commit
                                     unless a label ``last`` says otherwise

A run commit's tree (each JSON file a pydantic model of ``metadata``, as canonical JSON)::

    run.json           RunInfo: name, status, parent run, labels, times, error, problems
    params.json        Params: flattened hyperparameters (dotted keys)
    metrics.seg        the metric points logged since the previous commit (``segment``)
    environment.json   Environment: interpreter, command, packages, CUDA, git state, seeds
    requirements.txt   the installed packages, as ``pip freeze`` lists them (when captured)
    datasets.json      DatasetList: fingerprints of the run's inputs
    checkpoint         the latest checkpoint's tensor manifest (kind ``checkpoint``), once any
    files/<path>       files saved with ``run.save``

Every commit carries the run's whole state (files and the latest checkpoint are carried forward)
but ``metrics.seg``, which is a delta. A checkpoint saved onto any branch
(``modelsync.save_checkpoint``) is the ``checkpoint`` entry of its commit's tree too.
"""

from __future__ import annotations

HEAD = "HEAD"
BRANCH_PREFIX = "refs/heads/"
TAG_PREFIX = "refs/tags/"

RUN_BRANCH_PREFIX = "runs/"
"""Short branch names of runs (``runs/<name>``) and of their labels (``runs/<name>@<label>``)."""
RUN_REFS = BRANCH_PREFIX + RUN_BRANCH_PREFIX
"""The directory of every run's branch: listing it lists the runs."""
LABEL_REFS = TAG_PREFIX + RUN_BRANCH_PREFIX
"""The directory of every run's labels."""
LABEL_SEPARATOR = "@"
"""Between a run's name and a label: run names and labels never contain it."""
LAST_LABEL = "last"
"""``<run>@last`` is the run's latest commit unless a label ``last`` says otherwise."""

RUN_FILE = "run.json"
PARAMS_FILE = "params.json"
SEGMENT_FILE = "metrics.seg"
ENVIRONMENT_FILE = "environment.json"
REQUIREMENTS_FILE = "requirements.txt"
DATASETS_FILE = "datasets.json"
CHECKPOINT_ENTRY = "checkpoint"
FILES_PREFIX = "files/"

INDEXED_FILES = (RUN_FILE, PARAMS_FILE, SEGMENT_FILE)
"""The files of a run commit that the catalog indexes it by."""
RUN_METADATA_FILES = frozenset({*INDEXED_FILES, ENVIRONMENT_FILE, REQUIREMENTS_FILE, DATASETS_FILE})
"""The files a run writes about itself (all but its checkpoint and the files it saved)."""


def run_branch(name: str) -> str:
    """The short name of run ``name``'s branch: ``runs/<name>``."""
    return RUN_BRANCH_PREFIX + name


def run_ref(name: str) -> str:
    """The full name of run ``name``'s branch: ``refs/heads/runs/<name>``."""
    return RUN_REFS + name


def run_name(name: str) -> str:
    """A run as the user may name it, ``foo`` or its branch ``runs/foo``, as ``foo``."""
    return name.removeprefix(RUN_BRANCH_PREFIX)


def label_tag(name: str, label: str) -> str:
    """The short name of the tag labelling a commit of run ``name``: ``runs/<name>@<label>``."""
    return f"{RUN_BRANCH_PREFIX}{name}{LABEL_SEPARATOR}{label}"


def label_refs(name: str) -> str:
    """The prefix of the full names of run ``name``'s labels: ``refs/tags/runs/<name>@``."""
    return TAG_PREFIX + label_tag(name, "")


def split_label(name: str) -> tuple[str, str | None]:
    """``name`` as (run, label): ``("runs/foo", "best")`` for ``runs/foo@best``, and
    ``(name, None)`` when it holds no label."""
    run, separator, label = name.rpartition(LABEL_SEPARATOR)
    return (run, label) if separator else (name, None)
