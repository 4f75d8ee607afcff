"""``modelsync runs``: the table of runs, its filters, and its machine-readable forms."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator

import pytest
from typer.testing import Result

from modelsync.repo.repository import Repo
from tests.support.inspect_runs import BASELINE_STEPS, build_runs

Cli = Callable[..., Result]
ANSI = "\x1b["


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    repo = build_runs(tmp_path_factory.mktemp("runs"))
    yield repo
    repo.close()


def runs(cli: Cli, tracked: Repo, *args: str) -> Result:
    result = cli("runs", "-C", str(tracked.work_tree), *args)
    assert result.exit_code == 0, result.output
    return result


def names(cli: Cli, tracked: Repo, *args: str) -> list[str]:
    return [run["name"] for run in json.loads(runs(cli, tracked, "--json", *args).stdout)["runs"]]


def test_table_lists_runs_newest_first_with_differing_params_and_metrics(
    cli: Cli, tracked: Repo
) -> None:
    out = runs(cli, tracked).stdout
    lines = out.splitlines()
    header = lines[0].split()
    assert header[:5] == ["name", "status", "started", "duration", "commits"]
    assert {"batch_size", "lr", "optimizer.name"} <= set(header)
    assert "loss last/min" in lines[0] and "val_acc last/max" in lines[0]
    assert [line.split()[0] for line in lines[1:4]] == ["broken", "tuned", "baseline"]
    baseline = lines[3].split()
    assert baseline[1] == "finished"
    assert "0.01 / 0.01" in lines[3]
    assert "failed" in lines[1]
    assert lines[-1] == "3 runs"


def test_piped_output_has_no_colour_codes(cli: Cli, tracked: Repo) -> None:
    assert ANSI not in runs(cli, tracked).output


def test_where_sort_and_limit(cli: Cli, tracked: Repo) -> None:
    assert names(cli, tracked, "--where", "metrics.loss < 0.02 and params.lr >= 1e-3") == [
        "tuned",
        "baseline",
    ]
    assert names(cli, tracked, "--sort", "-metrics.val_acc") == ["baseline", "tuned", "broken"]
    assert names(cli, tracked, "--sort", "name", "--limit", "2", "--offset", "1") == [
        "broken",
        "tuned",
    ]


def test_status_and_tag_filters(cli: Cli, tracked: Repo) -> None:
    assert names(cli, tracked, "--status", "failed") == ["broken"]
    assert names(cli, tracked, "--tag", "sweep", "--sort", "name") == ["broken", "tuned"]
    assert names(cli, tracked, "--tag", "sweep", "--tag", "nope") == []


def test_json_has_the_page_and_each_runs_latest_and_best(cli: Cli, tracked: Repo) -> None:
    page = json.loads(runs(cli, tracked, "--json", "--where", "name == 'baseline'").stdout)
    assert page["total"] == 1
    (run,) = page["runs"]
    assert run["status"] == "finished"
    assert run["commits"] == 4
    assert run["metrics"]["loss"] == pytest.approx(1 / BASELINE_STEPS)
    assert run["best"]["val_acc"] == pytest.approx(0.99)
    broken = json.loads(runs(cli, tracked, "--json", "--status", "failed").stdout)["runs"][0]
    assert broken["metrics"]["loss"] == "NaN"


def test_csv_parses_with_one_row_per_run(cli: Cli, tracked: Repo) -> None:
    rows = list(csv.DictReader(io.StringIO(runs(cli, tracked, "--csv", "--sort", "name").stdout)))
    assert [row["name"] for row in rows] == ["baseline", "broken", "tuned"]
    assert rows[0]["params.lr"] == "0.1"
    assert float(rows[0]["metrics.loss"]) == pytest.approx(1 / BASELINE_STEPS)
    assert float(rows[0]["metrics.val_acc.max"]) == pytest.approx(0.99)
    assert rows[2]["tags"] == "sweep"


def test_a_filter_that_matches_nothing_says_so(cli: Cli, tracked: Repo) -> None:
    assert runs(cli, tracked, "--where", "metrics.loss > 100").stdout == "No runs match.\n"
    assert runs(cli, tracked, "--offset", "5").stdout == "No runs at offset 5 (3 match).\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--where", "metrics.loss <"], "cannot parse 'metrics.loss <' at column"),
        (["--where", "metrics.los < 1"], "no run has metrics.los; did you mean metrics.loss?"),
        (["--sort", "-bogus"], "unknown field 'bogus'"),
        (["--metric", "acc"], "no run has metrics.acc"),
        (["--status", "done"], "unknown status 'done'"),
        (["--json", "--csv"], "choose one of --json and --csv"),
    ],
)
def test_bad_input_is_one_line(cli: Cli, tracked: Repo, args: list[str], message: str) -> None:
    result = cli("runs", "-C", str(tracked.work_tree), *args)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert message in result.stderr
    assert result.stdout == ""


def test_an_empty_repository_gets_a_hint(cli: Cli, repo: Repo) -> None:
    result = cli("runs")
    assert result.exit_code == 0
    assert "No runs yet" in result.stdout
    assert json.loads(cli("runs", "--json").stdout)["runs"] == []
    assert cli("runs", "--csv").stdout.startswith("name,status,")
    refused = cli("runs", "--where", "metrics.loss <")
    assert refused.exit_code == 1
    assert "cannot parse" in refused.stderr
