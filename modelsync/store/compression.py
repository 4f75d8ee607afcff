"""How one object's bytes are encoded on disk: raw, zstd, or zstd over byte planes.

Compressed forms are kept only when they save at least ``MIN_SAVING`` of the raw size. Float
tensors compress better when each byte position of the elements (sign/exponent bytes apart from
mantissa bytes) is compressed as its own plane.
"""

from __future__ import annotations

import struct
import threading

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
    """Return ``(codec, payload)``; ``planes`` is the element width to split floats by."""
    raw_size = len(data)
    if raw_size < 64 or _looks_incompressible(data):
        return RAW, data
    if planes > 1 and raw_size % planes == 0:
        payload = _encode_planes(bytes(data) if isinstance(data, memoryview) else data, planes)
        if _worth_it(len(payload), raw_size):
            return ZSTD_PLANES, payload
        return RAW, data
    compressed = _compressor().compress(data)
    if _worth_it(len(compressed), raw_size):
        return ZSTD, compressed
    return RAW, data


def _encode_planes(data: bytes | bytearray, planes: int) -> bytes:
    compressor = _compressor()
    parts = [compressor.compress(data[i::planes]) for i in range(planes)]
    header = struct.pack(f"<B{planes}Q", planes, *(len(p) for p in parts))
    return header + b"".join(parts)


def _decode_planes(payload: bytes) -> bytes:
    planes = payload[0]
    lengths = struct.unpack_from(f"<{planes}Q", payload, 1)
    offset = 1 + 8 * planes
    decompressor = _decompressor()
    decoded = []
    for length in lengths:
        decoded.append(decompressor.decompress(payload[offset : offset + length]))
        offset += length
    out = bytearray(sum(len(p) for p in decoded))
    for i, plane in enumerate(decoded):
        out[i::planes] = plane
    return bytes(out)


def decode(codec: int, payload: bytes) -> bytes:
    try:
        if codec == RAW:
            return payload
        if codec == ZSTD:
            return _decompressor().decompress(payload)
        if codec == ZSTD_PLANES:
            return _decode_planes(payload)
    except (zstandard.ZstdError, struct.error, ValueError, IndexError) as exc:
        raise CodecError(str(exc)) from exc
    raise CodecError(f"unknown codec {codec}")
