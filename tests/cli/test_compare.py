"""``modelsync compare`` and ``diff`` of runs: params, metrics and packages side by side."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from typer.testing import Result

import modelsync
from modelsync.repo.repository import Repo
from tests.support.inspect_runs import build_runs, run_plain

Cli = Callable[..., Result]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    repo = build_runs(tmp_path_factory.mktemp("compare"))
    yield repo
    repo.close()


def run(cli: Cli, tracked: Repo, *args: str) -> Result:
    return run_plain(cli, tracked, *args)


def row(out: str, key: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line[2:].startswith(key + " "))


def test_compare_marks_what_differs(cli: Cli, tracked: Repo) -> None:
    out = run(cli, tracked, "compare", "baseline", "tuned", "broken").stdout
    assert out.splitlines()[0].split() == ["baseline", "tuned", "broken"]
    assert row(out, "lr") == ["*", "lr", "0.1", "0.01", "1"]
    assert row(out, "batch_size") == ["*", "batch_size", "32", "32", "64"]
    assert row(out, "loss") == ["*", "loss", "(min)", "0.01", "/", "0.01", "0.0125", "/", "0.0125",
                                "nan", "/", "-"]  # fmt: skip
    assert row(out, "numpy") == ["*", "numpy", "1.26.0", "2.0.0", "2.0.0"]
    assert "rich" not in out


def test_compare_shows_identical_params_unless_asked_for_differences(
    cli: Cli, tracked: Repo
) -> None:
    two = run(cli, tracked, "compare", "baseline", "broken").stdout
    assert row(two, "optimizer.name")[0] == "optimizer.name"
    only = run(cli, tracked, "compare", "baseline", "broken", "--diff").stdout
    assert "optimizer.name" not in only
    assert "lr" in only


def test_compare_json(cli: Cli, tracked: Repo) -> None:
    body = json.loads(run(cli, tracked, "compare", "baseline", "runs/tuned", "--json").stdout)
    assert [r["name"] for r in body["runs"]] == ["baseline", "tuned"]
    params = {p["key"]: p for p in body["params"]}
    assert params["lr"] == {"key": "lr", "values": [0.1, 0.01], "differs": True}
    metrics = {m["key"]: m for m in body["metrics"]}
    assert metrics["val_acc"]["best"] == [0.99, 0.89]
    assert body["packages"] == [{"name": "numpy", "versions": ["1.26.0", "2.0.0"]}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare", "baseline", "tuend"], "unknown run 'tuend'; did you mean 'tuned'?"),
        (["compare", "baseline"], "compare needs at least two runs"),
        (["diff", "baseline@bst", "tuned"], "did you mean 'baseline@best'"),
    ],
)
def test_bad_input_is_one_line(cli: Cli, tracked: Repo, args: list[str], message: str) -> None:
    result = cli(*args, "-C", str(tracked.work_tree))
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


def test_diff_of_two_runs_starts_with_params_metrics_and_packages(cli: Cli, tracked: Repo) -> None:
    lines = run(cli, tracked, "diff", "baseline", "tuned").stdout.splitlines()
    assert lines[:4] == [
        "Runs: baseline -> tuned",
        "Params (2 changed):",
        "    lr: 0.1 -> 0.01",
        "    optimizer.name: sgd -> adam",
    ]
    assert "    loss: 0.01 -> 0.0125 (+0.0025, +25.0%)" in lines
    assert "    numpy: 1.26.0 -> 2.0.0" in lines
    assert not any(line.startswith("diff a/params.json") for line in lines)


def test_diff_of_two_commits_of_a_run_reports_tensor_changes(cli: Cli, tracked: Repo) -> None:
    out = run(cli, tracked, "diff", "baseline@best", "baseline@last").stdout
    assert "Runs: baseline" in out
    assert "Params (0 changed):" in out
    assert "diff a/checkpoint b/checkpoint (modified)" in out
    assert "weight" in out and "0 of 2 tensors unchanged" not in out


def test_diff_json_of_runs_is_an_object_with_the_files(cli: Cli, tracked: Repo) -> None:
    body = json.loads(run(cli, tracked, "diff", "baseline", "tuned", "--json").stdout)
    assert (body["old_run"], body["new_run"]) == ("baseline", "tuned")
    assert {c["key"] for c in body["params"]} == {"lr", "optimizer.name"}
    loss = next(m for m in body["metrics"] if m["key"] == "loss")
    assert loss["improved"] is False
    assert {f["path"] for f in body["files"]} >= {"params.json", "run.json"}
    plain = json.loads(run(cli, tracked, "diff", "experiment~1", "experiment", "--json").stdout)
    assert isinstance(plain, list)


def test_a_param_stored_as_none_reads_differently_from_a_missing_one(
    cli: Cli, repo: Repo
) -> None:
    with modelsync.start_run("with-none", repo=repo, params={"lr": 0.1, "seed": None}):
        pass
    with modelsync.start_run("without", repo=repo, params={"lr": 0.1}):
        pass
    out = run_plain(cli, repo, "compare", "with-none", "without").stdout
    assert row(out, "seed") == ["*", "seed", "None", "-"]
    assert row(out, "lr") == ["lr", "0.1", "0.1"]
