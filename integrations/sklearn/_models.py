"""Fitted models in a run commit: written with skops, read back without running stored code.

A commit of a tracked fit holds ``files/model.skops`` (or, only when the user chose
``log_model="joblib"`` and skops could not write the model, ``files/model.joblib``) and
``files/model.json``, the manifest: format, class, fit method, library versions, and the
fitted model's ``n_features_in_``, ``feature_names_in_`` and ``classes_``.

``load`` decides how to read a model from the file's name alone, never from anything stored
beside it: skops files are audited against skops' trusted types (plus the caller's
``trusted``), and a joblib file is a pickle, so it is never opened without ``trust_pickle``.
"""

from __future__ import annotations

import io
import json
import platform
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import joblib
import numpy as np
import sklearn
import skops
import skops.io

import modelsync
from modelsync import adapters
from modelsync.adapters import background
from modelsync.errors import UnsafeLoad, UsageError

from ._describe import class_path, json_value

LogModel: TypeAlias = bool | Literal["skops", "joblib"]
FILES = adapters.FILES_PREFIX
MANIFEST = "model.json"
MODEL_FILES = {"model.skops": "skops", "model.joblib": "joblib"}
MODEL_FORMATS = tuple(MODEL_FILES.values())


def check_log_model(log_model: object) -> None:
    if not (
        isinstance(log_model, bool) or (isinstance(log_model, str) and log_model in MODEL_FORMATS)
    ):
        raise ValueError(f"log_model must be True, False, 'skops' or 'joblib', not {log_model!r}")


class ModelNotSerialisable(Exception):
    """skops cannot write the model, and the user did not allow joblib."""


def serialise(model: Any, log_model: LogModel) -> tuple[str, bytes]:
    """The model as a file: ``("model.skops", bytes)``, or joblib when allowed and needed."""
    try:
        return "model.skops", skops.io.dumps(model)
    except Exception as exc:  # skops raises whatever the object's state makes it raise
        if log_model != "joblib":
            raise ModelNotSerialisable(
                f"skops cannot persist {class_path(type(model))} ({type(exc).__name__}: {exc}); "
                "pass log_model='joblib' to store it as a joblib pickle, which load() then "
                "opens only with trust_pickle=True"
            ) from exc
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return "model.joblib", buffer.getvalue()


def manifest(model: Any, file_name: str | None, method: str) -> bytes:
    info: dict[str, Any] = {
        "format": None if file_name is None else MODEL_FILES[file_name],
        "file": file_name,
        "class": class_path(type(model)),
        "method": method,
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "skops": skops.__version__,
            "joblib": joblib.__version__,
            "numpy": np.__version__,
        },
    }
    for attribute in ("n_features_in_", "feature_names_in_", "classes_"):
        if hasattr(model, attribute):
            info[attribute.rstrip("_")] = json_value(getattr(model, attribute))
    return json.dumps(info, indent=2, sort_keys=True).encode("utf-8")


def load(
    rev: str,
    repo: adapters.RepoLike = None,
    *,
    trusted: Sequence[str] = (),
    trust_pickle: bool = False,
) -> Any:
    """The fitted estimator stored by the commit ``rev`` (a run name: its latest fit).

    skops files load with skops' default trusted types; a model holding any other type raises
    ``UnsafeLoad`` listing them, and ``trusted=[...]`` names those you accept. A joblib file is
    a pickle, which can run any code: it raises ``UnsafeLoad`` unless ``trust_pickle=True``.
    """
    if isinstance(trusted, str):
        raise UsageError("trusted takes a list of type names, not a single string")
    background.flush()
    with adapters.opened(repo) as repository:
        commit = repository.resolve(rev)
        files = repository.commit_files(commit)
        file_name = _model_file(rev, files, repository)
        data = repository.read_file_bytes(files[FILES + file_name])
    assert data is not None
    if MODEL_FILES[file_name] == "joblib":
        if not trust_pickle:
            raise UnsafeLoad(
                f"the model of {rev!r} is a joblib pickle, which runs code when it is loaded; "
                "pass trust_pickle=True only if you trust everyone who can write to this repository"
            )
        return joblib.load(io.BytesIO(data))
    return _load_skops(rev, data, list(trusted))


def _load_skops(rev: str, data: bytes, trusted: list[str]) -> Any:
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # a file that is not a skops archive
        raise UnsafeLoad(f"the model of {rev!r} is not a readable skops file: {exc}") from exc
    refused = [name for name in untrusted if name not in trusted]
    if refused:
        raise UnsafeLoad(
            f"the model of {rev!r} holds types skops does not trust by default: "
            f"{', '.join(refused)}; review them and pass trusted=[...] with those you trust"
        )
    return skops.io.loads(data, trusted=trusted or None)


def _model_file(rev: str, files: dict[str, Any], repository: modelsync.Repo) -> str:
    """The model file of a commit: the one its manifest names, else (a commit made by hand)
    the one it holds."""
    entry = files.get(FILES + MANIFEST)
    if entry is None:
        held = [name for name in MODEL_FILES if FILES + name in files]
        if held:
            return held[0]
    else:
        try:
            named = json.loads(repository.read_file_bytes(entry) or b"{}").get("file")
        except (ValueError, AttributeError):
            named = None
        if named in MODEL_FILES and FILES + named in files:
            return str(named)
    raise UsageError(
        f"{rev!r} holds no fitted model: it was fitted with log_model=False, or its model "
        "could not be written (see the run's problems)"
    )
