"""Object stores: content-addressed, write-once, verified on read."""

from .base import Batch, CompressionReport, ObjectStore, ObjectWriter
from .disk import DiskStore, PackBatch
from .memory import MemoryStore

__all__ = [
    "Batch",
    "CompressionReport",
    "DiskStore",
    "MemoryStore",
    "ObjectStore",
    "ObjectWriter",
    "PackBatch",
]
