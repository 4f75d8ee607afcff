"""Object stores: content-addressed, write-once, verified on read."""

from .base import (
    Batch,
    Batching,
    CompressionReport,
    Maintenance,
    ObjectReader,
    ObjectStore,
    ObjectWriter,
)
from .disk import DiskStore
from .memory import MemoryStore
from .packbatch import PackBatch

__all__ = [
    "Batch",
    "Batching",
    "CompressionReport",
    "DiskStore",
    "Maintenance",
    "MemoryStore",
    "ObjectReader",
    "ObjectStore",
    "ObjectWriter",
    "PackBatch",
]
