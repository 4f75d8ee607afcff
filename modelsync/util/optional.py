"""Optional libraries (numpy, pandas, scipy, torch) used only when the program loaded them.

``sys.modules`` also holds a module that another thread is still importing; using one half
initialised fails with "partially initialized module". ``loaded`` hides those until they are
complete, so duck-typed code treats them as not loaded yet.
"""

from __future__ import annotations

import sys
from types import ModuleType


def loaded(name: str) -> ModuleType | None:
    module = sys.modules.get(name)
    if module is None:
        return None
    spec = getattr(module, "__spec__", None)
    if spec is not None and getattr(spec, "_initializing", False):
        return None
    return module
