"""How one object's bytes are encoded on disk: raw, zstd, or byte planes.

Record payloads by codec (the codec is the record's first byte, see ``store/disk.py``):

- ``RAW`` (0): the bytes themselves.
- ``ZSTD`` (1): one zstd frame.
- ``ZSTD_PLANES`` (2, written by earlier versions, still read): ``[planes u8]``, then one
  ``u64`` frame length per plane, then one zstd frame per byte plane.
- ``PLANES`` (3): ``[planes u8]``, then per plane ``[kind u8][length u64]`` (kind 0: the plane's
  bytes as they are, 1: a zstd frame of them), then the planes' payloads back to back.
- ``DEFERRED`` (4): ``[planes u8]``, then the bytes as they are: stored first, to be compressed
  later (``planes`` is the element width to split them by then).

Compressed forms are kept only when they save at least ``MIN_SAVING`` of the raw size. Float
tensors compress better when each byte position of the elements (sign/exponent bytes apart from
mantissa bytes) is compressed as its own plane; the low mantissa planes of trained weights are
noise, so a small sample decides per plane whether zstd runs over it at all.
"""

from __future__ import annotations

import functools
import struct
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import zstandard

from ..util.hashing import BytesLike

RAW = 0
ZSTD = 1
ZSTD_PLANES = 2
PLANES = 3
DEFERRED = 4

_PLANE_RAW = 0
_PLANE_ZSTD = 1
_PLANE_ENTRY = struct.Struct("<BQ")

MIN_SAVING = 0.03
ZSTD_LEVEL = 1
MIN_SIZE = 64
SAMPLE_SIZE = 16 << 10
SAMPLE_THRESHOLD = 256 << 10
SCRATCH_LIMIT = 16 << 20

_local = threading.local()


class CodecError(ValueError):
    pass


def _compressor() -> zstandard.ZstdCompressor:
    compressor: zstandard.ZstdCompressor | None = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True)
        _local.compressor = compressor
    return compressor


def _plane_compressor() -> zstandard.ZstdCompressor:
    """zstd tuned for byte planes: a plane of float exponents is a few distinct values with few
    long repeats, so a small hash table and long minimum matches leave it to the entropy coder.
    On float32/bfloat16 weights this is about a quarter faster than level 1, and no larger."""
    compressor: zstandard.ZstdCompressor | None = getattr(_local, "plane_compressor", None)
    if compressor is None:
        compressor = zstandard.ZstdCompressor(
            compression_params=zstandard.ZstdCompressionParameters(
                strategy=zstandard.STRATEGY_FAST,
                window_log=17,
                hash_log=8,
                chain_log=8,
                search_log=1,
                min_match=7,
                target_length=0,
                write_content_size=True,
            )
        )
        _local.plane_compressor = compressor
    return compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = zstandard.ZstdDecompressor()
        _local.decompressor = decompressor
    return decompressor


def _worth_it(encoded_size: int, raw_size: int) -> bool:
    return encoded_size <= raw_size * (1.0 - MIN_SAVING)


def _samples(data: BytesLike, align: int) -> list[memoryview]:
    """Three small windows of a large object (its beginning, middle and end), each starting
    at a multiple of ``align``."""
    size = len(data)
    window = SAMPLE_SIZE - SAMPLE_SIZE % align
    middle = size // 2 - (size // 2) % align
    view = memoryview(data)
    return [view[start : start + window] for start in (0, middle, size - window)]


def _looks_incompressible(data: BytesLike) -> bool:
    """Compress three small samples first: random-looking data (already compressed files,
    encrypted blobs) then skips the full zstd pass, which would cost more than the write."""
    size = len(data)
    if size < SAMPLE_THRESHOLD:
        return False
    compressor = _compressor()
    samples = _samples(data, 1)
    compressed = sum(len(compressor.compress(sample)) for sample in samples)
    return not _worth_it(compressed, sum(len(sample) for sample in samples))


def _planes_worth_compressing(data: BytesLike, planes: int) -> list[bool]:
    """Per byte plane, whether zstd is worth running over it, judged from three samples.

    Small objects are not sampled: every plane is tried, and kept compressed only if it pays.
    """
    size = len(data)
    if size < SAMPLE_THRESHOLD:
        return [True] * planes
    sample = b"".join(_samples(data, planes))
    compressor = _plane_compressor()
    return [
        _worth_it(len(compressor.compress(plane)), len(plane))
        for plane in _split_planes(sample, planes)
    ]


def encode(data: BytesLike, planes: int = 1) -> tuple[int, BytesLike]:
    """Return ``(codec, payload)``; ``planes`` is the element width to split floats by.

    A byte-plane payload may be a view of a per-thread buffer: write it out before this thread
    encodes anything else (it saves a fresh multi-megabyte allocation per chunk).
    """
    raw_size = len(data)
    if raw_size < MIN_SIZE:
        return RAW, data
    if planes > 1 and raw_size % planes == 0:
        payload = _encode_planes(data, planes)
        if payload is not None and _worth_it(len(payload), raw_size):
            return PLANES, payload
        return RAW, data
    if _looks_incompressible(data):
        return RAW, data
    compressed = _compressor().compress(data)
    if _worth_it(len(compressed), raw_size):
        return ZSTD, compressed
    return RAW, data


def deferred_header(planes: int) -> bytes:
    """The first bytes of a ``DEFERRED`` record (codec and element width); the data follows."""
    if not 1 <= planes <= 255:
        raise ValueError(f"cannot split elements of {planes} bytes into planes")
    return bytes([DEFERRED, planes])


def deferred_planes(payload: BytesLike) -> int:
    """The element width a ``DEFERRED`` payload is to be compressed with."""
    if not len(payload) or not payload[0]:
        raise CodecError("deferred record without its element width")
    return int(payload[0])


@functools.cache
def _numpy() -> ModuleType | None:
    """numpy, when installed: it splits and merges planes in C, without holding the GIL per byte."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _scratch(nbytes: int, name: str) -> Any:
    """A per-thread numpy buffer of ``nbytes``, reused: fresh big buffers cost page faults."""
    numpy = _numpy()
    assert numpy is not None
    if nbytes > SCRATCH_LIMIT:
        return numpy.empty(nbytes, dtype=numpy.uint8)
    buffer = getattr(_local, name, None)
    if buffer is None or len(buffer) < nbytes:
        buffer = numpy.empty(nbytes, dtype=numpy.uint8)
        setattr(_local, name, buffer)
    return buffer[:nbytes]


def _split_planes(data: BytesLike, planes: int) -> list[Any]:
    """The byte planes of ``data``; with numpy, views of a per-thread buffer (use them at once)."""
    numpy = _numpy()
    if numpy is None:
        flat = bytes(data) if isinstance(data, memoryview) else data
        return [flat[i::planes] for i in range(planes)]
    matrix = _scratch(len(data), "split").reshape(planes, -1)
    numpy.copyto(matrix, numpy.frombuffer(data, dtype=numpy.uint8).reshape(-1, planes).T)
    return list(matrix)


def _encode_planes(data: BytesLike, planes: int) -> BytesLike | None:
    """A ``PLANES`` payload, or None when no plane is worth compressing."""
    worth = _planes_worth_compressing(data, planes)
    if not any(worth):
        return None
    compressor = _plane_compressor()
    parts: list[tuple[int, Any]] = []
    for plane, try_zstd in zip(_split_planes(data, planes), worth, strict=True):
        if try_zstd:
            frame = compressor.compress(plane)
            if _worth_it(len(frame), len(plane)):
                parts.append((_PLANE_ZSTD, frame))
                continue
        parts.append((_PLANE_RAW, plane))
    if all(kind == _PLANE_RAW for kind, _ in parts):
        return None
    header = bytes([planes]) + b"".join(_PLANE_ENTRY.pack(kind, len(p)) for kind, p in parts)
    if _numpy() is None:
        return header + b"".join(bytes(part) for _, part in parts)
    size = len(header) + sum(len(part) for _, part in parts)
    payload: memoryview = _scratch(size, "payload").data
    payload[: len(header)] = header
    offset = len(header)
    for _, part in parts:
        payload[offset : offset + len(part)] = memoryview(part).cast("B")
        offset += len(part)
    return payload


def _plane_frames(codec: int, payload: memoryview) -> list[tuple[bool, memoryview]]:
    """``(compressed, bytes)`` per plane of a ``ZSTD_PLANES`` or ``PLANES`` payload."""
    planes = payload[0]
    if planes == 0:
        raise ValueError("zero byte planes")
    if codec == ZSTD_PLANES:
        lengths = struct.unpack_from(f"<{planes}Q", payload, 1)
        kinds: Sequence[int] = [_PLANE_ZSTD] * planes
        offset = 1 + 8 * planes
    else:
        entries = [
            _PLANE_ENTRY.unpack_from(payload, 1 + i * _PLANE_ENTRY.size) for i in range(planes)
        ]
        kinds = [kind for kind, _ in entries]
        lengths = tuple(length for _, length in entries)
        offset = 1 + _PLANE_ENTRY.size * planes
    frames = []
    for kind, length in zip(kinds, lengths, strict=True):
        if kind not in (_PLANE_RAW, _PLANE_ZSTD):
            raise ValueError(f"unknown byte plane kind {kind}")
        frame = payload[offset : offset + length]
        if len(frame) != length:
            raise ValueError("truncated byte planes")
        frames.append((kind == _PLANE_ZSTD, frame))
        offset += length
    if offset != len(payload):
        raise ValueError("bytes after the last byte plane")
    return frames


def _decode_planes(codec: int, payload: BytesLike) -> bytes:
    frames = _plane_frames(codec, memoryview(payload))
    decompressor = _decompressor()
    decoded = [
        decompressor.decompress(frame, allow_extra_data=False) if compressed else bytes(frame)
        for compressed, frame in frames
    ]
    if len({len(plane) for plane in decoded}) > 1:
        raise ValueError("byte planes of different lengths")
    planes = len(decoded)
    out = bytearray(sum(len(plane) for plane in decoded))
    numpy = _numpy()
    if numpy is None:
        for i, plane in enumerate(decoded):
            out[i::planes] = plane
    else:
        target = numpy.frombuffer(out, dtype=numpy.uint8).reshape(-1, planes)
        for i, plane in enumerate(decoded):
            target[:, i] = numpy.frombuffer(plane, dtype=numpy.uint8)
    return bytes(out)


def _decompress_into(payload: BytesLike, out: memoryview) -> None:
    reader = _decompressor().stream_reader(payload)
    filled = 0
    while filled < len(out):
        read = reader.readinto(out[filled:])
        if not read:
            break
        filled += read
    if filled != len(out) or reader.read(1):
        raise ValueError(f"decodes to a size other than {len(out)} bytes")


def _decode_planes_into(codec: int, payload: memoryview, out: memoryview) -> None:
    numpy = _numpy()
    if numpy is None:
        _copy_exact(_decode_planes(codec, payload), out)
        return
    frames = _plane_frames(codec, payload)
    planes = len(frames)
    if len(out) % planes:
        raise ValueError(f"{len(out)} bytes do not split into {planes} planes")
    target = numpy.frombuffer(out, dtype=numpy.uint8).reshape(-1, planes)
    plane = _scratch(len(out) // planes, "plane")
    for i, (compressed, frame) in enumerate(frames):
        if compressed:
            _decompress_into(frame, memoryview(plane))
            target[:, i] = plane
        else:
            if len(frame) != len(plane):
                raise ValueError(f"a byte plane of {len(frame)} bytes, expected {len(plane)}")
            target[:, i] = numpy.frombuffer(frame, dtype=numpy.uint8)


def _copy_exact(data: BytesLike, out: memoryview) -> None:
    if len(data) != len(out):
        raise ValueError(f"decodes to {len(data)} bytes, expected {len(out)}")
    out[:] = data


def decode_into(codec: int, payload: BytesLike, out: memoryview) -> None:
    """Decode straight into ``out``, which must be exactly the decoded size (no extra copies)."""
    view = memoryview(payload)
    try:
        if codec == RAW:
            _copy_exact(view, out)
        elif codec == ZSTD:
            _decompress_into(view, out)
        elif codec in (ZSTD_PLANES, PLANES):
            _decode_planes_into(codec, view, out)
        elif codec == DEFERRED:
            deferred_planes(view)
            _copy_exact(view[1:], out)
        else:
            raise CodecError(f"unknown codec {codec}")
    except (zstandard.ZstdError, struct.error, ValueError, IndexError) as exc:
        raise CodecError(str(exc)) from exc


def decode(codec: int, payload: bytes) -> bytes:
    try:
        if codec == RAW:
            return payload
        if codec == ZSTD:
            return _decompressor().decompress(payload, allow_extra_data=False)
        if codec in (ZSTD_PLANES, PLANES):
            return _decode_planes(codec, payload)
        if codec == DEFERRED:
            deferred_planes(payload)
            return payload[1:]
    except (zstandard.ZstdError, struct.error, ValueError, IndexError) as exc:
        raise CodecError(str(exc)) from exc
    raise CodecError(f"unknown codec {codec}")
