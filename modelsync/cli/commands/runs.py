"""``modelsync runs``: the table of runs, filtered, sorted and paged in SQL (``catalog.table``)."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.text import Text

from ...catalog.query import parse_sort, parse_where
from ...catalog.table import DEFAULT_SORT, RunPage, check_fields, metric_goal, page_of_runs
from ..common import JsonOption, RepoOption, console, exit_with_error, print_json, repository
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

STATUSES = ("running", "finished", "failed", "interrupted", "crashed")
MAX_PARAM_COLUMNS = 8
MAX_METRIC_COLUMNS = 4
NO_RUNS_HINT = (
    "No runs yet. Track one with modelsync.start_run(), the @modelsync.track decorator, the "
    "Lightning ModelSyncCallback or the sklearn Tracked wrapper; it is listed here once it starts."
)


def runs(
    where: Annotated[
        str | None,
        typer.Option(
            "--where",
            "-w",
            help='Filter, e.g. "metrics.val_loss < 0.3 and params.lr >= 1e-3".',
            show_default=False,
        ),
    ] = None,
    sort: Annotated[
        str,
        typer.Option("--sort", "-s", help="Sort key; a leading - sorts descending."),
    ] = DEFAULT_SORT,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Runs per page.")] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Runs to skip.")] = 0,
    status: Annotated[
        str | None,
        typer.Option(help=f"Only runs with this status ({', '.join(STATUSES)}).", metavar="STATUS"),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", help="Only runs labelled TAG (repeat: all of them)."),
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric", "-m", help="Metric columns to show (repeat); default: the commonest."
        ),
    ] = None,
    json_output: JsonOption = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    repo_path: RepoOption = None,
) -> None:
    """List runs, filtered, sorted and a page at a time.

    Each row: status, start, duration, commits, the params that differ between the listed
    runs, and the latest and best value of key metrics (best: the minimum of losses and
    errors, the maximum of anything else). Piped output is plain text.

    Fields for --where and --sort: name, status, started, ended, duration, commits, parent,
    metrics.KEY (latest value), params.KEY (dotted keys; metrics["a/b"] for odd names).

    Example: modelsync runs --where "metrics.val_loss < 0.3 and params.lr >= 1e-3"
    Example: modelsync runs --sort -metrics.val_acc --limit 5 --csv
    """
    if json_output and csv_output:
        exit_with_error("choose one of --json and --csv")
    if status is not None and status not in STATUSES:
        exit_with_error(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    with repository(repo_path) as repo:
        if where:
            parse_where(where)
        parse_sort(sort)
        conn = repo.catalog.conn
        if conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is None:
            page = None
        else:
            check_fields(conn, where=where, sort=sort, metric_keys=metric or ())
            page = page_of_runs(
                conn,
                where=where,
                sort=sort,
                status=status,
                tags=tag or (),
                limit=limit,
                offset=offset,
                metric_keys=metric or None,
                max_metric_columns=MAX_METRIC_COLUMNS,
            )
    if json_output:
        print_json(_page_json(page, limit, offset))
    elif csv_output:
        _print_csv(page)
    elif page is None:
        console.print(NO_RUNS_HINT)
    elif not page.runs:
        console.print(
            f"No runs at offset {offset} ({page.total} match)." if page.total else "No runs match."
        )
    else:
        _print_page(page, offset)


def _page_json(page: RunPage | None, limit: int, offset: int) -> dict[str, Any]:
    if page is None:
        page = RunPage(total=0, runs=[], params={}, differing_params=[], metric_keys=[])
    return {
        "total": page.total,
        "offset": offset,
        "limit": limit,
        "runs": [
            {
                **run_json(run),
                "commits": page.commits.get(run.name, 0),
                "params": {
                    key: value
                    for key, value in page.params[run.name].items()
                    if key in page.differing_params
                },
                "metrics": dict(run.metrics),
                "best": {key: cell.best for key, cell in page.metrics.get(run.name, {}).items()},
            }
            for run in page.runs
        ],
        "differing_params": page.differing_params,
        "metric_keys": page.metric_keys,
    }


def _print_csv(page: RunPage | None) -> None:
    params = page.differing_params if page else []
    keys = page.metric_keys if page else []
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(
        [
            "name", "status", "parent", "tags", "started", "ended", "duration", "commits",
            *(f"params.{key}" for key in params),
            *(f"metrics.{key}" for key in keys),
            *(f"metrics.{key}.{metric_goal(key)}" for key in keys),
        ]
    )  # fmt: skip
    for run in page.runs if page else []:
        cells = page.metrics.get(run.name, {}) if page else {}
        values = page.params[run.name] if page else {}
        writer.writerow(
            [
                run.name,
                run.status,
                run.parent or "",
                ";".join(run.tags),
                _iso(run.start_time),
                _iso(run.end_time),
                "" if run.duration is None else f"{run.duration:.3f}",
                page.commits.get(run.name, 0) if page else 0,
                *(_csv_value(values.get(key)) for key in params),
                *(_csv_value(cells[key].last if key in cells else None) for key in keys),
                *(_csv_value(cells[key].best if key in cells else None) for key in keys),
            ]
        )


def _iso(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return format_value(value)


def _print_page(page: RunPage, offset: int) -> None:
    shown_params = page.differing_params[:MAX_PARAM_COLUMNS]
    columns = [
        Column("name", style="bold"),
        Column("status"),
        Column("started"),
        Column("duration", justify="right"),
        Column("commits", justify="right"),
        *(Column(key, justify="right") for key in shown_params),
        *(Column(f"{key} last/{metric_goal(key)}", justify="right") for key in page.metric_keys),
    ]
    rows: list[list[str | Text]] = []
    for run in page.runs:
        cells = page.metrics.get(run.name, {})
        values = page.params[run.name]
        row: list[str | Text] = [
            run.name,
            status_text(run.status),
            format_time(run.start_time),
            format_duration(run.duration),
            str(page.commits.get(run.name, 0)),
            *(format_value(values.get(key)) for key in shown_params),
        ]
        for key in page.metric_keys:
            cell = cells.get(key)
            row.append(
                "-" if cell is None else f"{format_number(cell.last)} / {format_number(cell.best)}"
            )
        rows.append(row)
    print_table(columns, rows)
    first, last = offset + 1, offset + len(page.runs)
    if page.total == len(page.runs):
        notes = [f"{page.total} run{'s' if page.total != 1 else ''}"]
    else:
        notes = [f"runs {first}-{last} of {page.total} (--limit, --offset for more)"]
    if len(page.differing_params) > len(shown_params):
        hidden = len(page.differing_params) - len(shown_params)
        notes.append(f"{hidden} more differing params in --json or --csv")
    console.print(Text("; ".join(notes), style="dim"))


def register(app: typer.Typer) -> None:
    app.command()(runs)
