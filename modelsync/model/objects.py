"""Immutable objects and their canonical bytes.

Raw content (a small file, or one chunk of a large file or of a tensor) is stored as its own
bytes. Structured objects are canonical JSON with a ``type`` field: the same value always gives
the same bytes, hence the same id. Which kind an id names is known from whoever refers to it
(a tree entry says ``blob``/``file``/``tree``/``checkpoint``), as in restic.

A tree entry's name becomes a file name at checkout, and trees will come from other people's
repositories, so every name is checked wherever a tree is built or read (``check_entry_name``):
one path component that cannot climb out of its directory or name the control directory. A
tree that breaks the rule does not decode, so every reader, and fsck, reports it corrupt.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ..errors import shorten

EntryKind: TypeAlias = Literal["blob", "file", "tree", "checkpoint"]
ENTRY_KINDS: tuple[EntryKind, ...] = ("blob", "file", "tree", "checkpoint")
JSONValue: TypeAlias = Any

FILE_MODE = "100644"
EXECUTABLE_MODE = "100755"
TREE_MODE = "040000"

CONTROL_DIR = ".modelsync"
"""The control directory at the root of a working tree (the repository layer's layout)."""
MAX_NAME_BYTES = 255
"""The longest file name, in UTF-8 bytes, that common file systems hold (NAME_MAX)."""

# Separators (a backslash is one on Windows) and control characters (C0, DEL, C1): NUL ends a path
# in the OS, and the others break file systems, listings and terminals.
_FORBIDDEN_IN_NAME = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")


class MalformedObject(ValueError):
    """Bytes that do not decode to the object the caller expected."""


def check_entry_name(name: str) -> str:
    """``name`` if it is safe as one file name in a working tree; MalformedObject otherwise.

    Refused: empty, ``.`` and ``..``; separators, NUL and other control characters; longer than
    ``MAX_NAME_BYTES`` in UTF-8 (or not encodable); and any spelling of the control directory.
    """
    if name in ("", ".", ".."):
        raise MalformedObject(f"invalid tree entry name {name!r}")
    forbidden = _FORBIDDEN_IN_NAME.search(name)
    if forbidden:
        raise MalformedObject(
            f"invalid tree entry name {shorten(name, 40)}: it contains {forbidden.group()!r}"
        )
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise MalformedObject(f"invalid tree entry name {shorten(name, 40)}: not UTF-8") from None
    if size > MAX_NAME_BYTES:
        raise MalformedObject(
            f"invalid tree entry name {shorten(name, 40)}: {size} bytes, over {MAX_NAME_BYTES}"
        )
    if is_control_dir_name(name):
        raise MalformedObject(
            f"invalid tree entry name {shorten(name, 40)}: it names {CONTROL_DIR}"
        )
    return name


def check_tree_path(path: str) -> str:
    """``path`` if it is ``/``-separated valid entry names (a flattened tree's or the staging
    area's key); MalformedObject otherwise."""
    for name in path.split("/"):
        check_entry_name(name)
    return path


def is_control_dir_name(name: str) -> bool:
    """Whether some file system would take ``name`` for the control directory: one that folds
    case, ignores format characters such as zero-width joiners (HFS+), or drops trailing dots
    and spaces (NTFS) -- the spellings git refuses for ``.git``."""
    if not name.isascii():
        name = "".join(c for c in name if unicodedata.category(c) != "Cf")
    return name.rstrip(". ").casefold() == CONTROL_DIR


def canonical_json(value: JSONValue) -> bytes:
    """Deterministic JSON: sorted keys, no spaces, UTF-8. NaN and inf are kept (as in metrics)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True
    ).encode("utf-8")


def _load_typed(data: bytes, expected: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedObject(f"not a {expected} object: {exc}") from exc
    if not isinstance(value, dict) or value.get("type") != expected:
        raise MalformedObject(f"not a {expected} object")
    return value


@dataclass(frozen=True)
class TreeEntry:
    kind: EntryKind
    oid: str
    size: int = 0
    mode: str = FILE_MODE

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.oid, "size": self.size, "mode": self.mode}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> TreeEntry:
        kind = value["kind"]
        if kind not in ENTRY_KINDS:
            raise MalformedObject(f"unknown tree entry kind {kind!r}")
        return cls(kind=kind, oid=value["id"], size=int(value["size"]), mode=value["mode"])


@dataclass(frozen=True)
class Tree:
    """A directory: names (each passing ``check_entry_name``) to entries."""

    entries: dict[str, TreeEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.entries:
            check_entry_name(name)

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "type": "tree",
                "entries": {name: e.to_json() for name, e in sorted(self.entries.items())},
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Tree:
        value = _load_typed(data, "tree")
        try:
            entries = {name: TreeEntry.from_json(e) for name, e in value["entries"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedObject(f"malformed tree: {exc}") from exc
        return cls(entries)


@dataclass(frozen=True)
class ChunkedFile:
    """A large file as the ordered list of its content-defined chunks."""

    size: int
    chunks: tuple[tuple[str, int], ...]

    def to_bytes(self) -> bytes:
        return canonical_json(
            {"type": "file", "size": self.size, "chunks": [list(c) for c in self.chunks]}
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ChunkedFile:
        value = _load_typed(data, "file")
        try:
            chunks = tuple((str(oid), int(length)) for oid, length in value["chunks"])
            return cls(size=int(value["size"]), chunks=chunks)
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedObject(f"malformed file object: {exc}") from exc


@dataclass(frozen=True)
class Signature:
    name: str
    email: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Signature:
        return cls(name=str(value["name"]), email=str(value["email"]))


@dataclass(frozen=True)
class Commit:
    """A snapshot: a tree, its parents, who and when, and training metadata (run, step, metrics)."""

    tree: str
    parents: tuple[str, ...]
    author: Signature
    timestamp: float
    message: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "type": "commit",
                "tree": self.tree,
                "parents": list(self.parents),
                "author": self.author.to_json(),
                "time": self.timestamp,
                "message": self.message,
                "meta": self.meta,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Commit:
        value = _load_typed(data, "commit")
        try:
            return cls(
                tree=str(value["tree"]),
                parents=tuple(str(p) for p in value["parents"]),
                author=Signature.from_json(value["author"]),
                timestamp=float(value["time"]),
                message=str(value["message"]),
                meta=dict(value.get("meta") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedObject(f"malformed commit: {exc}") from exc

    @property
    def summary(self) -> str:
        return self.message.splitlines()[0] if self.message else ""


@dataclass(frozen=True)
class Tag:
    """An annotated tag: a named, signed pointer to a commit with a message."""

    target: str
    name: str
    tagger: Signature
    timestamp: float
    message: str

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "type": "tag",
                "object": self.target,
                "name": self.name,
                "tagger": self.tagger.to_json(),
                "time": self.timestamp,
                "message": self.message,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Tag:
        value = _load_typed(data, "tag")
        try:
            return cls(
                target=str(value["object"]),
                name=str(value["name"]),
                tagger=Signature.from_json(value["tagger"]),
                timestamp=float(value["time"]),
                message=str(value["message"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedObject(f"malformed tag: {exc}") from exc


@dataclass(frozen=True)
class TensorRecord:
    """One stored tensor of a checkpoint: its raw bytes (C order) as fixed-size chunks."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    chunks: tuple[str, ...]
    device: str = "cpu"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "nbytes": self.nbytes,
            "chunks": list(self.chunks),
            "device": self.device,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> TensorRecord:
        return cls(
            name=str(value["name"]),
            dtype=str(value["dtype"]),
            shape=tuple(int(n) for n in value["shape"]),
            nbytes=int(value["nbytes"]),
            chunks=tuple(str(oid) for oid in value["chunks"]),
            device=str(value["device"]),
        )


@dataclass(frozen=True)
class CheckpointManifest:
    """A tensor-aware checkpoint: its tensors, and the structure around them as a JSON tree.

    ``structure`` refers to tensors by their index in ``tensors`` (see ``modelsync.checkpoints``);
    it holds only JSON, so reading a manifest never runs code.
    """

    chunk_size: int
    tensors: tuple[TensorRecord, ...]
    structure: JSONValue

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "type": "checkpoint",
                "chunk_size": self.chunk_size,
                "tensors": [t.to_json() for t in self.tensors],
                "structure": self.structure,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> CheckpointManifest:
        value = _load_typed(data, "checkpoint")
        try:
            tensors = tuple(TensorRecord.from_json(t) for t in value["tensors"])
            return cls(
                chunk_size=int(value["chunk_size"]),
                tensors=tensors,
                structure=value["structure"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedObject(f"malformed checkpoint manifest: {exc}") from exc

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)


def object_type(data: bytes) -> str | None:
    """The ``type`` of a structured object, or None for raw content."""
    if not data.startswith(b'{"'):
        return None
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


def json_safe_number(value: float) -> float | str:
    """How a metric value is shown in JSON output: NaN and inf as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def json_safe(value: Any) -> Any:
    """``value`` with every float in it (in dicts, lists and tuples) as ``json_safe_number``
    shows it: what the CLI's ``--json`` and the API print."""
    if isinstance(value, float):
        return json_safe_number(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def references(kind: str, data: bytes) -> list[tuple[str, str]]:
    """The ``(kind, id)`` pairs that an object of ``kind`` points at, for fsck and gc walks.

    The kind comes from whoever refers to the object, never from its content. Raw content
    (``blob``, ``chunk``) points at nothing; a new structured kind adds its case here so that
    reachability stays complete.
    """
    if kind == "tree":
        return [(e.kind, e.oid) for e in Tree.from_bytes(data).entries.values()]
    if kind == "file":
        return [("chunk", oid) for oid, _ in ChunkedFile.from_bytes(data).chunks]
    if kind == "commit":
        commit = Commit.from_bytes(data)
        return [("tree", commit.tree)] + [("commit", p) for p in commit.parents]
    if kind == "tag":
        return [("commit", Tag.from_bytes(data).target)]
    if kind == "checkpoint":
        manifest = CheckpointManifest.from_bytes(data)
        return [("chunk", oid) for tensor in manifest.tensors for oid in tensor.chunks]
    return []
