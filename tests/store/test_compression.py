"""Codecs: each encoding decodes back to the exact bytes, and is chosen only when it pays."""

from __future__ import annotations

import random
import struct

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from modelsync.store.compression import (
    DEFERRED,
    PLANES,
    RAW,
    SAMPLE_THRESHOLD,
    ZSTD,
    ZSTD_PLANES,
    CodecError,
    decode,
    decode_into,
    deferred_header,
    encode,
)

PLANE_ENTRY = struct.Struct("<BQ")


def trained_floats(count: int, seed: int = 0) -> bytes:
    """float32 weights as training leaves them: small values around zero."""
    rng = random.Random(seed)
    return struct.pack(f"<{count}f", *(rng.gauss(0.0, 0.02) for _ in range(count)))


def plane_kinds(payload: bytes) -> list[int]:
    """Per plane of a PLANES payload: 0 stored as it is, 1 a zstd frame (docs/internals.md)."""
    entries = range(1, 1 + payload[0] * PLANE_ENTRY.size, PLANE_ENTRY.size)
    return [PLANE_ENTRY.unpack_from(payload, offset)[0] for offset in entries]


@given(data=st.binary(max_size=2048), planes=st.sampled_from([1, 2, 4, 8]))
def test_encode_then_decode_gives_back_the_bytes(data: bytes, planes: int) -> None:
    codec, payload = encode(data, planes)
    assert decode(codec, bytes(payload)) == data


def test_repetitive_bytes_are_compressed() -> None:
    codec, payload = encode(b"abcd" * 1000)
    assert codec == ZSTD
    assert len(payload) < 4000


def test_floats_use_byte_planes_when_asked() -> None:
    floats = struct.pack("<1024f", *(1.0 + i / 1024 for i in range(1024)))
    codec, payload = encode(floats, planes=4)
    assert codec == PLANES
    assert decode(codec, bytes(payload)) == floats


@pytest.mark.parametrize("count", [4096, SAMPLE_THRESHOLD // 4], ids=["small", "sampled"])
def test_noise_planes_of_floats_are_stored_raw_and_the_exponent_plane_compressed(
    count: int,
) -> None:
    floats = trained_floats(count)
    codec, payload = encode(floats, planes=4)
    assert codec == PLANES
    stored = bytes(payload)
    # Little-endian float32: bytes 0 and 1 are low mantissa (noise), byte 3 sign and exponent.
    kinds = plane_kinds(stored)
    assert kinds[0] == kinds[1] == 0
    assert kinds[3] == 1
    assert decode(codec, stored) == floats
    out = bytearray(len(floats))
    decode_into(codec, stored, memoryview(out))
    assert out == floats


def test_floats_whose_every_plane_is_noise_are_stored_raw() -> None:
    data = random.Random(3).randbytes(SAMPLE_THRESHOLD)
    assert encode(data, planes=4) == (RAW, data)


def test_payloads_of_the_earlier_all_zstd_plane_codec_still_decode() -> None:
    floats = trained_floats(4096)
    planes = [floats[i::4] for i in range(4)]
    frames = [zstandard.ZstdCompressor(level=1).compress(plane) for plane in planes]
    legacy = struct.pack("<B4Q", 4, *(len(f) for f in frames)) + b"".join(frames)
    assert decode(ZSTD_PLANES, legacy) == floats
    out = bytearray(len(floats))
    decode_into(ZSTD_PLANES, legacy, memoryview(out))
    assert out == floats


def test_a_deferred_record_decodes_to_its_bytes_as_they_are() -> None:
    data = trained_floats(1024)
    header = deferred_header(4)
    assert header[0] == DEFERRED
    payload = header[1:] + data
    assert decode(DEFERRED, payload) == data
    out = bytearray(len(data))
    decode_into(DEFERRED, payload, memoryview(out))
    assert out == data


def test_random_bytes_are_stored_raw() -> None:
    data = random.Random(7).randbytes(4096)
    assert encode(data) == (RAW, data)


def test_tiny_objects_are_stored_raw() -> None:
    assert encode(b"a" * 10)[0] == RAW


@pytest.mark.parametrize(
    ("codec", "payload"),
    [
        (ZSTD, b"not zstd"),
        (ZSTD_PLANES, b"\x04"),
        (PLANES, b"\x01" + PLANE_ENTRY.pack(0, 8) + b"short"),
        (PLANES, b"\x01" + PLANE_ENTRY.pack(7, 4) + b"four"),
        (PLANES, b"\x01" + PLANE_ENTRY.pack(0, 4) + b"four and more"),
        (DEFERRED, b""),
        (DEFERRED, b"\x00data"),
        (9, b""),
    ],
)
def test_undecodable_payloads_raise_codec_error(codec: int, payload: bytes) -> None:
    with pytest.raises(CodecError):
        decode(codec, payload)


def test_bytes_appended_after_a_zstd_frame_make_the_record_undecodable() -> None:
    data = b"weights " * 4096
    codec, payload = encode(data)
    assert codec == ZSTD
    with pytest.raises(CodecError):
        decode(codec, bytes(payload) + b"garbage")
