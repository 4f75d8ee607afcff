"""Dataset fingerprints: a content hash plus shape, dtypes and columns, for any run input.

numpy arrays, pandas frames and series, scipy sparse matrices, torch tensors, files and
directories. Equal content gives an equal digest whatever the memory layout (a transposed copy,
unsorted sparse indices, a tensor on the GPU). None of those libraries is imported here: an
object is recognised only through modules the program has loaded itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..model.metadata import DatasetInfo
from ..repo.files import hash_file
from ..util.optional import loaded

_SKIPPED_DIRS = {".git", ".modelsync", "__pycache__"}


def fingerprint(obj: Any, name: str | None = None) -> DatasetInfo:
    """The fingerprint of ``obj``, named ``name`` (default: the file name, or kind and digest)."""
    if isinstance(obj, str | os.PathLike):
        info = _fingerprint_path(Path(os.fsdecode(os.fspath(obj))))
    else:
        info = _fingerprint_object(obj)
    if name is None:
        name = Path(info.path).name if info.path else f"{info.kind}-{info.digest[:12]}"
    if not isinstance(name, str) or not name or not name.isprintable():
        raise UsageError(f"invalid dataset name {name!r}: use a non-empty printable string")
    return info.model_copy(update={"name": name})


def _fingerprint_object(obj: Any) -> DatasetInfo:
    numpy = loaded("numpy")
    pandas = loaded("pandas")
    sparse = loaded("scipy.sparse")
    torch = loaded("torch")
    if numpy is not None and isinstance(obj, numpy.ndarray):
        return _numpy(obj, numpy)
    if pandas is not None and isinstance(obj, pandas.DataFrame | pandas.Series):
        return _pandas(obj, pandas)
    if sparse is not None and sparse.issparse(obj):
        return _sparse(obj, numpy)
    if torch is not None and isinstance(obj, torch.Tensor):
        return _torch(obj, torch)
    raise UsageError(
        f"cannot fingerprint a {type(obj).__name__}: pass a numpy array, a pandas DataFrame or "
        "Series, a scipy sparse matrix, a torch tensor, or a file or directory path"
    )


def _header(**fields: Any) -> bytes:
    return json.dumps(fields, sort_keys=True, default=str).encode("utf-8") + b"\n"


def _numpy(array: Any, numpy: Any) -> DatasetInfo:
    digest = hashlib.sha256(_header(dtype=array.dtype.str, shape=list(array.shape)))
    if array.dtype.hasobject:
        digest.update(repr(array.tolist()).encode("utf-8"))
    else:
        digest.update(numpy.ascontiguousarray(array).reshape(-1).view(numpy.uint8))
    return DatasetInfo(
        name="",
        kind="numpy",
        digest=digest.hexdigest(),
        shape=[int(n) for n in array.shape],
        dtype=str(array.dtype),
        nbytes=int(array.nbytes),
    )


def _pandas(obj: Any, pandas: Any) -> DatasetInfo:
    frame = obj.to_frame() if isinstance(obj, pandas.Series) else obj
    columns = [str(c) for c in frame.columns]
    dtypes = {str(c): str(t) for c, t in frame.dtypes.items()}
    digest = hashlib.sha256(_header(columns=columns, dtypes=dtypes, shape=list(obj.shape)))
    try:
        rows = pandas.util.hash_pandas_object(frame, index=True).to_numpy()
        digest.update(rows.tobytes())
    except TypeError:
        digest.update(frame.to_json(orient="split", default_handler=repr).encode("utf-8"))
    is_series = isinstance(obj, pandas.Series)
    return DatasetInfo(
        name="",
        kind="pandas",
        digest=digest.hexdigest(),
        shape=[int(n) for n in obj.shape],
        dtype=str(obj.dtype) if is_series else None,
        dtypes=None if is_series else dtypes,
        columns=columns,
        nbytes=int(frame.memory_usage(index=True, deep=False).sum()),
    )


def _sparse(matrix: Any, numpy: Any) -> DatasetInfo:
    csr = matrix.tocsr(copy=True)
    csr.sum_duplicates()
    csr.sort_indices()
    digest = hashlib.sha256(
        _header(format="csr", dtype=csr.dtype.str, shape=list(csr.shape), nnz=int(csr.nnz))
    )
    digest.update(numpy.ascontiguousarray(csr.data).view(numpy.uint8))
    digest.update(csr.indices.astype("<i8").tobytes())
    digest.update(csr.indptr.astype("<i8").tobytes())
    return DatasetInfo(
        name="",
        kind="sparse",
        digest=digest.hexdigest(),
        shape=[int(n) for n in csr.shape],
        dtype=str(csr.dtype),
        nbytes=int(csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes),
    )


def _torch(tensor: Any, torch: Any) -> DatasetInfo:
    dense = tensor.detach()
    if dense.layout != torch.strided:
        dense = dense.to_dense()
    dense = dense.cpu().contiguous()
    digest = hashlib.sha256(_header(dtype=str(dense.dtype), shape=list(dense.shape)))
    digest.update(dense.reshape(-1).view(torch.uint8).numpy())
    return DatasetInfo(
        name="",
        kind="torch",
        digest=digest.hexdigest(),
        shape=[int(n) for n in dense.shape],
        dtype=str(dense.dtype),
        nbytes=int(dense.element_size() * dense.numel()),
    )


def _fingerprint_path(path: Path) -> DatasetInfo:
    if path.is_file():
        size = path.stat().st_size
        return DatasetInfo(
            name="",
            kind="file",
            digest=hash_file(path, size),
            nbytes=size,
            path=str(path.resolve()),
        )
    if path.is_dir():
        return _fingerprint_dir(path)
    raise UsageError(f"cannot fingerprint {str(path)!r}: no such file or directory")


def _fingerprint_dir(root: Path) -> DatasetInfo:
    """A directory by the sorted list of its files' relative paths, object ids and sizes."""
    listing = hashlib.sha256(b"modelsync directory\n")
    count = 0
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for filename in sorted(filenames):
            path = Path(dirpath, filename)
            if not path.is_file():
                continue
            size = path.stat().st_size
            relative = path.relative_to(root).as_posix()
            listing.update(f"{relative}\0{hash_file(path, size)}\0{size}\n".encode())
            count += 1
            total += size
    return DatasetInfo(
        name="",
        kind="directory",
        digest=listing.hexdigest(),
        nbytes=total,
        path=str(root.resolve()),
        files=count,
    )
