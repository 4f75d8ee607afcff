"""``modelsync compare``: runs side by side, what differs marked (``runs.compare.compare_runs``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer
from rich.text import Text

from ...runs.compare import MetricRow, RunComparison, ValueRow, compare_runs
from ..common import JsonOption, RepoOption, exit_with_error, print_json, repository
from ..render.tables import (
    Column,
    format_duration,
    format_number,
    format_time,
    format_value,
    print_table,
    run_json,
    status_text,
)

DIFFERS = "*"


def compare(
    run_names: Annotated[list[str], typer.Argument(help="Two or more runs.", metavar="RUN RUN...")],
    only_differences: Annotated[
        bool, typer.Option("--diff", "-d", help="Only the params and metrics that differ.")
    ] = False,
    json_output: JsonOption = False,
    repo_path: RepoOption = None,
) -> None:
    """Compare runs side by side.

    Params, latest and best metrics (best: minimum of losses and errors, maximum otherwise)
    and the installed packages whose versions differ. Rows that differ are marked with *
    (and highlighted on a terminal).

    Example: modelsync compare baseline tuned --diff
    """
    if len(run_names) < 2:
        exit_with_error("compare needs at least two runs")
    with repository(repo_path) as repo:
        comparison = compare_runs(repo, run_names)
    if only_differences:
        comparison = replace(
            comparison,
            params=[row for row in comparison.params if row.differs],
            metrics=[row for row in comparison.metrics if row.differs],
        )
    if json_output:
        print_json(_comparison_json(comparison))
        return
    _print_comparison(comparison)


def _comparison_json(comparison: RunComparison) -> dict[str, Any]:
    return {
        "runs": [run_json(run) for run in comparison.runs],
        "params": [
            {"key": row.key, "values": row.values, "differs": row.differs}
            for row in comparison.params
        ],
        "metrics": [
            {
                "key": row.key,
                "goal": row.goal,
                "last": row.last,
                "best": row.best,
                "differs": row.differs,
            }
            for row in comparison.metrics
        ],
        "packages": [{"name": row.key, "versions": row.values} for row in comparison.packages],
    }


STORED_NONE = "None"


def _marked(key: str, differs: bool) -> Text:
    return Text(f"{DIFFERS if differs else ' '} {key}", style="bold yellow" if differs else "")


def _cells(values: list[str], differs: bool) -> list[str | Text]:
    return [Text(value, style="yellow" if differs else "") for value in values]


def _print_comparison(comparison: RunComparison) -> None:
    runs = comparison.runs
    columns = [Column(""), *(Column(run.name, justify="right", style="") for run in runs)]
    rows: list[list[str | Text]] = [
        [Text("  status"), *(status_text(run.status) for run in runs)],
        [Text("  started"), *(format_time(run.start_time) for run in runs)],
        [Text("  duration"), *(format_duration(run.duration) for run in runs)],
    ]
    rows.append(_heading(f"params ({_count(comparison.params)} differ)", len(runs)))
    rows += [_param_row(row) for row in comparison.params]
    rows.append(_heading(f"metrics: last / best ({_count(comparison.metrics)} differ)", len(runs)))
    rows += [_metric_row(row) for row in comparison.metrics]
    if comparison.packages:
        rows.append(_heading(f"packages ({len(comparison.packages)} differ)", len(runs)))
        rows += [
            [_marked(row.key, True), *_cells([v or "-" for v in row.values], True)]
            for row in comparison.packages
        ]
    print_table(columns, rows)


def _count(rows: list[ValueRow] | list[MetricRow]) -> int:
    return sum(1 for row in rows if row.differs)


def _heading(title: str, runs: int) -> list[str | Text]:
    return [Text(title, style="bold underline"), *([""] * runs)]


def _param_row(row: ValueRow) -> list[str | Text]:
    """A param across the runs: ``-`` where a run lacks it, ``None`` where it stored None, so a
    row marked as differing never reads the same in every column."""
    shown = [
        format_value(value) if value is not None or not present else STORED_NONE
        for value, present in zip(row.values, row.present, strict=True)
    ]
    return [_marked(row.key, row.differs), *_cells(shown, row.differs)]


def _metric_row(row: MetricRow) -> list[str | Text]:
    shown = [
        "-" if last is None else f"{format_number(last)} / {format_number(best)}"
        for last, best in zip(row.last, row.best, strict=True)
    ]
    return [_marked(f"{row.key} ({row.goal})", row.differs), *_cells(shown, row.differs)]


def register(app: typer.Typer) -> None:
    app.command()(compare)
