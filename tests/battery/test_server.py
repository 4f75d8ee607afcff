"""The server's fuzzing reaches every endpoint: ``tests/api/test_schema.py`` runs schemathesis,
with the token, over every operation of the app's OpenAPI schema and fails on any 5xx; here,
every API route the app serves is in that schema (only the web UI's pages are left out), so no
route can escape the fuzzer by being left out of the schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute

from modelsync.api import Settings, create_app
from modelsync.api.routes import ui


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every ``APIRoute`` among ``routes``, through the routers they include."""
    for route in routes:
        included = getattr(getattr(route, "original_router", None), "routes", None)
        if included is not None:
            yield from api_routes(included)
        elif isinstance(route, APIRoute):
            yield route


def test_every_api_route_is_in_the_schema_the_fuzzer_covers() -> None:
    app = create_app(Path("unused"), Settings(token="battery-token-0123456789abcdef"))
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    served = {
        (method, route.path_format)
        for route in api_routes(app.routes)
        if route.endpoint.__module__ != ui.__name__
        for method in route.methods - {"HEAD"}
    }
    assert served, "no API route found"
    assert served - documented == set()
