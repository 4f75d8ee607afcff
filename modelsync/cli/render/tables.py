"""How the reading commands print: Rich tables and colour on a terminal; plain text otherwise.

Piped or redirected output gets no colour codes and tables as plain columns separated by two
spaces, never wrapped nor cut to a terminal's width, so ``grep``, ``awk`` and ``column`` read
them. Numbers are shown with four significant digits, JSON values as JSON.
"""

from __future__ import annotations

import json
import math
import operator
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text

from ..common import console

if TYPE_CHECKING:
    from ...catalog.liveness import RunRow
    from ...model.metadata import RunInfo

MISSING = "-"

Segment = tuple[str, str]
"""A piece of a line and its Rich style."""
Line = list[Segment]


@dataclass(frozen=True)
class Column:
    header: str
    justify: str = "left"
    style: str = ""


def print_table(columns: Sequence[Column], rows: Sequence[Sequence[str | Text]]) -> None:
    if console.is_terminal:
        _rich_table(columns, rows)
        return
    cells = [[column.header for column in columns]]
    cells += [[cell.plain if isinstance(cell, Text) else cell for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = []
    for row in cells:
        parts = [
            cell.rjust(width) if column.justify == "right" else cell.ljust(width)
            for cell, width, column in zip(row, widths, columns, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")


def _rich_table(columns: Sequence[Column], rows: Sequence[Sequence[str | Text]]) -> None:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column.header, justify=column.justify, style=column.style)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    console.print(table)


def print_segments(lines: Iterable[Line]) -> None:
    """Many lines: styled on a terminal; when piped, plain writes of a thousand lines each (10,000
    commits of ``log`` cost string joins, not 10,000 Rich renders, and the text of all of them
    is never held at once)."""
    if console.is_terminal:
        for line in lines:
            console.print(Text.assemble(*line))
        return
    first = operator.itemgetter(0)
    batch: list[str] = []
    for line in lines:
        batch.append("".join(map(first, line)) + "\n")
        if len(batch) == WRITE_BATCH:
            sys.stdout.write("".join(batch))
            batch.clear()
    sys.stdout.write("".join(batch))


WRITE_BATCH = 1000


def format_number(value: float | None) -> str:
    if type(value) is float:
        return f"{value:.4g}"  # nan and inf print as they are
    return MISSING if value is None else str(value)


def format_value(value: Any) -> str:
    """A param value: strings as they are, numbers short, anything else as JSON."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return format_number(value)
    return json.dumps(value, sort_keys=True)


def format_time(timestamp: float | None) -> str:
    if timestamp is None:
        return MISSING
    moment = datetime.fromtimestamp(timestamp, tz=UTC).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


def format_duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return MISSING
    total = max(0, round(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


STATUS_STYLES = {
    "running": "cyan",
    "finished": "green",
    "failed": "red",
    "crashed": "bold red",
    "interrupted": "yellow",
}


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def run_json(run: RunInfo | RunRow) -> dict[str, Any]:
    """The fields every read command shows of a run in ``--json``."""
    return {
        "name": run.name,
        "status": run.status,
        "parent": run.parent,
        "tags": list(run.tags),
        "start_time": run.start_time,
        "end_time": run.end_time,
        "duration": run.duration,
        "head": run.head,
    }

