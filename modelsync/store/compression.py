"""How one object's bytes are encoded on disk: raw, zstd, or zstd over byte planes.

Compressed forms are kept only when they save at least ``MIN_SAVING`` of the raw size. Float
tensors compress better when each byte position of the elements (sign/exponent bytes apart from
mantissa bytes) is compressed as its own plane.
"""

from __future__ import annotations

import functools
import struct
import threading
from types import ModuleType
from typing import Any

import zstandard

from ..hashing import BytesLike

RAW = 0
ZSTD = 1
ZSTD_PLANES = 2
CODECS = (RAW, ZSTD, ZSTD_PLANES)

MIN_SAVING = 0.03
ZSTD_LEVEL = 1
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


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = zstandard.ZstdDecompressor()
        _local.decompressor = decompressor
    return decompressor


def _worth_it(encoded_size: int, raw_size: int) -> bool:
    return encoded_size <= raw_size * (1.0 - MIN_SAVING)


def _looks_incompressible(data: BytesLike) -> bool:
    """Compress three small samples first: random-looking data (already compressed files,
    encrypted blobs) then skips the full zstd pass, which would cost more than the write."""
    size = len(data)
    if size < SAMPLE_THRESHOLD:
        return False
    view = memoryview(data)
    compressor = _compressor()
    sampled = 0
    compressed = 0
    for start in (0, size // 2, size - SAMPLE_SIZE):
        compressed += len(compressor.compress(view[start : start + SAMPLE_SIZE]))
        sampled += SAMPLE_SIZE
    return not _worth_it(compressed, sampled)


def encode(data: BytesLike, planes: int = 1) -> tuple[int, BytesLike]:
    """Return ``(codec, payload)``; ``planes`` is the element width to split floats by.

    A byte-plane payload may be a view of a per-thread buffer: write it out before this thread
    encodes anything else (it saves a fresh multi-megabyte allocation per chunk).
    """
    raw_size = len(data)
    if raw_size < 64 or _looks_incompressible(data):
        return RAW, data
    if planes > 1 and raw_size % planes == 0:
        payload = _encode_planes(data, planes)
        if _worth_it(len(payload), raw_size):
            return ZSTD_PLANES, payload
        return RAW, data
    compressed = _compressor().compress(data)
    if _worth_it(len(compressed), raw_size):
        return ZSTD, compressed
    return RAW, data


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


def _encode_planes(data: BytesLike, planes: int) -> BytesLike:
    compressor = _compressor()
    parts = [compressor.compress(plane) for plane in _split_planes(data, planes)]
    header = struct.pack(f"<B{planes}Q", planes, *(len(p) for p in parts))
    if _numpy() is None:
        return header + b"".join(parts)
    size = len(header) + sum(len(part) for part in parts)
    payload: memoryview = _scratch(size, "payload").data
    payload[: len(header)] = header
    offset = len(header)
    for part in parts:
        payload[offset : offset + len(part)] = part
        offset += len(part)
    return payload


def _planes_header(payload: BytesLike) -> tuple[int, tuple[int, ...], int]:
    planes = payload[0]
    if planes == 0:
        raise ValueError("zero byte planes")
    lengths = struct.unpack_from(f"<{planes}Q", payload, 1)
    return planes, lengths, 1 + 8 * planes


def _decode_planes(payload: bytes) -> bytes:
    planes, lengths, offset = _planes_header(payload)
    decompressor = _decompressor()
    decoded = []
    for length in lengths:
        frame = payload[offset : offset + length]
        decoded.append(decompressor.decompress(frame, allow_extra_data=False))
        offset += length
    if len({len(plane) for plane in decoded}) > 1:
        raise ValueError("byte planes of different lengths")
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


def _decode_planes_into(payload: memoryview, out: memoryview) -> None:
    planes, lengths, offset = _planes_header(payload)
    numpy = _numpy()
    if numpy is None:
        _copy_exact(_decode_planes(bytes(payload)), out)
        return
    if len(out) % planes:
        raise ValueError(f"{len(out)} bytes do not split into {planes} planes")
    target = numpy.frombuffer(out, dtype=numpy.uint8).reshape(-1, planes)
    plane = _scratch(len(out) // planes, "plane")
    for i, length in enumerate(lengths):
        _decompress_into(payload[offset : offset + length], memoryview(plane))
        target[:, i] = plane
        offset += length


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
            return
        if codec == ZSTD:
            _decompress_into(view, out)
            return
        if codec == ZSTD_PLANES:
            _decode_planes_into(view, out)
            return
    except (zstandard.ZstdError, struct.error, ValueError, IndexError) as exc:
        raise CodecError(str(exc)) from exc
    raise CodecError(f"unknown codec {codec}")


def decode(codec: int, payload: bytes) -> bytes:
    try:
        if codec == RAW:
            return payload
        if codec == ZSTD:
            return _decompressor().decompress(payload, allow_extra_data=False)
        if codec == ZSTD_PLANES:
            return _decode_planes(payload)
    except (zstandard.ZstdError, struct.error, ValueError, IndexError) as exc:
        raise CodecError(str(exc)) from exc
    raise CodecError(f"unknown codec {codec}")
