"""Object stores: content-addressed, write-once, verified on read."""

from .base import Batch, ObjectStore, ObjectWriter
from .disk import DiskStore, PackBatch
from .memory import MemoryStore

__all__ = ["Batch", "DiskStore", "MemoryStore", "ObjectStore", "ObjectWriter", "PackBatch"]
