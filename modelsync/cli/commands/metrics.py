"""``modelsync metrics``: metric series of runs as terminal charts, a PNG, CSV or JSON.

Series are read from the catalog's chunk columns and downsampled with min-max buckets
(``modelsync.runs.series``), so a million-point series draws as fast as a short one and its spikes
stay visible. ``--csv`` writes every point, never downsampled.
"""

from __future__ import annotations

import csv
import difflib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from ...errors import UsageError
from ...model.layout import run_name
from ...repo.repository import Repo
from ...runs.read import get_metric_summaries, get_run, metric_columns
from ..common import JsonOption, RepoOption, console, exit_with_error, print_json, repository
from ..render.chart import Curve, render
from ..render.tables import print_segments

if TYPE_CHECKING:
    from ...runs.series import Series

CHART_HEIGHT = 14
DEFAULT_POINTS = 2000


def metrics(
    run_names: Annotated[
        list[str], typer.Argument(help="Runs to plot (overlaid on each chart).", metavar="RUN...")
    ],
    key: Annotated[
        list[str] | None,
        typer.Option("--key", "-k", help="Metric to plot (repeat); default: every one logged."),
    ] = None,
    png: Annotated[
        Path | None,
        typer.Option("--png", help="Write the charts to a PNG file (matplotlib).", metavar="FILE"),
    ] = None,
    csv_output: Annotated[
        bool, typer.Option("--csv", help="Print every point as CSV: run,key,step,value,time.")
    ] = False,
    json_output: JsonOption = False,
    points: Annotated[
        int | None,
        typer.Option(
            "--points",
            min=10,
            help="Downsample each series to at most N points (default: the chart's width; "
            f"{DEFAULT_POINTS} for --png and --json).",
            show_default=False,
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="With --json or --png: every point, no downsampling.")
    ] = False,
    log_scale: Annotated[bool, typer.Option("--log", help="Logarithmic y axis.")] = False,
    repo_path: RepoOption = None,
) -> None:
    """Plot metric series in the terminal, several runs overlaid, one chart per metric.

    Example: modelsync metrics baseline tuned --key val_loss
    Example: modelsync metrics baseline --png curves.png
    Example: modelsync metrics baseline --key loss --csv > loss.csv
    """
    if sum((json_output, csv_output, png is not None)) > 1:
        exit_with_error("choose one of --json, --csv and --png")
    with repository(repo_path) as repo:
        names = [run_name(name) for name in run_names]
        keys = _keys(repo, names, key or [])
        if not keys:
            console.print(f"No metrics logged in {', '.join(names)}.")
            return
        if csv_output:
            _write_csv(repo, names, keys)
            return
        series = _load(repo, names, keys)
    if png is not None:
        _write_png(png, series, keys, None if full else points or DEFAULT_POINTS, log_scale)
        console.print(Text(f"Wrote {png} ({len(keys)} chart{'s' if len(keys) != 1 else ''})"))
    elif json_output:
        print_json(_series_json(series, None if full else points or DEFAULT_POINTS))
    else:
        _print_charts(series, keys, points, log_scale)


def _keys(repo: Repo, names: list[str], wanted: list[str]) -> list[str]:
    """The keys to plot; UsageError for a wanted key that none of the runs logged."""
    logged: set[str] = set()
    for name in names:
        get_run(repo, name)
        logged.update(get_metric_summaries(repo, name))
    for key in wanted:
        if key not in logged:
            close = difflib.get_close_matches(key, sorted(logged), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(k) for k in close)}?" if close else ""
            known = "" if close else f"; they logged {', '.join(sorted(logged)) or 'none'}"
            raise UsageError(f"no metric {key!r} in {', '.join(names)}{hint}{known}")
    return list(dict.fromkeys(wanted)) if wanted else sorted(logged)


def _load(repo: Repo, names: list[str], keys: list[str]) -> dict[tuple[str, str], Series]:
    try:
        from ...runs.series import Series
    except ImportError:
        raise UsageError(
            "modelsync metrics needs numpy for charts: pip install 'modelsync[plot]'"
        ) from None
    conn = repo.catalog.conn
    found = {}
    for key in keys:
        for name in names:
            series = Series.load(conn, name, key)
            if len(series):
                found[name, key] = series
    return found


def _write_csv(repo: Repo, names: list[str], keys: list[str]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["run", "key", "step", "value", "time"])
    for name in names:
        for key in keys:
            columns = metric_columns(repo, name, key)
            triples = zip(columns.steps, columns.values, columns.times, strict=True)
            writer.writerows((name, key, s, repr(value), repr(t)) for s, value, t in triples)


def _downsampled(series: Series, points: int | None) -> Series:
    from ...runs.series import minmax_downsample

    return series if points is None else minmax_downsample(series, points)


def _series_json(series: dict[tuple[str, str], Series], points: int | None) -> dict[str, Any]:
    from ...runs.series import json_values

    out = []
    for (name, key), full in series.items():
        shown = _downsampled(full, points)
        out.append(
            {
                "run": name,
                "key": key,
                "count": len(full),
                "downsampled": len(shown) < len(full),
                "steps": shown.steps.tolist(),
                "values": json_values(shown.values),
            }
        )
    return {"series": out}


def _print_charts(
    series: dict[tuple[str, str], Series], keys: list[str], points: int | None, log_scale: bool
) -> None:
    width = max(20, min(console.width, 160) - 14)
    for key in keys:
        curves = []
        for (name, series_key), full in series.items():
            if series_key != key:
                continue
            shown = _downsampled(full, points or width * 2)
            curves.append(Curve(name, shown.steps.tolist(), shown.values.tolist()))
        print_segments(render(key, curves, width=width, height=CHART_HEIGHT, log_scale=log_scale))
        print_segments([[]])


def _write_png(
    path: Path,
    series: dict[tuple[str, str], Series],
    keys: list[str],
    points: int | None,
    log_scale: bool,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(keys), 1, figsize=(9, 3.2 * len(keys)), squeeze=False)
    for axis, key in zip(axes[:, 0], keys, strict=True):
        for (name, series_key), full in series.items():
            if series_key == key:
                shown = _downsampled(full, points)
                axis.plot(shown.steps, shown.values, label=name, linewidth=1)
        axis.set_title(key)
        axis.set_xlabel("step")
        if log_scale:
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
        axis.legend(loc="best")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)


def register(app: typer.Typer) -> None:
    app.command()(metrics)
