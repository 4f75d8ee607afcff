"""The runs table of ``modelsync runs`` and ``GET /runs``: filter, sort and page runs, in SQL.

Filters and sort keys are the ``--where/--sort`` language, parsed by ``modelsync.catalog.query`` and
compiled here to one SQLite query over the catalog, so a page out of 10,000 runs costs a few
indexed lookups per run and nothing is built in Python for the runs that are not shown. Fields
read as ``modelsync.catalog.query.evaluate`` reads them: a run column, the latest value of
``metrics.<key>``, or the JSON value of ``params.<key>``; a missing field compares false except
with ``== None``; numbers and strings never compare as ordered; a NaN metric reads as missing
(SQLite stores NaN as NULL). A run that says ``running`` while its writer is gone reads as
``crashed``, for filters as for display.

The page comes with what a table of it shows: the params whose values differ between its runs,
the key metrics (latest value, and best: the minimum of a metric whose name says lower is
better, such as ``val_loss``, the maximum otherwise) and each run's number of commits.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import UsageError
from .liveness import RunRow, effective_status
from .query import (
    BoolOp,
    Comparison,
    Expr,
    Field,
    Not,
    Scalar,
    fields_of,
    parse_sort,
    parse_where,
)
from .runs import latest_values, run_rows

Goal = Literal["min", "max"]
_LOWER_IS_BETTER = re.compile(
    r"(loss|err|error|mse|mae|rmse|nll|perplexity|ppl|wer|cer|latency|time|distance|regret)",
    re.IGNORECASE,
)

MAX_METRIC_COLUMNS = 8
DEFAULT_SORT = "-started"

_STATUS = (
    "(CASE WHEN r.status = 'running' AND r.name IN (SELECT value FROM json_each(:crashed))"
    " THEN 'crashed' ELSE r.status END)"
)
_RUN_COLUMNS = {
    "name": "r.name",
    "status": _STATUS,
    "parent": "r.parent",
    "started": "r.start_time",
    "ended": "r.end_time",
    "duration": "(r.end_time - r.start_time)",
    "commits": "(SELECT count(*) FROM commits c WHERE c.run = r.name)",
}
_ORDERED = {"<", "<=", ">", ">="}
_NEVER_NULL = {"name", "status", "started", "commits"}


@dataclass(frozen=True)
class MetricCell:
    """One run's metric in the table: its latest value and its best (None: never logged)."""

    last: float
    best: float | None


@dataclass(frozen=True)
class RunPage:
    total: int
    runs: list[RunRow]
    params: dict[str, dict[str, Any]]
    differing_params: list[str]
    metric_keys: list[str]
    commits: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, dict[str, MetricCell]] = field(default_factory=dict)


@dataclass
class _Sql:
    """The parts of the query being compiled: named parameters, and one LEFT JOIN per metric
    or param it reads (on the tables' (run, key) primary keys)."""

    params: dict[str, Any] = field(default_factory=dict)
    joins: dict[Field, tuple[str, str]] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def field(self, f: Field) -> str:
        if f.namespace == "run":
            return _RUN_COLUMNS[f.key]
        if f not in self.joins:
            alias = f"j{len(self.joins)}"
            table = "metric_keys" if f.namespace == "metrics" else "params"
            join = f" LEFT JOIN {table} {alias} ON {alias}.run = r.name"
            self.joins[f] = (alias, f"{join} AND {alias}.key = {self.bind(f.key)}")
        alias = self.joins[f][0]
        if f.namespace == "metrics":
            return f"{alias}.last_value"
        return f"json_extract({alias}.value, '$')"

    def where(self, expr: Expr) -> str:
        if isinstance(expr, BoolOp):
            joiner = " AND " if expr.op == "and" else " OR "
            return "(" + joiner.join(self.where(operand) for operand in expr.operands) + ")"
        if isinstance(expr, Not):
            return f"(NOT {self.where(expr.operand)})"
        return f"COALESCE({self.comparison(expr)}, 0)"

    def comparison(self, expr: Comparison) -> str:
        x, op, value = self.field(expr.field), expr.op, expr.value
        if isinstance(value, tuple):
            return self._membership(x, op, value)
        if _is_nan(value):
            return "1" if op == "!=" else "0"
        if op == "==":
            return f"({x} IS NULL)" if value is None else f"({x} IS {self.bind(value)})"
        if op == "!=":
            return f"({x} IS NOT NULL)" if value is None else f"({x} IS NOT {self.bind(value)})"
        if op not in _ORDERED or value is None:
            return "0"
        kinds = "'text'" if isinstance(value, str) else "'integer', 'real'"
        return f"(typeof({x}) IN ({kinds}) AND {x} {op} {self.bind(value)})"

    def _membership(self, x: str, op: str, values: tuple[Scalar, ...]) -> str:
        listed = [v for v in values if v is not None and not _is_nan(v)]
        members = f"{x} IN ({', '.join(self.bind(v) for v in listed)})" if listed else "0"
        found = (
            f"({x} IS NULL OR {members})" if None in values else f"({x} IS NOT NULL AND {members})"
        )
        return found if op == "in" else f"(NOT {found})"

    def order(self, sort: str) -> str:
        """Missing values last; an indexed column alone, so that a page reads only its rows."""
        key = parse_sort(sort)
        x = self.field(key.field)
        direction = "DESC" if key.descending else "ASC"
        if key.field.namespace == "run" and key.field.key in _NEVER_NULL:
            return f"{x} {direction}, r.name"
        return f"({x} IS NULL), {x} {direction}, r.name"

    def tagged(self, tag: str) -> str:
        return (
            f"EXISTS (SELECT 1 FROM json_each(r.info, '$.tags') t WHERE t.value = {self.bind(tag)})"
        )


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _crashed(conn: sqlite3.Connection) -> set[str]:
    """Runs that say ``running`` but whose writer shows no sign of life."""
    rows = conn.execute("SELECT name, head, heartbeat, info FROM runs WHERE status = 'running'")
    return {row["name"] for row in rows if effective_status(RunRow.from_row(row, {})) == "crashed"}


def page_of_runs(
    conn: sqlite3.Connection,
    *,
    where: str | None,
    sort: str = DEFAULT_SORT,
    status: str | None = None,
    tags: Sequence[str] = (),
    limit: int,
    offset: int = 0,
    metric_keys: Sequence[str] | None = None,
    max_metric_columns: int = MAX_METRIC_COLUMNS,
) -> RunPage:
    """One page of runs, filtered by ``where``, ``status`` and every one of ``tags``.

    ``metric_keys`` names the metric columns; by default, the ``max_metric_columns`` keys most
    runs of the page have.
    """
    crashed = _crashed(conn)
    sql = _Sql({"crashed": json.dumps(sorted(crashed))})
    clauses = [sql.where(parse_where(where))] if where else []
    if status:
        clauses.append(f"{_STATUS} = {sql.bind(status)}")
    clauses += [sql.tagged(tag) for tag in tags]
    order = sql.order(sort)
    tables = "runs r" + "".join(join for _, join in sql.joins.values())
    if clauses:
        # Every match is read to count them: one pass, then the page is a slice.
        condition = " WHERE " + " AND ".join(clauses)
        query = f"SELECT r.name FROM {tables}{condition} ORDER BY {order}"
        matches = [name for (name,) in conn.execute(query, sql.params)]
        total, names = len(matches), matches[offset : offset + limit]
    else:
        total = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        query = f"SELECT r.name FROM {tables} ORDER BY {order} LIMIT :limit OFFSET :offset"
        params = {**sql.params, "limit": limit, "offset": offset}
        names = [name for (name,) in conn.execute(query, params)]
    by_name = {row["name"]: row for row in run_rows(conn, names=names)}
    latest = latest_values(conn, names)
    runs = []
    for name in names:
        run = RunRow.from_row(by_name[name], latest[name])
        runs.append(dataclasses.replace(run, status="crashed") if name in crashed else run)
    params = _params_of(conn, names)
    if metric_keys is None:
        counts = Counter(key for run in runs for key in run.metrics)
        keys = sorted(key for key, _ in counts.most_common(max_metric_columns))
    else:
        keys = list(metric_keys)
    return RunPage(
        total,
        runs,
        params,
        _differing(params),
        keys,
        _commit_counts(conn, names),
        _metric_cells(conn, names, keys),
    )


def metric_goal(key: str) -> Goal:
    """Whether the best value of ``key`` is its minimum (losses, errors) or its maximum."""
    return "min" if _LOWER_IS_BETTER.search(key) else "max"


def check_fields(
    conn: sqlite3.Connection,
    *,
    where: str | None = None,
    sort: str | None = None,
    metric_keys: Sequence[str] = (),
) -> None:
    """UsageError naming a ``metrics.<key>`` or ``params.<key>`` that no run has (a typo, most
    likely), with the closest keys that exist."""
    wanted: list[Field] = []
    if where:
        wanted += sorted(fields_of(parse_where(where)), key=str)
    if sort:
        wanted.append(parse_sort(sort).field)
    wanted += [Field("metrics", key) for key in metric_keys]
    for f in wanted:
        if f.namespace == "run":
            continue
        table = "metric_keys" if f.namespace == "metrics" else "params"
        if conn.execute(f"SELECT 1 FROM {table} WHERE key = ? LIMIT 1", (f.key,)).fetchone():
            continue
        known = [row[0] for row in conn.execute(f"SELECT DISTINCT key FROM {table}")]
        close = difflib.get_close_matches(f.key, known, n=3, cutoff=0.6)
        hint = (
            f"; did you mean {', '.join(f'{f.namespace}.{key}' for key in close)}?" if close else ""
        )
        raise UsageError(f"no run has {f}{hint}")


def _differing(params: dict[str, dict[str, Any]]) -> list[str]:
    """Param keys whose value is not the same in every run (absent counts as a value)."""
    keys = sorted({key for values in params.values() for key in values})
    return [
        key
        for key in keys
        if len({json.dumps(v[key], sort_keys=True) if key in v else None for v in params.values()})
        > 1
    ]


def _in(names: Sequence[str]) -> str:
    return f"({','.join('?' * len(names))})"


def _params_of(conn: sqlite3.Connection, names: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {name: {} for name in names}
    if not names:
        return out
    rows = conn.execute(
        f"SELECT run, key, value FROM params WHERE run IN {_in(names)} ORDER BY key", names
    )
    for run, key, value in rows:
        out[run][key] = json.loads(value)
    return out


def _commit_counts(conn: sqlite3.Connection, names: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(names, 0)
    if names:
        rows = conn.execute(
            f"SELECT run, count(*) FROM commits WHERE run IN {_in(names)} GROUP BY run", names
        )
        counts.update({run: count for run, count in rows})
    return counts


def _metric_cells(
    conn: sqlite3.Connection, names: list[str], keys: list[str]
) -> dict[str, dict[str, MetricCell]]:
    out: dict[str, dict[str, MetricCell]] = {name: {} for name in names}
    if not names or not keys:
        return out
    rows = conn.execute(
        f"SELECT run, key, last_value, min, max FROM metric_keys"
        f" WHERE run IN {_in(names)} AND key IN {_in(keys)}",
        [*names, *keys],
    )
    for run, key, last, low, high in rows:
        best = low if metric_goal(key) == "min" else high
        out[run][key] = MetricCell(math.nan if last is None else last, best)
    return out
