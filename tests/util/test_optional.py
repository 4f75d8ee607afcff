"""Optional libraries are used only once fully imported."""

from __future__ import annotations

import json
import sys
import types
from importlib.machinery import ModuleSpec

import pytest

from modelsync.util.optional import loaded


def test_a_module_still_being_imported_counts_as_not_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    half = types.ModuleType("halfway")
    half.__spec__ = ModuleSpec("halfway", None)
    half.__spec__._initializing = True  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "halfway", half)
    assert loaded("halfway") is None
    half.__spec__._initializing = False  # type: ignore[attr-defined]
    assert loaded("halfway") is half


def test_absent_and_complete_modules() -> None:
    assert loaded("surely_not_a_module_name") is None
    assert loaded("json") is json
