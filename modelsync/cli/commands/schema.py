"""``modelsync schema``: the JSON schemas of what ModelSync stores and shows."""

from __future__ import annotations

from typing import Annotated

import typer

from ...model.metadata import SCHEMA_MODELS, json_schemas
from ..common import exit_with_error, print_json


def schema(
    model: Annotated[
        str | None,
        typer.Argument(help=f"One model ({', '.join(SCHEMA_MODELS)}); default: all of them."),
    ] = None,
) -> None:
    """Print the JSON schemas of runs, params, metrics, environments, datasets and models.

    The output carries the schema version that stored files are written with.

    Example: modelsync schema RunInfo
    """
    schemas = json_schemas()
    if model is None:
        print_json(schemas)
        return
    if model not in schemas["models"]:
        exit_with_error(f"unknown model {model!r}; choose from {', '.join(SCHEMA_MODELS)}")
    print_json({"schema_version": schemas["schema_version"], **schemas["models"][model]})


def register(app: typer.Typer) -> None:
    app.command()(schema)
