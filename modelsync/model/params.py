"""Hyperparameters as JSON: any value a training function takes, made storable and flat.

``json_safe`` turns a value into JSON data: paths, enums, dataclasses, pydantic models, mappings
and sequences by their content; numpy and torch scalars as numbers; arrays, tensors and frames
summarised by type, shape and dtype; anything else as its ``repr``, reported back so the caller
can warn. ``flatten`` turns nested mappings into dotted keys (``optimizer.lr``).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import os
import uuid
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 32


def json_safe(value: Any, unsupported: list[str] | None = None, *, _depth: int = 0) -> Any:
    """``value`` as JSON data; descriptions of values stored as their repr go to ``unsupported``."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return json_safe(value.value, unsupported, _depth=_depth + 1)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if _depth > MAX_DEPTH:
        return _as_repr(value, unsupported)
    nested = _depth + 1
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, unsupported, _depth=nested) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, unsupported, _depth=nested) for v in value]
    if isinstance(value, set | frozenset):
        return [json_safe(v, unsupported, _depth=nested) for v in sorted(value, key=repr)]
    if isinstance(value, os.PathLike):
        return os.fsdecode(os.fspath(value))
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump) and hasattr(type(value), "model_fields"):
        return json_safe(dump(mode="json"), unsupported, _depth=nested)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: json_safe(getattr(value, f.name), unsupported, _depth=nested)
            for f in dataclasses.fields(value)
        }
    return _array_like(value, unsupported, nested)


def _array_like(value: Any, unsupported: list[str] | None, depth: int) -> Any:
    """numpy/torch scalars as numbers; arrays, tensors and frames as a summary."""
    shape = getattr(value, "shape", None)
    item = getattr(value, "item", None)
    if shape is not None and callable(item) and len(tuple(shape)) == 0:
        return json_safe(item(), unsupported, _depth=depth)
    if shape is not None and (hasattr(value, "dtype") or hasattr(value, "dtypes")):
        summary: dict[str, Any] = {
            "type": type(value).__name__,
            "shape": [int(n) for n in tuple(shape)],
        }
        if hasattr(value, "dtype"):
            summary["dtype"] = str(value.dtype)
        return summary
    return _as_repr(value, unsupported)


def _as_repr(value: Any, unsupported: list[str] | None) -> str:
    text = repr(value)
    if unsupported is not None:
        unsupported.append(f"{type(value).__name__} {text[:80]}")
    return text


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; an empty mapping is kept as a value."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
