"""The catalog's run tables: how run commits and live metric blocks are indexed, and queried.

Tables (all derived from run commits, so ``reindex`` rebuilds them):

    runs           one row per run: its ``run.json`` as of the newest commit seen, the head
                   commit, and the heartbeat (last sign of life of its writer)
    params         (run, dotted key) -> JSON value, from ``params.json``
    metric_chunks  (run, key, seq) -> the columns of one chunk of a metric segment
    metric_keys    (run, key) -> count, last step/value/time, min and max

The background writer inserts chunks as it flushes them; the commit that carries them in its
``metrics.seg`` inserts the same ``(run, key, seq)`` rows again, which are then ignored, so live
indexing and ``reindex`` give the same rows. A summary row counts a chunk once, when it is new.
NaN is stored as NULL (SQLite's choice): a NULL last value of a counted key is NaN.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..model.layout import PARAMS_FILE, RUN_FILE, SEGMENT_FILE
from ..model.objects import Commit

if TYPE_CHECKING:
    from ..model.metadata import MetricSummary
    from ..model.segment import MetricChunk

RUN_TABLES = [
    """CREATE TABLE IF NOT EXISTS runs (
        name TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        parent TEXT,
        start_time REAL NOT NULL,
        end_time REAL,
        head TEXT NOT NULL,
        updated REAL NOT NULL,
        heartbeat REAL NOT NULL,
        info TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS runs_parent ON runs(parent)",
    "CREATE INDEX IF NOT EXISTS runs_start ON runs(start_time)",
    """CREATE TABLE IF NOT EXISTS params (
        run TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run, key)
    )""",
    """CREATE TABLE IF NOT EXISTS metric_chunks (
        run TEXT NOT NULL,
        key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        count INTEGER NOT NULL,
        steps BLOB NOT NULL,
        vals BLOB NOT NULL,
        times BLOB NOT NULL,
        PRIMARY KEY (run, key, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS metric_keys (
        run TEXT NOT NULL,
        key TEXT NOT NULL,
        count INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        last_step INTEGER NOT NULL,
        last_value REAL,
        last_time REAL NOT NULL,
        min REAL,
        max REAL,
        PRIMARY KEY (run, key)
    )""",
]

_UPSERT_RUN = """
INSERT INTO runs (name, status, parent, start_time, end_time, head, updated, heartbeat, info)
VALUES (:name, :status, :parent, :start_time, :end_time, :head, :updated, :updated, :info)
ON CONFLICT(name) DO UPDATE SET
    status = excluded.status, parent = excluded.parent, start_time = excluded.start_time,
    end_time = excluded.end_time, head = excluded.head, updated = excluded.updated,
    heartbeat = max(runs.heartbeat, excluded.heartbeat), info = excluded.info
WHERE excluded.updated >= runs.updated
"""

_INSERT_CHUNK = """
INSERT OR IGNORE INTO metric_chunks (run, key, seq, count, steps, vals, times)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""

_UPSERT_SUMMARY = """
INSERT INTO metric_keys (run, key, count, last_seq, last_step, last_value, last_time, min, max)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(run, key) DO UPDATE SET
    count = count + excluded.count,
    last_seq = max(last_seq, excluded.last_seq),
    last_step = CASE WHEN excluded.last_seq >= last_seq
                     THEN excluded.last_step ELSE last_step END,
    last_value = CASE WHEN excluded.last_seq >= last_seq
                      THEN excluded.last_value ELSE last_value END,
    last_time = CASE WHEN excluded.last_seq >= last_seq
                     THEN excluded.last_time ELSE last_time END,
    min = CASE WHEN excluded.min IS NULL THEN min WHEN min IS NULL THEN excluded.min
               ELSE min(min, excluded.min) END,
    max = CASE WHEN excluded.max IS NULL THEN max WHEN max IS NULL THEN excluded.max
               ELSE max(max, excluded.max) END
"""


# ---------------------------------------------------------------------- indexing
def index_run_commit(
    conn: sqlite3.Connection, oid: str, commit: Commit, files: Mapping[str, bytes]
) -> None:
    """Index a run commit from its ``run.json``, ``params.json`` and ``metrics.seg``.

    Commits arrive in any order (``reindex`` walks refs): the run row and params follow the
    newest commit seen; metric chunks are keyed by position, so order does not matter.
    A commit whose files do not parse is left to ``fsck``; the index skips what it cannot read.
    """
    raw_info = files.get(RUN_FILE)
    if raw_info is None:
        return
    # The pydantic models load with the first run commit indexed, not with the catalog:
    # commands that only read runs list them without pydantic (``catalog.liveness``).
    from ..model.metadata import Params, RunInfo

    try:
        info = RunInfo.from_stored(raw_info)
    except ValueError:
        return
    conn.execute(
        _UPSERT_RUN,
        {
            "name": info.name,
            "status": info.status,
            "parent": info.parent,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "head": oid,
            "updated": commit.timestamp,
            "info": raw_info.decode("utf-8"),
        },
    )
    if PARAMS_FILE in files and _head_of(conn, info.name) == oid:
        try:
            params = Params.from_stored(files[PARAMS_FILE]).params
        except ValueError:
            params = None
        if params is not None:
            conn.execute("DELETE FROM params WHERE run = ?", (info.name,))
            write_params(conn, info.name, params)
    if SEGMENT_FILE in files:
        from ..model.segment import (  # not for commands that only read
            MalformedSegment,
            decode_segment,
        )

        try:
            segment = decode_segment(files[SEGMENT_FILE])
        except MalformedSegment:
            return
        index_chunks(conn, info.name, segment.chunks())


def _head_of(conn: sqlite3.Connection, run: str) -> str | None:
    row = conn.execute("SELECT head FROM runs WHERE name = ?", (run,)).fetchone()
    return None if row is None else str(row[0])


def write_params(conn: sqlite3.Connection, run: str, params: Mapping[str, Any]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO params (run, key, value) VALUES (?, ?, ?)",
        [(run, key, json.dumps(value, sort_keys=True)) for key, value in params.items()],
    )


def index_chunks(conn: sqlite3.Connection, run: str, chunks: Iterable[MetricChunk]) -> int:
    """Insert metric chunks not indexed yet and fold them into the summaries; returns how many."""
    added = 0
    for chunk in chunks:
        cursor = conn.execute(
            _INSERT_CHUNK,
            (run, chunk.key, chunk.seq, chunk.count, chunk.steps, chunk.values, chunk.times),
        )
        if cursor.rowcount != 1:
            continue
        added += 1
        _fold_summary(conn, run, chunk)
    return added


def _fold_summary(conn: sqlite3.Connection, run: str, chunk: MetricChunk) -> None:
    s = chunk.summary()
    conn.execute(
        _UPSERT_SUMMARY,
        (run, chunk.key, s.count, chunk.seq, s.last_step, s.last_value, s.last_time, s.min, s.max),
    )


def touch_heartbeat(conn: sqlite3.Connection, run: str, when: float) -> None:
    conn.execute("UPDATE runs SET heartbeat = max(heartbeat, ?) WHERE name = ?", (when, run))


def forget_points_from(conn: sqlite3.Connection, run: str, seq: int) -> None:
    """Drop chunks from ``seq`` on (indexed by a writer that died before committing them)."""
    from ..model.segment import MetricChunk

    stale = conn.execute(
        "SELECT 1 FROM metric_chunks WHERE run = ? AND seq >= ? LIMIT 1", (run, seq)
    ).fetchone()
    if stale is None:
        return
    conn.execute("DELETE FROM metric_chunks WHERE run = ? AND seq >= ?", (run, seq))
    conn.execute("DELETE FROM metric_keys WHERE run = ?", (run,))
    rows = conn.execute(
        "SELECT key, seq, steps, vals, times FROM metric_chunks WHERE run = ? ORDER BY seq", (run,)
    ).fetchall()
    for row in rows:
        _fold_summary(conn, run, MetricChunk(row[0], row[1], row[2], row[3], row[4]))


# ----------------------------------------------------------------------- queries
def run_rows(
    conn: sqlite3.Connection, *, names: Iterable[str] | None = None, parent: str | None = None
) -> list[sqlite3.Row]:
    sql = "SELECT name, head, heartbeat, info FROM runs"
    clauses: list[str] = []
    args: list[Any] = []
    if names is not None:
        wanted = list(names)
        clauses.append(f"name IN ({','.join('?' * len(wanted))})")
        args += wanted
    if parent is not None:
        clauses.append("parent = ?")
        args.append(parent)
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY start_time DESC, name"
    rows: list[sqlite3.Row] = conn.execute(sql, args).fetchall()
    return rows


def latest_values(conn: sqlite3.Connection, runs: Iterable[str]) -> dict[str, dict[str, float]]:
    wanted = list(runs)
    out: dict[str, dict[str, float]] = {name: {} for name in wanted}
    if not wanted:
        return out
    rows = conn.execute(
        f"SELECT run, key, last_value FROM metric_keys WHERE run IN ({','.join('?' * len(wanted))})"
        " ORDER BY run, key",
        wanted,
    ).fetchall()
    for run, key, value in rows:
        out[run][key] = math.nan if value is None else value
    return out


def metric_summaries(conn: sqlite3.Connection, run: str) -> dict[str, MetricSummary]:
    from ..model.metadata import MetricSummary

    rows = conn.execute(
        "SELECT key, count, last_step, last_value, last_time, min, max FROM metric_keys"
        " WHERE run = ? ORDER BY key",
        (run,),
    ).fetchall()
    return {
        row[0]: MetricSummary(
            key=row[0],
            count=row[1],
            last_step=row[2],
            last_value=math.nan if row[3] is None else row[3],
            last_time=row[4],
            min=row[5],
            max=row[6],
        )
        for row in rows
    }


def last_step_of(conn: sqlite3.Connection, run: str) -> int:
    """The largest step logged for ``run`` (-1 before any)."""
    row = conn.execute("SELECT max(last_step) FROM metric_keys WHERE run = ?", (run,)).fetchone()
    return -1 if row is None or row[0] is None else int(row[0])


def metric_chunks(conn: sqlite3.Connection, run: str, key: str) -> list[MetricChunk]:
    from ..model.segment import MetricChunk

    rows = conn.execute(
        "SELECT seq, steps, vals, times FROM metric_chunks WHERE run = ? AND key = ? ORDER BY seq",
        (run, key),
    ).fetchall()
    return [MetricChunk(key, row[0], row[1], row[2], row[3]) for row in rows]


def params_of(conn: sqlite3.Connection, run: str) -> dict[str, Any]:
    rows = conn.execute("SELECT key, value FROM params WHERE run = ? ORDER BY key", (run,))
    return {key: json.loads(value) for key, value in rows.fetchall()}


def run_commit_rows(conn: sqlite3.Connection, run: str) -> list[sqlite3.Row]:
    rows: list[sqlite3.Row] = conn.execute(
        "SELECT id, time, step, epoch, meta FROM commits WHERE run = ? ORDER BY time", (run,)
    ).fetchall()
    return rows
