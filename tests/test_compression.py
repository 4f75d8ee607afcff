"""Codecs: each encoding decodes back to the exact bytes, and is chosen only when it pays."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelsync.store.compression import RAW, ZSTD, ZSTD_PLANES, CodecError, decode, encode


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
    assert codec == ZSTD_PLANES
    assert decode(codec, bytes(payload)) == floats


def test_random_bytes_are_stored_raw() -> None:
    data = random.Random(7).randbytes(4096)
    assert encode(data) == (RAW, data)


def test_tiny_objects_are_stored_raw() -> None:
    assert encode(b"a" * 10)[0] == RAW


@pytest.mark.parametrize(
    ("codec", "payload"), [(ZSTD, b"not zstd"), (ZSTD_PLANES, b"\x04"), (9, b"")]
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
