"""The stored and shown models: versioned, NaN-safe, and printed by ``modelsync schema``."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from modelsync.cli.main import app
from modelsync.model.metadata import (
    SCHEMA_MODELS,
    SCHEMA_VERSION,
    MetricPoint,
    Params,
    RunInfo,
    json_schemas,
)


def test_run_json_holds_what_the_run_is_not_what_the_catalog_adds() -> None:
    info = RunInfo(
        name="r", start_time=10.0, end_time=12.5, head="ab" * 32, heartbeat=11.0, metrics={"x": 1.0}
    )
    stored = json.loads(info.to_stored())
    assert stored["schema_version"] == SCHEMA_VERSION
    assert not {"head", "heartbeat", "metrics", "duration"} & set(stored)
    assert RunInfo.from_stored(info.to_stored()).end_time == 12.5
    assert info.duration == 2.5
    assert json.loads(info.model_dump_json())["duration"] == 2.5


def test_stored_json_is_canonical() -> None:
    a = Params(params={"b": 1, "a": 2}).to_stored()
    b = Params(params={"a": 2, "b": 1}).to_stored()
    assert a == b and a.startswith(b'{"params":{"a":2')


def test_nan_and_infinities_round_trip_in_storage_and_show_as_strings() -> None:
    info = RunInfo(name="r", start_time=0.0, metrics={"nan": math.nan, "inf": math.inf})
    shown = json.loads(info.model_dump_json())
    assert shown["metrics"] == {"nan": "NaN", "inf": "Infinity"}
    params = Params.from_stored(Params(params={"eps": math.nan, "top": -math.inf}).to_stored())
    assert math.isnan(params.params["eps"]) and params.params["top"] == -math.inf
    point = MetricPoint.model_validate_json('{"key":"k","step":1,"value":"NaN","time":2}')
    assert math.isnan(point.value)


def test_unreadable_stored_files_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a valid RunInfo"):
        RunInfo.from_stored(b'{"name": 3}')
    with pytest.raises(ValueError, match="not a valid Params"):
        Params.from_stored(b"\xff")


def test_every_model_has_a_json_schema_under_one_version() -> None:
    schemas = json_schemas()
    assert schemas["schema_version"] == SCHEMA_VERSION
    assert set(schemas["models"]) == set(SCHEMA_MODELS)
    assert {"RunInfo", "Params", "MetricPoint", "Environment", "DatasetInfo", "ModelInfo"} <= set(
        SCHEMA_MODELS
    )
    run_schema = schemas["models"]["RunInfo"]
    assert run_schema["properties"]["status"]["enum"] == [
        "running",
        "finished",
        "failed",
        "interrupted",
        "crashed",
    ]


def test_modelsync_schema_prints_every_schema_as_json() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == json.loads(json.dumps(json_schemas()))


def test_modelsync_schema_prints_one_model_and_refuses_unknown_ones() -> None:
    one = CliRunner().invoke(app, ["schema", "DatasetInfo"])
    assert one.exit_code == 0
    assert json.loads(one.stdout)["title"] == "DatasetInfo"
    assert json.loads(one.stdout)["schema_version"] == SCHEMA_VERSION
    unknown = CliRunner().invoke(app, ["schema", "Nope"])
    assert unknown.exit_code == 1
    assert "unknown model 'Nope'" in unknown.stderr and "Traceback" not in unknown.output


def test_import_modelsync_loads_no_ml_library() -> None:
    probe = (
        "import sys, modelsync\n"
        "assert callable(modelsync.checkpoint) and callable(modelsync.track)\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'scipy', 'torch', 'sklearn', 'lightning',"
        " 'pytorch_lightning') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
