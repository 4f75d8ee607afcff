"""SHA-256 object ids: the name of every stored object is the hash of its canonical bytes."""

from __future__ import annotations

import hashlib
import re

BytesLike = bytes | bytearray | memoryview

OID_HEX_LENGTH = 64
_OID_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_SHORT_PATTERN = re.compile(r"^[0-9a-f]{4,64}$")


def sha256_hex(data: BytesLike) -> str:
    """The object id of ``data``; hashlib releases the GIL for large buffers."""
    return hashlib.sha256(data).hexdigest()


def is_oid(text: str) -> bool:
    return bool(_OID_PATTERN.match(text))


def looks_like_short_oid(text: str) -> bool:
    return bool(_SHORT_PATTERN.match(text))
