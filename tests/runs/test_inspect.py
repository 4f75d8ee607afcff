"""The inspection core shared by the CLI and the API: compare, snapshot diffs, the runs table,
history from the catalog."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from modelsync.catalog.commits import CommitCache, walk_log
from modelsync.catalog.table import check_fields, metric_goal, page_of_runs
from modelsync.errors import UnknownRun, UsageError
from modelsync.repo.repository import Repo
from modelsync.runs.compare import compare_runs, diff_snapshots, parse_requirements, read_snapshot
from tests.support.inspect_runs import BASELINE_STEPS, build_runs


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    repo = build_runs(tmp_path_factory.mktemp("inspect"))
    yield repo
    repo.close()


def test_compare_puts_params_metrics_and_differing_packages_side_by_side(tracked: Repo) -> None:
    comparison = compare_runs(tracked, ["baseline", "runs/tuned"])
    assert [run.name for run in comparison.runs] == ["baseline", "tuned"]
    params = {row.key: (row.values, row.differs) for row in comparison.params}
    assert params["lr"] == ([0.1, 0.01], True)
    assert params["batch_size"] == ([32, 32], False)
    assert params["optimizer.name"] == (["sgd", "adam"], True)
    metrics = {row.key: row for row in comparison.metrics}
    assert metrics["loss"].goal == "min"
    assert metrics["loss"].last == [1 / BASELINE_STEPS, 0.5 / 40]
    assert metrics["loss"].best == [1 / BASELINE_STEPS, 0.5 / 40]
    assert metrics["val_acc"].goal == "max"
    assert metrics["val_acc"].best == [0.99, 0.89]
    assert [(row.key, row.values) for row in comparison.packages] == [
        ("numpy", ["1.26.0", "2.0.0"])
    ]


def test_compare_of_an_unknown_run_suggests_the_closest(tracked: Repo) -> None:
    with pytest.raises(UnknownRun, match="did you mean 'tuned'"):
        compare_runs(tracked, ["baseline", "tuend"])


@pytest.mark.parametrize(
    ("key", "goal"),
    [("val_loss", "min"), ("train/error", "min"), ("rmse", "min"), ("val_acc", "max"),
     ("f1", "max"), ("reward", "max")],
)  # fmt: skip
def test_metric_goal_reads_the_name(key: str, goal: str) -> None:
    assert metric_goal(key) == goal


def test_parse_requirements_reads_pins_and_skips_the_rest() -> None:
    text = "# comment\nNumPy==1.26.0\n-e git+https://x\ntorch==2.1.0+cpu\n"
    assert parse_requirements(text) == {"numpy": "1.26.0", "torch": "2.1.0+cpu"}


def test_snapshot_diff_of_two_runs(tracked: Repo) -> None:
    old = read_snapshot(tracked, tracked.read_commit(tracked.resolve("baseline")))
    new = read_snapshot(tracked, tracked.read_commit(tracked.resolve("tuned")))
    assert old is not None and new is not None
    diff = diff_snapshots(old, new)
    assert [(c.key, c.change, c.old, c.new) for c in diff.params] == [
        ("lr", "changed", 0.1, 0.01),
        ("optimizer.name", "changed", "sgd", "adam"),
    ]
    loss = next(delta for delta in diff.metrics if delta.key == "loss")
    assert loss.delta == pytest.approx(0.5 / 40 - 0.01)
    assert loss.improved is False
    assert [(c.key, c.old, c.new) for c in diff.packages] == [("numpy", "1.26.0", "2.0.0")]


def test_snapshot_of_a_commit_is_the_run_at_that_point(tracked: Repo) -> None:
    best = read_snapshot(tracked, tracked.read_commit(tracked.resolve("baseline@best")))
    assert best is not None
    assert (best.step, best.epoch, best.info.status) == (50, 0, "running")
    assert best.metrics["loss"] == pytest.approx(1 / 51)
    plain = tracked.read_commit(tracked.resolve("experiment"))
    assert read_snapshot(tracked, plain) is None


def test_log_from_the_catalog_equals_the_log_from_objects(tracked: Repo) -> None:
    for rev in ("baseline", "experiment", "broken~1"):
        from_catalog = walk_log(CommitCache(tracked), [tracked.resolve(rev)])
        assert from_catalog == tracked.log(rev)


def test_log_reads_objects_for_commits_the_catalog_lacks(repo: Repo) -> None:
    tree = repo.write_tree({})
    first = repo.commit_tree(tree, "one", ref="refs/heads/main")
    second = repo.commit_tree(tree, "two", ref="refs/heads/main")
    with repo.catalog.write() as conn:
        conn.execute("DELETE FROM commits")
    assert walk_log(CommitCache(repo), [second], limit=5) == repo.log("main")
    assert [oid for oid, _ in walk_log(CommitCache(repo), [second])] == [second, first]


def test_runs_table_filters_by_tag_and_counts_commits(tracked: Repo) -> None:
    page = page_of_runs(tracked.catalog.conn, where=None, tags=["sweep"], sort="name", limit=10)
    assert [run.name for run in page.runs] == ["broken", "tuned"]
    assert page.commits == {"broken": 2, "tuned": 2}
    assert page.differing_params == ["batch_size", "lr", "optimizer.name"]


def test_runs_table_cells_hold_latest_and_best(tracked: Repo) -> None:
    page = page_of_runs(tracked.catalog.conn, where="name == 'baseline'", limit=10)
    cells = page.metrics["baseline"]
    assert cells["loss"].last == pytest.approx(1 / BASELINE_STEPS)
    assert cells["loss"].best == pytest.approx(1 / BASELINE_STEPS)
    assert cells["val_acc"].best == pytest.approx(0.99)
    assert page.commits["baseline"] == 4
    broken = page_of_runs(tracked.catalog.conn, where="status == 'failed'", limit=10)
    assert math.isnan(broken.metrics["broken"]["loss"].last)
    assert broken.metrics["broken"]["loss"].best is None


def test_runs_table_names_the_metric_columns_it_is_asked_for(tracked: Repo) -> None:
    page = page_of_runs(tracked.catalog.conn, where=None, limit=10, metric_keys=["val_acc"])
    assert page.metric_keys == ["val_acc"]
    assert all(set(cells) <= {"val_acc"} for cells in page.metrics.values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"where": "metrics.los < 1"}, "no run has metrics.los; did you mean metrics.loss?"),
        ({"sort": "-params.learning_rate"}, "no run has params.learning_rate"),
        ({"metric_keys": ["val_acc", "acc"]}, "no run has metrics.acc; did you mean"),
    ],
)
def test_fields_no_run_has_are_refused_with_suggestions(
    tracked: Repo, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match=message.replace(".", r"\.").replace("?", r"\?")):
        check_fields(tracked.catalog.conn, **kwargs)  # type: ignore[arg-type]


def test_fields_every_run_or_some_run_has_are_accepted(tracked: Repo) -> None:
    check_fields(tracked.catalog.conn, where="params.lr > 0 and status == 'failed'", sort="name")


def test_reindex_gives_the_same_runs_table(tracked: Repo) -> None:
    before = page_of_runs(tracked.catalog.conn, where=None, limit=10)
    tracked.reindex()
    after = page_of_runs(tracked.catalog.conn, where=None, limit=10)
    assert after == before
