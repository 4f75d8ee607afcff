"""The toolkit of framework adapters: what ``modelsync.integrations`` (and anyone writing an
adapter for another framework) builds on, beside the user-facing API of ``modelsync``.

An adapter only translates its framework's events into these calls; the logic (background
work, nesting, resume rules, checkpoint pointers) lives in the core. Imported on first use
(PEP 562), like ``modelsync`` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .util.lazy import lazy_attributes

if TYPE_CHECKING:
    from .checkpoints.pointer import CheckpointPointer
    from .model.layout import FILES_PREFIX
    from .runs.background import background
    from .runs.nesting import in_tracked_call, tracked_call
    from .runs.read import RepoLike, opened
    from .runs.resume import resume_or_fork, resume_or_start

__all__ = [
    "FILES_PREFIX",
    "CheckpointPointer",
    "RepoLike",
    "background",
    "in_tracked_call",
    "opened",
    "resume_or_fork",
    "resume_or_start",
    "tracked_call",
]

_EXPORTED_FROM = {
    "FILES_PREFIX": "model.layout",
    "CheckpointPointer": "checkpoints.pointer",
    "background": "runs.background",
    **dict.fromkeys(("in_tracked_call", "tracked_call"), "runs.nesting"),
    **dict.fromkeys(("RepoLike", "opened"), "runs.read"),
    **dict.fromkeys(("resume_or_fork", "resume_or_start"), "runs.resume"),
}


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTED_FROM, globals(), __all__)
