"""Tensors as raw bytes and back: dtype names, validation, zero-copy byte views.

A stored tensor is its elements in C order, in the machine's byte order, cut into fixed-size
chunks. Every dtype torch can hold in a dense CPU tensor round-trips bit for bit, including
bfloat16, the float8 kinds and complex; quantized, sparse and other special tensors are refused
with an error that says what to do.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..model.objects import MalformedObject

if TYPE_CHECKING:
    import torch


@functools.cache
def _dtypes() -> dict[str, torch.dtype]:
    import torch

    table: dict[str, torch.dtype] = {}
    for value in vars(torch).values():
        if isinstance(value, torch.dtype) and not _is_quantized(value):
            table[dtype_name(value)] = value
    return table


def _is_quantized(dtype: torch.dtype) -> bool:
    return dtype_name(dtype).startswith(("qint", "quint"))


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def dtype_from_name(name: str) -> torch.dtype:
    """The dtype a manifest names; only real dtypes, never another attribute of ``torch``."""
    try:
        return _dtypes()[name]
    except KeyError:
        raise MalformedObject(f"unknown tensor dtype {name!r}") from None


def byte_planes(dtype: torch.dtype) -> int:
    """How many byte planes the codec should split this dtype's chunks into (1: none).

    Floats compress far better plane by plane (the sign/exponent bytes repeat, the low mantissa
    bytes do not); a complex number is two floats of half its size.
    """
    if dtype.is_complex:
        return max(1, dtype.itemsize // 2)
    if dtype.is_floating_point:
        return dtype.itemsize
    return 1


def check_storable(tensor: Any, path: str) -> None:
    """Raise a one-line ``UsageError`` for a tensor whose bytes cannot be stored as they are."""
    import torch

    where = path or "the top level"
    if type(tensor) not in (torch.Tensor, torch.nn.Parameter):
        raise UsageError(
            f"cannot store the tensor subclass {type(tensor).__qualname__} at {where}; "
            "convert it to a plain tensor first"
        )
    if tensor.layout != torch.strided:
        raise UsageError(
            f"cannot store the {str(tensor.layout).removeprefix('torch.')} tensor at {where}; "
            "convert it with .to_dense() first"
        )
    if tensor.is_quantized:
        raise UsageError(
            f"cannot store the quantized tensor at {where}; "
            "store its .dequantize() or its int_repr() and scale instead"
        )
    if tensor.is_meta or tensor.device.type == "meta":
        raise UsageError(f"cannot store the tensor at {where}: it is on the meta device (no data)")
    if tensor.is_nested:
        raise UsageError(f"cannot store the nested tensor at {where}; unbind it into a list first")
    if dtype_name(tensor.dtype) not in _dtypes():
        raise UsageError(f"cannot store the tensor at {where}: unsupported dtype {tensor.dtype}")


def contiguous_cpu(
    tensor: torch.Tensor, *, copy: bool, into: torch.Tensor | None = None
) -> torch.Tensor:
    """The tensor's values as a dense C-order CPU tensor; a fresh copy when ``copy``.

    ``into``, a flat uint8 CPU tensor of exactly the tensor's size, receives the copy instead of
    new memory (a reused buffer costs no page faults). Lazily conjugated or negated views are
    resolved, so the bytes are the values one sees. A contiguous CPU tensor is copied byte for
    byte, which works for every dtype, even those without arithmetic kernels.
    """
    import torch

    data = tensor.detach().resolve_conj().resolve_neg()
    if into is not None:
        if data.device.type == "cpu" and data.is_contiguous():
            into.copy_(data.reshape(-1).view(torch.uint8))
            return into.view(data.dtype).reshape(data.shape)
        target = into.view(data.dtype).reshape(data.shape)
        target.copy_(data)
        return target
    if data.device.type != "cpu":
        return data.to("cpu", memory_format=torch.contiguous_format)
    if not data.is_contiguous():
        return data.clone(memory_format=torch.contiguous_format)
    if not copy or data.numel() == 0:
        return data
    flat = data.reshape(-1).view(torch.uint8).clone()
    return flat.view(data.dtype).reshape(data.shape)


def staging_buffer(nbytes: int, *, pinned: bool) -> torch.Tensor:
    """A flat uint8 CPU buffer to copy a tensor into; page-locked for a faster copy off a GPU."""
    import torch

    return torch.empty(nbytes, dtype=torch.uint8, pin_memory=pinned)


def byte_view(tensor: torch.Tensor) -> memoryview:
    """A zero-copy view of a contiguous CPU tensor's bytes (via uint8: numpy lacks bfloat16)."""
    import torch

    if tensor.numel() == 0:
        return memoryview(b"")
    return tensor.reshape(-1).view(torch.uint8).numpy().data


def expected_nbytes(dtype: torch.dtype, shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        if size < 0:
            raise MalformedObject(f"negative dimension in tensor shape {shape}")
        count *= size
    return count * dtype.itemsize
