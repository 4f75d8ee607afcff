"""The ``modelsync`` command: one module per noun or verb, wired together here."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import (
    branch,
    checkout,
    compare,
    core,
    diff,
    history,
    maintenance,
    metrics,
    runs,
    runview,
    schema,
    serve,
    staging,
    tag,
    tensors,
)

app = typer.Typer(
    name="modelsync",
    help="Version control for machine-learning training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)



def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelsync {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Version control for machine-learning training: runs, checkpoints, params, metrics."""


core.register(app)
staging.register(app)
history.register(app)
runs.register(app)
metrics.register(app)
compare.register(app)
runview.register(app)
tensors.register(app)
diff.register(app)
checkout.register(app)
branch.register(app)
tag.register(app)
maintenance.register(app)
schema.register(app)
serve.register(app)


def main() -> None:
    app()
