"""A package's public names, imported on first use (PEP 562).

``import modelsync`` must not import what a command does not touch: a façade maps each public
name to the module defining it, and ``lazy_attributes`` gives it the module-level
``__getattr__`` and ``__dir__`` that import that module when the name is first read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from typing import Any


def lazy_attributes(
    module_name: str,
    exported_from: Mapping[str, str],
    namespace: dict[str, Any],
    public: Collection[str],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the module ``module_name``: a name in
    ``exported_from`` is read from its module (named relative to the top-level package,
    ``runs.run``) and kept in ``namespace``, so later reads are plain."""
    top = module_name.partition(".")[0]

    def __getattr__(name: str) -> Any:
        module = exported_from.get(name)
        if module is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{top}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})

    return __getattr__, __dir__
