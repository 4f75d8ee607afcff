"""Checkpoints: tensor listings, per-tensor diffs, and downloads as ``.ckpt`` or safetensors.

Nothing here unpickles: listings and diffs read manifests (JSON) and raw tensor bytes, and a
``.ckpt`` is only built from a checkpoint that holds no pickled value (400 ``unsafe_load``
otherwise). These endpoints need torch (and safetensors) on the server; without them they
answer 501.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from ...checkpoints import describe_checkpoint, diff_checkpoints, export_checkpoint
from ...model.layout import CHECKPOINT_ENTRY, HEAD
from ...model.objects import TensorRecord
from ...repo.repository import Repo
from ..deps import RepoDep
from ..errors import ApiError, not_found
from ..lookup import resolve
from ..schemas.checkpoints import (
    PickledValue,
    TensorChangeOut,
    TensorDiffOut,
    TensorListOut,
    TensorOut,
)
from ..schemas.numbers import json_safe
from ..security import require_read
from ..upload import UPLOAD_TMP_DIR
from .files import BINARY, attachment
from .responses import READ_ERRORS, error_doc

router = APIRouter(
    tags=["checkpoints"],
    dependencies=[Depends(require_read)],
    responses={
        **READ_ERRORS,
        501: error_doc("torch or safetensors is not installed on the server"),
    },
)

Rev = Annotated[str, Query(min_length=1, max_length=256, description="a checkpoint commit")]
T = TypeVar("T")


def _with_torch(call: Callable[[], T]) -> T:
    try:
        return call()
    except ModuleNotFoundError as exc:
        if exc.name not in ("torch", "safetensors"):
            raise
        raise ApiError(
            501,
            "not_installed",
            f"{exc.name} is not installed on the server: pip install 'modelsync[torch]'",
        ) from exc


def checkpoint_commit(repo: Repo, rev: str) -> str:
    """The commit ``rev`` names, or 404 when it holds no checkpoint."""
    commit = resolve(repo, rev)
    entry = repo.read_tree(repo.read_commit(commit).tree).entries.get(CHECKPOINT_ENTRY)
    if entry is None or entry.kind != "checkpoint":
        raise not_found(f"{rev!r} ({commit[:12]}) holds no checkpoint", "no_checkpoint")
    return commit


@router.get("/checkpoints/tensors")
def tensors(repo: RepoDep, rev: Rev = HEAD) -> TensorListOut:
    """The tensors of a checkpoint commit (name, dtype, shape, size), from its manifest alone."""
    commit = checkpoint_commit(repo, rev)
    info = _with_torch(lambda: describe_checkpoint(repo, commit))
    return TensorListOut(
        commit=info.commit,
        manifest=info.manifest_id,
        total_bytes=info.nbytes,
        tensors=[TensorOut.of(t, info.aliases.get(t.name)) for t in info.tensors],
        pickled=[PickledValue(path=path, type=cls) for path, cls in info.pickled],
    )


def _tensor(record: TensorRecord | None) -> TensorOut | None:
    return None if record is None else TensorOut.of(record)


@router.get("/checkpoints/diff")
def diff(repo: RepoDep, a: Rev, b: Rev) -> TensorDiffOut:
    """Tensor by tensor from `a` to `b`: unchanged, changed (L2 of the difference, relative
    change, largest absolute difference), added or removed."""
    a_id, b_id = checkpoint_commit(repo, a), checkpoint_commit(repo, b)
    changes = _with_torch(lambda: diff_checkpoints(repo, a_id, b_id))
    return TensorDiffOut(
        a=a_id,
        b=b_id,
        tensors=[
            TensorChangeOut(
                name=c.name,
                status=c.status,
                old=_tensor(c.old),
                new=_tensor(c.new),
                l2=json_safe(c.l2),
                relative=json_safe(c.relative),
                max_abs=json_safe(c.max_abs),
                note=c.note,
            )
            for c in changes
        ],
    )


@contextlib.contextmanager
def _export_dir(repo: Repo) -> Iterator[Path]:
    """A directory under the control directory that lives until the download is sent."""
    parent = repo.control_dir / UPLOAD_TMP_DIR
    parent.mkdir(exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="export-", dir=parent))
    try:
        yield directory
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


@router.get("/checkpoints/download", response_class=FileResponse, responses=BINARY)
def download(
    repo: RepoDep,
    rev: Rev = HEAD,
    format: Annotated[
        Literal["safetensors", "ckpt"], Query(description="safetensors (weights) or ckpt (all)")
    ] = "safetensors",
) -> FileResponse:
    """A checkpoint commit materialised as a standard file and streamed: `.safetensors` (the
    weights) or `.ckpt` (the whole checkpoint, for `torch.load` or Lightning)."""
    commit = checkpoint_commit(repo, rev)
    with _export_dir(repo) as directory:
        path = _with_torch(lambda: export_checkpoint(repo, commit, directory, format=format))
    name = f"{commit[:12]}.{format}"
    return FileResponse(
        path,
        media_type="application/octet-stream",
        headers={"Content-Disposition": attachment(name), "Cache-Control": "no-store"},
        background=BackgroundTask(shutil.rmtree, directory, ignore_errors=True),
    )
