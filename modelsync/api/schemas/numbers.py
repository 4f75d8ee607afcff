"""How numbers travel in the API's JSON.

JSON has no NaN or infinity: metric values travel as numbers, or as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (as in the CLI's ``--json``).
"""

from __future__ import annotations

from ...model.objects import json_safe

JSONNumber = float | str

__all__ = ["JSONNumber", "json_safe"]
