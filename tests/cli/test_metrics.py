"""``modelsync metrics``: series as terminal charts, PNG, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from modelsync.cli.render.chart import Curve, render
from modelsync.repo.repository import Repo
from tests.support.inspect_runs import BASELINE_STEPS, SPIKE_STEP, build_runs

Cli = Callable[..., Result]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    repo = build_runs(tmp_path_factory.mktemp("metrics"))
    yield repo
    repo.close()


def metrics(cli: Cli, tracked: Repo, *args: str) -> Result:
    result = cli("metrics", "-C", str(tracked.work_tree), *args)
    assert result.exit_code == 0, result.output
    return result


def test_chart_overlays_runs_with_a_legend_and_axes(cli: Cli, tracked: Repo) -> None:
    out = metrics(cli, tracked, "baseline", "tuned", "--key", "val_acc").stdout
    lines = out.splitlines()
    assert lines[0] == "val_acc"
    assert lines[1].split()[0] == "0.99"
    assert any(line.split()[:1] == ["0"] and "┤" in line for line in lines)
    assert "● baseline  ● tuned" in out
    assert any(0x2800 < ord(ch) <= 0x28FF for ch in out)
    assert "\x1b[" not in out


def test_every_metric_gets_a_chart_by_default(cli: Cli, tracked: Repo) -> None:
    out = metrics(cli, tracked, "baseline").stdout
    titles = [line for line in out.splitlines() if line in ("loss", "val_acc")]
    assert titles == ["loss", "val_acc"]


def test_csv_has_every_point(cli: Cli, tracked: Repo) -> None:
    out = metrics(cli, tracked, "baseline", "tuned", "--key", "loss", "--csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == BASELINE_STEPS + 40
    spike = next(r for r in rows if r["run"] == "baseline" and r["step"] == str(SPIKE_STEP))
    assert float(spike["value"]) == 50.0
    assert float(spike["time"]) > 0


def test_json_is_downsampled_and_keeps_the_spike(cli: Cli, tracked: Repo) -> None:
    body = json.loads(
        metrics(cli, tracked, "baseline", "-k", "loss", "--json", "--points", "10").stdout
    )
    (series,) = body["series"]
    assert (series["count"], series["downsampled"]) == (BASELINE_STEPS, True)
    assert len(series["values"]) <= 10
    assert 50.0 in series["values"]
    full = json.loads(metrics(cli, tracked, "baseline", "-k", "loss", "--json", "--full").stdout)
    assert len(full["series"][0]["values"]) == BASELINE_STEPS


def test_png_is_written(cli: Cli, tracked: Repo, tmp_path: Path) -> None:
    target = tmp_path / "curves.png"
    out = metrics(cli, tracked, "baseline", "tuned", "--png", str(target)).stdout
    assert out.strip() == f"Wrote {target} (2 charts)"
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["baseline", "--key", "los"], "no metric 'los' in baseline; did you mean 'loss'?"),
        (["baselin"], "unknown run 'baselin'; did you mean 'baseline'?"),
        (["baseline", "--csv", "--json"], "choose one of --json, --csv and --png"),
    ],
)
def test_bad_input_is_one_line(cli: Cli, tracked: Repo, args: list[str], message: str) -> None:
    result = cli("metrics", "-C", str(tracked.work_tree), *args)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


def test_render_leaves_nan_as_a_gap_and_handles_a_flat_series() -> None:
    lines = render("flat", [Curve("a", [0, 1, 2], [1.0, float("nan"), 1.0])], width=10, height=3)
    text = ["".join(part for part, _ in line) for line in lines]
    assert text[0] == "flat"
    assert text[1].startswith("1.5 ┤") and text[3].startswith("0.5 ┤")
    assert text[-1].strip() == "● a"
    empty = render("none", [Curve("a", [0], [float("nan")])])
    assert ["".join(part for part, _ in line) for line in empty] == ["none", "(no finite values)"]
