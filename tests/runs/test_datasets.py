"""Dataset fingerprints: equal content, equal digest; shapes, dtypes and columns recorded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import modelsync
from modelsync.errors import UsageError
from modelsync.repo.files import hash_file
from modelsync.repo.repository import Repo
from modelsync.runs import read as runs
from modelsync.runs.datasets import fingerprint


def test_numpy_arrays_by_content_shape_and_dtype() -> None:
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    info = fingerprint(data, name="x")
    assert (info.name, info.kind, info.shape, info.dtype, info.nbytes) == (
        "x",
        "numpy",
        [3, 4],
        "float32",
        48,
    )
    assert fingerprint(data.copy()).digest == info.digest
    assert fingerprint(np.asfortranarray(data)).digest == info.digest
    assert fingerprint(data.T.copy().T).digest == info.digest
    assert fingerprint(data.reshape(4, 3)).digest != info.digest
    assert fingerprint(data.astype(np.float64)).digest != info.digest
    changed = data.copy()
    changed[2, 3] += 1
    assert fingerprint(changed).digest != info.digest


def test_object_arrays_are_fingerprinted_by_value() -> None:
    words = np.array(["cat", "dog", None], dtype=object)
    assert fingerprint(words).digest == fingerprint(words.copy()).digest
    assert (
        fingerprint(words).digest
        != fingerprint(np.array(["cat", "dog", "eel"], dtype=object)).digest
    )


def test_pandas_frames_record_columns_and_dtypes() -> None:
    frame = pd.DataFrame({"age": [31, 45], "city": ["Oslo", "Lima"], "score": [0.5, 0.7]})
    info = fingerprint(frame, name="people")
    assert info.kind == "pandas" and info.shape == [2, 3]
    assert info.columns == ["age", "city", "score"]
    assert info.dtypes is not None and info.dtypes["age"] == "int64"
    assert fingerprint(frame.copy()).digest == info.digest
    assert fingerprint(frame.rename(columns={"age": "years"})).digest != info.digest
    assert fingerprint(frame.iloc[::-1]).digest != info.digest
    series = fingerprint(frame["score"])
    assert series.columns == ["score"] and series.dtype == "float64" and series.shape == [2]


def test_frames_with_unhashable_cells_still_get_a_digest() -> None:
    frame = pd.DataFrame({"tags": [["a", "b"], ["c"]]})
    assert fingerprint(frame).digest == fingerprint(frame.copy()).digest


def test_sparse_matrices_ignore_storage_order_and_duplicates() -> None:
    dense = np.array([[0, 2.0, 0], [1.0, 0, 3.0]])
    csr = sp.csr_matrix(dense)
    coo_with_duplicates = sp.coo_matrix(
        ([1.0, 1.0, 0.5, 0.5, 3.0], ([0, 0, 1, 1, 1], [1, 1, 0, 0, 2])), shape=(2, 3)
    )
    info = fingerprint(csr)
    assert (info.kind, info.shape, info.dtype) == ("sparse", [2, 3], "float64")
    assert fingerprint(coo_with_duplicates).digest == info.digest
    assert fingerprint(sp.csc_matrix(dense)).digest == info.digest
    assert fingerprint(sp.csr_matrix(dense * 2)).digest != info.digest


def test_torch_tensors_including_bfloat16_and_non_contiguous_views() -> None:
    tensor = torch.arange(6, dtype=torch.bfloat16).reshape(2, 3)
    info = fingerprint(tensor)
    assert (info.kind, info.shape, info.dtype, info.nbytes) == (
        "torch",
        [2, 3],
        "torch.bfloat16",
        12,
    )
    assert fingerprint(tensor.t().contiguous().t()).digest == info.digest
    assert fingerprint(tensor.clone().requires_grad_()).digest == info.digest
    assert fingerprint(tensor.float()).digest != info.digest
    assert fingerprint(tensor.to_sparse()).digest == info.digest


def test_files_are_fingerprinted_by_their_object_id(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes(b"a,b\n1,2\n")
    info = fingerprint(path)
    assert (info.name, info.kind, info.nbytes, info.path) == ("train.csv", "file", 8, str(path))
    assert info.digest == hash_file(path, 8)
    assert fingerprint(str(path), name="train").name == "train"


def test_directories_by_their_files_names_and_contents(tmp_path: Path) -> None:
    root = tmp_path / "images"
    (root / "cats").mkdir(parents=True)
    (root / "cats" / "1.png").write_bytes(b"cat")
    (root / "dog.png").write_bytes(b"dog")
    info = fingerprint(root)
    assert (info.kind, info.files, info.nbytes, info.name) == ("directory", 2, 6, "images")
    (root / "cats" / "1.png").write_bytes(b"CAT")
    changed = fingerprint(root)
    assert changed.digest != info.digest
    (root / "cats" / "1.png").write_bytes(b"cat")
    assert fingerprint(root).digest == info.digest
    (root / "dog.png").rename(root / "puppy.png")
    assert fingerprint(root).digest != info.digest


def test_unsupported_objects_and_missing_paths_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot fingerprint a list"):
        fingerprint([1, 2, 3])
    with pytest.raises(UsageError, match="no such file or directory"):
        fingerprint(tmp_path / "missing.csv")
    with pytest.raises(UsageError, match="invalid dataset name"):
        fingerprint(np.zeros(2), name="")


def test_datasets_are_recorded_as_run_inputs(repo: Repo) -> None:
    with modelsync.start_run("inputs", repo=repo) as run:
        train = modelsync.dataset(np.zeros((100, 8)), name="train")
        valid = run.dataset(pd.DataFrame({"x": [1.0]}), name="valid")
    assert runs.get_datasets(repo, "inputs") == {"train": train, "valid": valid}


def test_fingerprinting_imports_none_of_the_libraries_itself() -> None:
    probe = (
        "import sys, modelsync\n"
        "from modelsync.runs.datasets import fingerprint\n"
        "try:\n    fingerprint(object())\nexcept modelsync.ModelSyncError:\n    pass\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'scipy', 'torch') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
