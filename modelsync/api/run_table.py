"""The runs table behind ``GET /runs``: filter, sort and page every run, fast with 10,000 of them.

Filters and sort keys are the ``modelsync runs --where/--sort`` language (``modelsync.query``).
Only what a request needs is read from the catalog: one row per run, plus the latest values of
the metrics and the params that its filter and sort name; full run records, params and metrics
are built for the page's runs alone.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..metadata import RunInfo
from ..query import Field, Scalar, evaluate, fields_of, parse_sort, parse_where
from ..runindex import latest_values, run_from_row
from ..runs import effective_status

MAX_METRIC_COLUMNS = 8
_ROWS = "SELECT name, status, parent, start_time, end_time, head, heartbeat, info FROM runs"


@dataclass
class _Candidate:
    row: sqlite3.Row
    status: str
    values: dict[Field, Scalar] = field(default_factory=dict)


@dataclass(frozen=True)
class RunPage:
    total: int
    runs: list[RunInfo]
    params: dict[str, dict[str, Any]]
    differing_params: list[str]
    metric_keys: list[str]


def _in_clause(values: Iterable[str]) -> tuple[str, list[str]]:
    wanted = list(values)
    return f"({','.join('?' * len(wanted))})", wanted


def _status(row: sqlite3.Row) -> str:
    """The status a reader sees: a ``running`` run that shows no sign of life is ``crashed``."""
    if row["status"] != "running":
        return str(row["status"])
    return effective_status(run_from_row(row, {}))


def _run_values(candidate: _Candidate) -> dict[Field, Scalar]:
    row = candidate.row
    end = row["end_time"]
    return {
        Field("run", "name"): row["name"],
        Field("run", "status"): candidate.status,
        Field("run", "parent"): row["parent"],
        Field("run", "started"): row["start_time"],
        Field("run", "ended"): end,
        Field("run", "duration"): None if end is None else end - row["start_time"],
    }


def _fill_fields(
    conn: sqlite3.Connection, candidates: dict[str, _Candidate], wanted: set[Field]
) -> None:
    """Put the value of every field in ``wanted`` into each candidate (absent: None)."""
    for candidate in candidates.values():
        candidate.values.update(_run_values(candidate))
    metric_keys = sorted(f.key for f in wanted if f.namespace == "metrics")
    if metric_keys:
        clause, args = _in_clause(metric_keys)
        rows = conn.execute(
            f"SELECT run, key, last_value FROM metric_keys WHERE key IN {clause}", args
        )
        for run, key, value in rows:
            if run in candidates:
                candidates[run].values[Field("metrics", key)] = math.nan if value is None else value
    param_keys = sorted(f.key for f in wanted if f.namespace == "params")
    if param_keys:
        clause, args = _in_clause(param_keys)
        for run, key, value in conn.execute(
            f"SELECT run, key, value FROM params WHERE key IN {clause}", args
        ):
            if run in candidates:
                decoded = json.loads(value)
                scalar = (
                    decoded
                    if isinstance(decoded, int | float | str | bool)
                    else json.dumps(decoded)
                )
                candidates[run].values[Field("params", key)] = scalar
    if Field("run", "commits") in wanted:
        for run, count in conn.execute("SELECT run, count(*) FROM commits GROUP BY run"):
            if run in candidates:
                candidates[run].values[Field("run", "commits")] = count


def _sort_key(value: Scalar) -> tuple[int, Any]:
    """Numbers before strings; None and NaN after everything, whichever the direction."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (2, 0)
    if isinstance(value, bool | int | float):
        return (0, float(value))
    return (1, str(value))


def _sorted(candidates: list[_Candidate], sort: str) -> list[_Candidate]:
    key = parse_sort(sort)
    present = [c for c in candidates if _sort_key(c.values.get(key.field))[0] < 2]
    missing = [c for c in candidates if _sort_key(c.values.get(key.field))[0] == 2]
    present.sort(key=lambda c: c.row["name"])
    present.sort(key=lambda c: _sort_key(c.values.get(key.field)), reverse=key.descending)
    return present + missing


def _differing(params: dict[str, dict[str, Any]]) -> list[str]:
    """Param keys whose value is not the same in every run (absent counts as a value)."""
    keys = sorted({key for values in params.values() for key in values})
    out = []
    for key in keys:
        seen = {
            json.dumps(values.get(key, "\0absent"), sort_keys=True) for values in params.values()
        }
        if len(seen) > 1:
            out.append(key)
    return out


def page_of_runs(
    conn: sqlite3.Connection,
    *,
    where: str | None,
    sort: str,
    status: str | None,
    limit: int,
    offset: int,
) -> RunPage:
    expr = parse_where(where) if where else None
    sort_field = parse_sort(sort).field
    wanted = {sort_field, *(fields_of(expr) if expr is not None else ())}
    candidates = {row["name"]: _Candidate(row, _status(row)) for row in conn.execute(_ROWS)}
    if status:
        candidates = {n: c for n, c in candidates.items() if c.status == status}
    _fill_fields(conn, candidates, wanted)
    matching = [c for c in candidates.values() if expr is None or evaluate(expr, c.values)]
    ordered = _sorted(matching, sort)
    page = ordered[offset : offset + limit]
    names = [c.row["name"] for c in page]
    latest = latest_values(conn, names)
    runs = [
        run_from_row(c.row, latest[c.row["name"]]).model_copy(update={"status": c.status})
        for c in page
    ]
    params = _params_of(conn, names)
    counts = Counter(key for run in runs for key in run.metrics)
    metric_keys = sorted(key for key, _ in counts.most_common(MAX_METRIC_COLUMNS))
    return RunPage(len(ordered), runs, params, _differing(params), metric_keys)


def _params_of(conn: sqlite3.Connection, names: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {name: {} for name in names}
    if not names:
        return out
    clause, args = _in_clause(names)
    for run, key, value in conn.execute(
        f"SELECT run, key, value FROM params WHERE run IN {clause} ORDER BY key", args
    ):
        out[run][key] = json.loads(value)
    return out
