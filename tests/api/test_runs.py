"""Runs over HTTP, against runs made with the tracking API: the table, one run, series, compare."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from modelsync import Repo

from .conftest import SERIES_LENGTH, SPIKE_STEP


def names(body: dict[str, object]) -> list[str]:
    return [run["name"] for run in body["runs"]]  # type: ignore[attr-defined]


def test_runs_lists_every_run_newest_first(reader: TestClient) -> None:
    body = reader.get("/runs").json()
    assert names(body) == ["pickled", "broken", "tuned", "baseline"]
    assert body["total"] == 4


def test_runs_show_status_badges_data_latest_metrics_and_differing_params(
    reader: TestClient,
) -> None:
    body = reader.get("/runs").json()
    by_name = {run["name"]: run for run in body["runs"]}
    assert by_name["broken"]["status"] == "failed"
    assert by_name["baseline"]["metrics"] == {"acc": 0.999, "loss": 0.001}
    assert by_name["broken"]["metrics"] == {"loss": "NaN"}
    assert body["differing_params"] == ["batch_size", "lr"]
    assert by_name["tuned"]["params"] == {"batch_size": 32, "lr": 0.01}
    assert by_name["baseline"]["commits"] == 4
    assert by_name["baseline"]["best"]["loss"] == 0.001
    assert by_name["baseline"]["best"]["acc"] == 0.999
    assert "acc" in body["metric_keys"] and "loss" in body["metric_keys"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("params.lr < 0.05", ["tuned"]),
        ("params.lr == 0.1 and metrics.loss < 0.01", ["baseline"]),
        ('status == "failed"', ["broken"]),
        ("params.batch_size in [32, 64] and not name == 'tuned'", ["baseline"]),
        ("metrics.acc > 2", []),
    ],
)
def test_runs_filter_with_where_expressions(
    reader: TestClient, where: str, expected: list[str]
) -> None:
    assert names(reader.get("/runs", params={"where": where}).json()) == expected


def test_runs_sort_by_a_metric_puts_runs_without_it_last(reader: TestClient) -> None:
    ascending = names(reader.get("/runs", params={"sort": "metrics.loss"}).json())
    assert ascending[:2] == ["baseline", "tuned"]
    descending = names(reader.get("/runs", params={"sort": "-metrics.loss"}).json())
    assert descending[:2] == ["tuned", "baseline"]
    assert descending[-1] == ascending[-1] == "pickled"


def test_runs_sort_by_name(reader: TestClient) -> None:
    assert names(reader.get("/runs", params={"sort": "name"}).json()) == [
        "baseline",
        "broken",
        "pickled",
        "tuned",
    ]


def test_runs_status_filter(reader: TestClient) -> None:
    assert names(reader.get("/runs", params={"status": "failed"}).json()) == ["broken"]


def test_runs_pages(reader: TestClient) -> None:
    first = reader.get("/runs", params={"limit": 3, "sort": "name"}).json()
    second = reader.get("/runs", params={"limit": 3, "offset": 3, "sort": "name"}).json()
    assert names(first) + names(second) == ["baseline", "broken", "pickled", "tuned"]
    assert first["total"] == second["total"] == 4


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"where": "metrics.loss <"}, "cannot parse"),
        ({"where": "__import__('os').system('true')"}, "cannot parse"),
        ({"sort": "-bogus"}, "unknown field"),
    ],
)
def test_bad_filters_are_400_with_the_reason(
    reader: TestClient, params: dict[str, str], fragment: str
) -> None:
    response = reader.get("/runs", params=params)
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_run_detail_has_params_environment_commits_and_labels(
    reader: TestClient, tracked: Repo
) -> None:
    body = reader.get("/runs/baseline").json()
    assert body["info"]["status"] == "finished"
    assert body["params"] == {"batch_size": 32, "lr": 0.1}
    assert body["environment"]["python_version"]
    assert len(body["commits"]) == 4
    assert [c["step"] for c in body["commits"][:3]] == [None, SPIKE_STEP, SERIES_LENGTH]
    assert body["labels"] == {"best": tracked.resolve("baseline@best")}
    summaries = {m["key"]: m for m in body["metrics"]}
    assert summaries["loss"]["count"] == SERIES_LENGTH
    assert summaries["loss"]["max"] == 50.0


def test_failed_run_detail_carries_its_traceback(reader: TestClient) -> None:
    info = reader.get("/runs/broken").json()["info"]
    assert info["status"] == "failed"
    assert "RuntimeError: diverged" in info["error"]


def test_unknown_run_is_404_with_a_suggestion(reader: TestClient) -> None:
    response = reader.get("/runs/baselin")
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_run"
    assert "baseline" in response.json()["message"]


def test_full_series_is_every_point_in_logging_order(reader: TestClient) -> None:
    body = reader.get("/metrics", params={"run": "baseline", "key": "loss", "full": True}).json()
    assert body["count"] == SERIES_LENGTH
    assert body["downsampled"] is False
    assert body["steps"] == list(range(SERIES_LENGTH))
    assert body["values"][SPIKE_STEP] == 50.0


def test_long_series_are_downsampled_on_the_server_keeping_spikes(reader: TestClient) -> None:
    body = reader.get("/metrics", params={"run": "baseline", "key": "loss", "points": 100}).json()
    assert body["downsampled"] is True
    assert body["count"] == SERIES_LENGTH
    assert len(body["steps"]) <= 100
    assert body["steps"] == sorted(body["steps"])
    assert 50.0 in body["values"]
    assert 1.0 in body["values"]


def test_a_step_range_returns_that_part_in_detail(reader: TestClient) -> None:
    body = reader.get(
        "/metrics",
        params={"run": "baseline", "key": "loss", "points": 100, "step_min": 490, "step_max": 509},
    ).json()
    assert body["steps"] == list(range(490, 510))
    assert body["downsampled"] is False


def test_nan_points_are_null(reader: TestClient) -> None:
    body = reader.get("/metrics", params={"run": "broken", "key": "loss"}).json()
    assert body["values"] == [None]


def test_a_key_never_logged_is_an_empty_series(reader: TestClient) -> None:
    body = reader.get("/metrics", params={"run": "tuned", "key": "acc"}).json()
    assert body == {
        "run": "tuned",
        "key": "acc",
        "count": 0,
        "downsampled": False,
        "steps": [],
        "values": [],
    }


def test_series_of_an_unknown_run_is_404(reader: TestClient) -> None:
    assert reader.get("/metrics", params={"run": "nope", "key": "loss"}).status_code == 404


def test_compare_puts_runs_side_by_side_and_marks_differences(reader: TestClient) -> None:
    body = reader.get("/compare", params={"run": ["baseline", "tuned"]}).json()
    assert [r["name"] for r in body["runs"]] == ["baseline", "tuned"]
    params = {row["key"]: row for row in body["params"]}
    assert params["lr"] == {"key": "lr", "values": [0.1, 0.01], "differs": True}
    assert params["batch_size"] == {"key": "batch_size", "values": [32, 32], "differs": False}
    assert body["metric_keys"] == ["acc", "loss"]
    metrics = {row["key"]: row for row in body["metrics"]}
    assert metrics["acc"]["last"] == [0.999, None]
    assert metrics["acc"]["differs"] is True
    assert metrics["loss"]["goal"] == "min"
    assert metrics["loss"]["best"] == [pytest.approx(0.001), pytest.approx(0.005)]
    assert body["packages"] == []


def test_diff_of_two_run_commits_has_params_metric_deltas_and_packages(reader: TestClient) -> None:
    body = reader.get("/diff", params={"a": "tuned", "b": "baseline"}).json()
    run = body["run"]
    assert (run["old_run"], run["new_run"]) == ("tuned", "baseline")
    assert run["params"] == [{"key": "lr", "change": "changed", "old": 0.01, "new": 0.1}]
    loss = {m["key"]: m for m in run["metrics"]}["loss"]
    assert loss["old"] == pytest.approx(0.005) and loss["new"] == pytest.approx(0.001)
    assert loss["improved"] is True
    assert {"path": "checkpoint", "status": "added"}.items() <= next(
        f for f in body["files"] if f["path"] == "checkpoint"
    ).items()


def test_compare_with_an_unknown_run_is_404(reader: TestClient) -> None:
    response = reader.get("/compare", params={"run": ["baseline", "nope"]})
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_run"


@pytest.mark.parametrize("name", ["../../../etc/passwd", "runs/../x", "a\\b", "x@best"])
def test_run_names_that_git_would_refuse_are_400(reader: TestClient, name: str) -> None:
    for response in (
        reader.get(f"/runs/{quote(name, safe='')}"),
        reader.get("/metrics", params={"run": name, "key": "loss"}),
        reader.get("/compare", params={"run": [name]}),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_ref_name"
