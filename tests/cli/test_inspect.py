"""``log`` and ``show`` of runs, revisions such as ``foo@last``, and ``tag REV NAME``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from modelsync.cli.render.log import Graph
from modelsync.repo.repository import Repo
from modelsync.runs.start import start_run
from tests.support.inspect_runs import build_runs, run_plain

Cli = Callable[..., Result]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    repo = build_runs(tmp_path_factory.mktemp("log"))
    yield repo
    repo.close()


def run(cli: Cli, tracked: Repo, *args: str) -> Result:
    return run_plain(cli, tracked, *args)


def test_log_of_a_run_shows_step_epoch_and_metrics(cli: Cli, tracked: Repo) -> None:
    out = run(cli, tracked, "log", "baseline", "-n", "2").stdout
    head, last_checkpoint = tracked.resolve("baseline"), tracked.resolve("baseline~1")
    assert f"commit {head} (runs/baseline)" in out
    assert f"commit {last_checkpoint}" in out
    assert "Run:    baseline (step 100, epoch 1)" in out
    assert "Run:    baseline (step 99)" in out
    assert "Metrics: loss=0.01 val_acc=0.99" in out
    assert "    finished run baseline" in out


def test_log_oneline_labels_run_tags(cli: Cli, tracked: Repo) -> None:
    lines = run(cli, tracked, "log", "baseline", "--oneline").stdout.splitlines()
    assert len(lines) == 4
    best = tracked.resolve("baseline@best")[:12]
    assert lines[2].startswith(f"{best} (tag: runs/baseline@best) [step 50, epoch 0] ")
    assert lines[2].endswith("loss=0.01961 val_acc=0.5")
    assert lines[3].endswith("start run baseline")


def test_log_json_carries_the_commit_metadata(cli: Cli, tracked: Repo) -> None:
    entries = json.loads(run(cli, tracked, "log", "tuned", "--json").stdout)
    assert [e["meta"]["kind"] for e in entries] == ["status", "start"]
    assert entries[0]["refs"] == ["runs/tuned"]
    assert entries[0]["meta"]["metrics"]["loss"] == pytest.approx(0.5 / 40)


def test_log_graph_draws_the_fork(cli: Cli, tracked: Repo) -> None:
    out = run(cli, tracked, "log", "--all", "--graph", "--oneline").stdout
    lines = out.splitlines()
    experiment = next(i for i, line in enumerate(lines) if "(experiment)" in line)
    assert lines[experiment].startswith("* ")
    fork = tracked.resolve("baseline~1")[:12]
    at_fork = next(i for i, line in enumerate(lines) if fork in line)
    assert "|/" in lines[at_fork - 1]
    assert lines[at_fork].startswith("* ")
    assert sum(1 for line in lines if "*" in line) == 4 + 2 + 2 + 1


def test_graph_lanes_fold_open_and_close() -> None:
    graph = Graph()
    assert graph.commit("c2", ["c1"]) == ([], "*", [])
    assert graph.commit("b1", ["c1"]) == ([], "| *", [])
    assert graph.commit("c1", ["c0", "m"]) == (["|/"], "*", ["|\\"])
    assert graph.continuation() == "| |"
    assert graph.commit("m", []) == ([], "| *", [])
    assert graph.commit("c0", []) == ([], "*", [])
    assert graph.lanes == []


def test_revisions_run_at_last_and_ancestors(cli: Cli, tracked: Repo) -> None:
    head = tracked.resolve("runs/baseline")
    assert tracked.resolve("baseline@last") == head
    assert tracked.resolve("baseline@last~1") == tracked.read_commit(head).parents[0]
    shown = json.loads(run(cli, tracked, "show", "baseline@last~2", "--json").stdout)
    assert shown["id"] == tracked.resolve("baseline@best")
    assert shown["run"]["step"] == 50


def test_show_of_a_run_has_params_metrics_environment_and_tensors(cli: Cli, tracked: Repo) -> None:
    out = run(cli, tracked, "show", "baseline").stdout
    assert "Run:\n    name: baseline\n    status: finished\n    step: 99\n" in out
    assert "Params (3):\n    batch_size      32\n    lr              0.1\n" in out
    assert "    loss     0.01  (min 0.01, max 50, 100 points)" in out
    assert "Environment:\n    python: " in out
    assert "Checkpoint (2 tensors" in out
    body = json.loads(run(cli, tracked, "show", "baseline@best", "--json").stdout)
    assert body["params"] == {"batch_size": 32, "lr": 0.1, "optimizer.name": "sgd"}
    assert body["metrics"]["loss"] == {"value": pytest.approx(1 / 51)}
    assert body["environment"]["captured"]
    assert (body["run"]["status"], body["run"]["step"]) == ("running", 50)


def test_show_of_a_failed_run_says_why(cli: Cli, tracked: Repo) -> None:
    out = run(cli, tracked, "show", "broken").stdout
    assert "status: failed" in out
    assert "error: RuntimeError: diverged" in out


def test_tag_rev_name_is_short_for_tag_create(cli: Cli, tracked: Repo) -> None:
    out = run(cli, tracked, "tag", "baseline@best", "shipped", "-m", "v1 of the model").stdout
    assert out.startswith(f"Tagged {tracked.resolve('baseline@best')[:12]} as 'shipped'")
    assert tracked.resolve("shipped") == tracked.resolve("baseline@best")
    listed = run(cli, tracked, "tag", "list").stdout
    assert "shipped" in listed and "v1 of the model" in listed
    run(cli, tracked, "tag", "delete", "shipped")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["log", "baselin"], "unknown revision 'baselin'; did you mean 'baseline',"),
        (["log", "baseline", "--all"], "give a revision or --all, not both"),
        (["show", "tuned@best"], "unknown revision 'tuned@best'"),
        (["tag", "nosuch", "v2"], "unknown revision 'nosuch'"),
    ],
)
def test_bad_input_is_one_line(cli: Cli, tracked: Repo, args: list[str], message: str) -> None:
    result = cli(*args, "-C", str(tracked.work_tree))
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


def test_log_of_an_empty_repository_gets_a_hint(cli: Cli, repo: Repo) -> None:
    result = cli("log")
    assert result.exit_code == 0
    assert result.stdout.startswith("No commits yet")


def test_show_has_the_code_version_and_the_uncommitted_diff(
    cli: Cli, repo: Repo, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    git = ["git", "-C", str(code), "-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (code / "train.py").write_text("lr = 0.1\n")
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
    (code / "train.py").write_text("lr = 0.01\n")
    with start_run("coded", repo=repo, code_dir=code, capture_exclude=["requirements", "gpu"]):
        pass
    out = run(cli, repo, "show", "coded").stdout
    assert "Code:\n    git " in out
    assert " on main (dirty)" in out
    assert "    uncommitted diff:" in out
    assert "    +lr = 0.01" in out
