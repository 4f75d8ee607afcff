"""The app against its own OpenAPI schema, fuzzed by schemathesis: no 5xx, and every response
(status, content type, headers, body) matches what the schema documents.

Runs against a copy of the tracked repository (writes included: the token is sent), so every
endpoint reaches its real code; each operation gets valid and invalid (negative) input. Examples
per operation stay few, so the whole run is quick. (Driven through Hypothesis directly:
schemathesis' lazy pytest fixture loader does not run under pytest 9.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.config import SchemathesisConfig

from modelsync import Repo
from modelsync.api import Settings, create_app

from .conftest import AUTH, TOKEN

# Valid-looking input that names nothing (a revision that does not exist) is 404, a ref name or
# path that breaks git's rules is 400, a commit with nothing staged is 409: all documented.
ACCEPTED_FOR_VALID_DATA = ["2xx", "400", "401", "403", "404", "409"]

EXAMPLES = 10
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_FOR_VALID_DATA}}}
)


def _operations() -> list[str]:
    """``METHOD /path`` of every documented operation (the schema needs no repository)."""
    app = create_app(Path("unused"), Settings(token=TOKEN))
    return [
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    ]


@pytest.fixture(scope="module")
def api_schema(tracked: Repo, tmp_path_factory: pytest.TempPathFactory) -> BaseSchema:
    copy = tmp_path_factory.mktemp("schemathesis") / "repo"
    shutil.copytree(tracked.work_tree, copy)
    settings = Settings(token=TOKEN, allowed_hosts=("testserver",))
    return schemathesis.openapi.from_asgi(
        "/openapi.json", create_app(copy, settings), config=CONFIG
    )


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("label", _operations())
def test_the_api_conforms_to_its_schema(
    api_schema: BaseSchema, label: str, mode: GenerationMode
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Case) -> None:
        case.call_and_validate(headers=AUTH)

    check()
