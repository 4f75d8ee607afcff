"""Line charts in the terminal, drawn with Braille dots (2 x 4 per character cell).

Several series share one chart, each in its own colour on a terminal; the y axis is labelled
with its range, the x axis with the first and last step. Series arrive already downsampled
(``series.minmax_downsample``), so drawing costs a few thousand points whatever the run logged.
NaN and infinite values leave gaps.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .tables import Line, format_number

COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "red")
_BRAILLE = 0x2800
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""Bit of the dot at (row within the cell, column within the cell)."""


@dataclass(frozen=True)
class Curve:
    label: str
    steps: Sequence[float]
    values: Sequence[float]


def render(
    title: str,
    curves: Sequence[Curve],
    *,
    width: int = 72,
    height: int = 14,
    log_scale: bool = False,
) -> list[Line]:
    """The chart as styled lines: title, plot with y labels, x axis, legend."""
    points = [(curve, _finite(curve, log_scale)) for curve in curves]
    xs = [x for _, found in points for x, _ in found]
    ys = [y for _, found in points for _, y in found]
    out: list[Line] = [[(title + (" (log scale)" if log_scale else ""), "bold")]]
    if not xs:
        out.append([("(no finite values)", "dim")])
        return out
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = min(ys), max(ys)
    if y_high == y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    cols, rows = width * 2, height * 4
    cells = [[0] * width for _ in range(height)]
    owner: list[list[int | None]] = [[None] * width for _ in range(height)]
    for index, (_, found) in enumerate(points):
        pixels = [
            (
                round((x - x_low) / (x_high - x_low) * (cols - 1)),
                round((y_high - y) / (y_high - y_low) * (rows - 1)),
            )
            for x, y in found
        ]
        for (x0, y0), (x1, y1) in itertools.pairwise(pixels):
            for px, py in _segment(x0, y0, x1, y1):
                _dot(cells, owner, px, py, index)
        if len(pixels) == 1:
            _dot(cells, owner, *pixels[0], index)
    top, bottom = _label(y_high, log_scale), _label(y_low, log_scale)
    margin = max(len(top), len(bottom))
    for row in range(height):
        label = top if row == 0 else bottom if row == height - 1 else ""
        line: Line = [(f"{label:>{margin}} {'┤' if label else '│'}", "")]
        for col in range(width):
            bits = cells[row][col]
            who = owner[row][col]
            style = COLOURS[who % len(COLOURS)] if who is not None else ""
            line.append((chr(_BRAILLE + bits) if bits else " ", style))
        while line[-1] == (" ", ""):
            line.pop()
        out.append(line)
    out.append([(" " * margin + " └" + "─" * width, "")])
    first, last = format_number(x_low), format_number(x_high)
    out.append([(" " * (margin + 2) + first + last.rjust(width - len(first)), "")])
    legend: Line = [(" " * (margin + 2), "")]
    for index, curve in enumerate(curves):
        legend.append(("● " if index == 0 else "  ● ", COLOURS[index % len(COLOURS)]))
        legend.append((curve.label, ""))
    out.append(legend)
    return out


def _finite(curve: Curve, log_scale: bool) -> list[tuple[float, float]]:
    found = []
    for x, y in zip(curve.steps, curve.values, strict=True):
        if not math.isfinite(y) or (log_scale and y <= 0):
            continue
        found.append((float(x), math.log10(y) if log_scale else float(y)))
    return found


def _label(value: float, log_scale: bool) -> str:
    return format_number(10**value if log_scale else value)


def _segment(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """The pixels of a straight segment (Bresenham)."""
    pixels = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    error = dx + dy
    while True:
        pixels.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return pixels
        double = 2 * error
        if double >= dy:
            error += dy
            x0 += sx
        if double <= dx:
            error += dx
            y0 += sy


def _dot(cells: list[list[int]], owner: list[list[int | None]], x: int, y: int, who: int) -> None:
    row, col = y // 4, x // 2
    cells[row][col] |= _DOTS[y % 4][x % 2]
    owner[row][col] = who
