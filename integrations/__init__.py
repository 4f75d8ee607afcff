"""Framework adapters, installed as ``modelsync.integrations``.

Each adapter imports its framework when the adapter module itself is imported, never when
``modelsync`` is, and uses only modelsync's public API.
"""
