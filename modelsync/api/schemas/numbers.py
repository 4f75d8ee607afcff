"""How numbers travel in the API's JSON.

JSON has no NaN or infinity: metric values travel as numbers, or as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (as in the CLI's ``--json``).
"""

from __future__ import annotations

from typing import Any

from ...model.objects import json_safe_number

JSONNumber = float | str


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced as ``json_safe_number`` does."""
    if isinstance(value, float):
        return json_safe_number(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
