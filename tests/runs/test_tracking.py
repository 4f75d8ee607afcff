"""Runs: start, log, save, tag, resume, finish; each run a branch of commits in the repository."""

from __future__ import annotations

import errno
import json
import math
import os
import re
import warnings

import numpy as np
import pytest
import torch

import modelsync
from modelsync.errors import (
    CatalogCorrupt,
    CatalogWarning,
    InvalidRefName,
    TrackingError,
    TrackingWarning,
    UnknownRun,
    UsageError,
)
from modelsync.model.segment import decode_segment
from modelsync.repo.repository import Repo
from modelsync.runs import read as runs


def _tree(repo: Repo, rev: str) -> dict[str, bytes]:
    files = repo.flatten_tree(repo.read_commit(repo.resolve(rev)).tree)
    return {
        path: repo.store.get(entry.oid) for path, entry in files.items() if entry.kind == "blob"
    }


def _values(repo: Repo, run: str, key: str) -> list[tuple[int, float]]:
    return [(p.step, p.value) for p in runs.metric_series(repo, run, key)]


# ------------------------------------------------------------------ lifecycle
def test_a_run_is_a_branch_with_a_start_commit_and_a_final_commit(repo: Repo) -> None:
    with modelsync.start_run(repo=repo) as run:
        assert run.status == "running"
        started = run.head
    history = repo.log(f"runs/{run.name}")
    assert [commit.meta["kind"] for _, commit in history] == ["status", "start"]
    assert [commit.meta["status"] for _, commit in history] == ["finished", "running"]
    assert history[-1][0] == started
    assert repo.branches()[f"runs/{run.name}"] == run.head
    files = _tree(repo, run.head or "")
    assert {"run.json", "params.json", "environment.json", "requirements.txt"} <= set(files)
    assert {"datasets.json", "metrics.seg"} <= set(files)
    stored = json.loads(files["run.json"])
    assert stored["status"] == "finished" and stored["schema_version"] == 1


def test_the_run_records_start_end_and_duration(repo: Repo) -> None:
    with modelsync.start_run(repo=repo) as run:
        pass
    info = runs.get_run(repo, run.name)
    assert info.end_time is not None and info.end_time >= info.start_time
    assert info.duration == pytest.approx(info.end_time - info.start_time)
    assert info.head == run.head


def test_generated_names_are_readable_and_unique(repo: Repo) -> None:
    names = set()
    for _ in range(5):
        with modelsync.start_run(repo=repo) as run:
            names.add(run.name)
    assert len(names) == 5
    assert all(re.fullmatch(r"[a-z]+-[a-z]+-\d{4}", name) for name in names)


@pytest.mark.parametrize("name", ["has space", "a..b", "-dash", "ends.lock", "x@y", "", "a~1"])
def test_invalid_run_names_are_refused_before_anything_is_written(repo: Repo, name: str) -> None:
    with pytest.raises(InvalidRefName):
        modelsync.start_run(name, repo=repo)
    assert runs.list_runs(repo) == []
    assert repo.branches() == {}


def test_a_taken_name_is_an_error_that_suggests_resume(repo: Repo) -> None:
    with modelsync.start_run("baseline", repo=repo):
        pass
    with pytest.raises(TrackingError, match="resume='baseline'"):
        modelsync.start_run("baseline", repo=repo)
    assert len(repo.log("runs/baseline")) == 2


def test_an_exception_marks_the_run_failed_stores_the_traceback_and_passes_through(
    repo: Repo,
) -> None:
    with pytest.raises(ZeroDivisionError), modelsync.start_run("boom", repo=repo) as run:
        run.log_metrics({"loss": 1.0})
        _ = 1 / 0
    info = runs.get_run(repo, "boom")
    assert info.status == "failed"
    assert info.error is not None and "ZeroDivisionError" in info.error
    assert _values(repo, "boom", "loss") == [(0, 1.0)]


def test_keyboard_interrupt_marks_the_run_interrupted(repo: Repo) -> None:
    with pytest.raises(KeyboardInterrupt), modelsync.start_run("stopped", repo=repo):
        raise KeyboardInterrupt
    assert runs.get_run(repo, "stopped").status == "interrupted"


def test_finish_takes_only_final_statuses_and_a_second_finish_does_nothing(repo: Repo) -> None:
    run = modelsync.start_run(repo=repo)
    with pytest.raises(TrackingError, match="invalid final status"):
        run.finish("running")
    head = run.finish("failed", error="diverged")
    assert run.finish("finished") == head
    info = runs.get_run(repo, run.name)
    assert (info.status, info.error) == ("failed", "diverged")


# -------------------------------------------------------------------- metrics
def test_steps_count_themselves_and_an_explicit_step_sets_the_count(repo: Repo) -> None:
    with modelsync.start_run("steps", repo=repo) as run:
        run.log_metrics({"loss": 3.0})
        run.log_metrics({"loss": 2.0})
        run.log_metrics({"loss": 1.0}, step=10)
        run.log_metrics({"loss": 0.5})
        assert run.step == 11
    assert _values(repo, "steps", "loss") == [(0, 3.0), (1, 2.0), (10, 1.0), (11, 0.5)]


def test_numpy_torch_and_python_scalars_are_logged_and_nan_and_inf_kept(repo: Repo) -> None:
    with modelsync.start_run("scalars", repo=repo) as run:
        run.log_metrics({"a": np.float32(0.5), "b": torch.tensor(2.0), "c": 3, "d": math.nan})
        run.log_metrics({"a": math.inf, "b": -math.inf, "c": np.int64(4), "d": 1.0})
    assert _values(repo, "scalars", "a") == [(0, 0.5), (1, math.inf)]
    assert _values(repo, "scalars", "b") == [(0, 2.0), (1, -math.inf)]
    assert _values(repo, "scalars", "c") == [(0, 3.0), (1, 4.0)]
    first_d = runs.metric_series(repo, "scalars", "d")[0]
    assert math.isnan(first_d.value)
    assert json.loads(first_d.model_dump_json())["value"] == "NaN"
    summary = runs.get_metric_summaries(repo, "scalars")["d"]
    assert (summary.count, summary.min, summary.max, summary.last_value) == (2, 1.0, 1.0, 1.0)


def test_latest_values_are_listed_with_the_run_and_in_the_commit_meta(repo: Repo) -> None:
    with modelsync.start_run("latest", repo=repo) as run:
        run.log_metrics({"loss": 2.0, "acc": 0.1})
        run.log_metrics({"loss": 1.0})
    assert runs.get_run(repo, "latest").metrics == {"loss": 1.0, "acc": 0.1}
    assert repo.read_commit(run.head or "").meta["metrics"] == {"loss": 1.0, "acc": 0.1}


def test_flushed_metrics_are_queryable_while_the_run_goes_on(repo: Repo) -> None:
    run = modelsync.start_run("live", repo=repo)
    for step in range(100):
        run.log_metrics({"loss": 1.0 / (step + 1)})
    run.flush()
    assert len(runs.metric_series(repo, "live", "loss")) == 100
    assert runs.get_run(repo, "live").status == "running"
    run.finish()
    assert len(runs.metric_series(repo, "live", "loss")) == 100
    assert runs.get_metric_summaries(repo, "live")["loss"].count == 100


def test_each_commit_carries_the_points_logged_since_the_previous_one(repo: Repo) -> None:
    run = modelsync.start_run("segments", repo=repo)
    run.log_metrics({"x": 1.0})
    run.log_metrics({"x": 2.0})
    first = run._commit("snapshot", "snapshot")
    run.log_metrics({"x": 3.0})
    run.finish()
    first_segment = decode_segment(_tree(repo, first)["metrics.seg"])
    last_segment = decode_segment(_tree(repo, run.head or "")["metrics.seg"])
    assert (first_segment.first_seq, first_segment.count) == (0, 2)
    assert (last_segment.first_seq, last_segment.count) == (2, 1)


# --------------------------------------------------------------------- params
def test_params_are_flattened_with_dots_and_later_values_win(repo: Repo) -> None:
    params = {"optimizer": {"name": "adam", "lr": 1e-3}, "layers": [64, 32], "seed": 7}
    with modelsync.start_run("params", repo=repo, params=params) as run:
        run.log_params({"optimizer": {"lr": 5e-4}, "epochs": 3})
    expected = {
        "optimizer.name": "adam",
        "optimizer.lr": 5e-4,
        "layers": [64, 32],
        "seed": 7,
        "epochs": 3,
    }
    assert runs.get_params(repo, "params") == expected
    assert json.loads(_tree(repo, run.head or "")["params.json"])["params"] == expected


def test_params_logged_mid_run_are_visible_before_the_next_commit(repo: Repo) -> None:
    run = modelsync.start_run("live-params", repo=repo)
    run.log_params({"batch_size": 32})
    assert runs.get_params(repo, "live-params") == {"batch_size": 32}
    run.finish()


def test_params_that_are_not_json_are_stored_as_their_repr_with_a_warning(repo: Repo) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "Opaque()"

    with pytest.warns(TrackingWarning, match="repr"):
        run = modelsync.start_run(repo=repo, params={"thing": Opaque(), "w": np.zeros((2, 3))})
    run.finish()
    stored = runs.get_params(repo, run.name)
    assert stored["thing"] == "Opaque()"
    assert stored["w.shape"] == [2, 3] and stored["w.dtype"] == "float64"


# ------------------------------------------------------------ files and tags
def test_saved_files_and_bytes_are_in_the_run_tree_and_stay_in_later_commits(
    repo: Repo, tmp_path: object
) -> None:
    source = repo.work_tree / "config.yaml"
    source.write_text("lr: 0.1\n")
    run = modelsync.start_run("files", repo=repo)
    assert run.save(source) == "config.yaml"
    assert run.save(b"\x00\x01", name="raw/blob.bin") == "raw/blob.bin"
    source.write_text("changed later\n")
    first = run._commit("snapshot", "snapshot")
    run.finish()
    for rev in (first, run.head or ""):
        files = _tree(repo, rev)
        assert files["files/config.yaml"] == b"lr: 0.1\n"
        assert files["files/raw/blob.bin"] == b"\x00\x01"


@pytest.mark.parametrize("name", ["../escape", "/abs", "a//b", "."])
def test_saved_file_names_must_stay_inside_files(repo: Repo, name: str) -> None:
    with (
        modelsync.start_run(repo=repo) as run,
        pytest.raises(UsageError, match="invalid file name"),
    ):
        run.save(b"x", name=name)


def test_saving_bytes_needs_a_name_and_saving_a_missing_file_fails(repo: Repo) -> None:
    with modelsync.start_run(repo=repo) as run:
        with pytest.raises(UsageError, match="needs name"):
            run.save(b"data")
        with pytest.raises(UsageError, match="not a file"):
            run.save(repo.work_tree / "missing.txt")


def test_tag_labels_the_run_and_names_its_latest_commit(repo: Repo) -> None:
    with modelsync.start_run("tagged", repo=repo, tags=["baseline"]) as run:
        run.log_metrics({"acc": 0.9})
        best = run._commit("snapshot", "best so far")
        run.tag("best")
        run.log_metrics({"acc": 0.8})
    assert repo.resolve("tagged@best") == best
    assert runs.get_run(repo, "tagged").tags == ["baseline", "best"]
    with pytest.raises(InvalidRefName):
        run.tag("bad label")


# ------------------------------------------------------------- active run
def test_module_level_functions_act_on_the_active_run(repo: Repo) -> None:
    with modelsync.start_run("active", repo=repo) as run:
        assert modelsync.active_run() is run
        modelsync.log({"loss": 0.3})
        modelsync.log_params({"lr": 0.01})
        info = modelsync.dataset(np.arange(6).reshape(2, 3), name="train")
    assert modelsync.active_run() is None
    assert _values(repo, "active", "loss") == [(0, 0.3)]
    assert runs.get_params(repo, "active") == {"lr": 0.01}
    assert runs.get_datasets(repo, "active") == {"train": info}


def test_module_level_functions_without_a_run_are_a_clear_error() -> None:
    with pytest.raises(TrackingError, match="needs an active run"):
        modelsync.log({"loss": 1.0})
    with pytest.raises(TrackingError, match="needs an active run"):
        modelsync.log_params({"lr": 1.0})


def test_a_run_started_inside_a_run_is_its_child_and_the_parent_is_active_again(
    repo: Repo,
) -> None:
    with modelsync.start_run("outer", repo=repo) as outer:
        with modelsync.start_run("inner", repo=repo) as inner:
            assert modelsync.active_run() is inner
        assert modelsync.active_run() is outer
    assert runs.get_run(repo, "inner").parent == "outer"
    assert [r.name for r in runs.list_runs(repo, parent="outer")] == ["inner"]
    assert runs.get_run(repo, "outer").parent is None


def test_threads_started_without_the_context_log_to_the_newest_open_run(repo: Repo) -> None:
    import threading

    with modelsync.start_run("threaded", repo=repo):
        worker = threading.Thread(target=lambda: modelsync.log({"from_thread": 1.0}))
        worker.start()
        worker.join()
    assert _values(repo, "threaded", "from_thread") == [(0, 1.0)]


# ------------------------------------------------------------------- resume
def test_resume_continues_the_branch_the_steps_and_the_series(repo: Repo) -> None:
    with modelsync.start_run("long", repo=repo, params={"lr": 0.1}) as run:
        for step in range(3):
            run.log_metrics({"loss": float(step)})
        run.save(b"notes", name="notes.txt")
    first_end = run.head
    with modelsync.start_run(repo=repo, resume="long", params={"epochs": 2}) as resumed:
        assert resumed.step == 2
        resumed.log_metrics({"loss": 3.0})
    history = repo.log("runs/long")
    assert [c.meta["kind"] for _, c in history] == ["status", "resume", "status", "start"]
    assert history[2][0] == first_end
    assert _values(repo, "long", "loss") == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)]
    assert runs.get_params(repo, "long") == {"lr": 0.1, "epochs": 2}
    assert _tree(repo, "long")["files/notes.txt"] == b"notes"
    info = runs.get_run(repo, "long")
    assert info.status == "finished"
    assert info.start_time == json.loads(_tree(repo, first_end or "")["run.json"])["start_time"]


def test_resume_needs_an_existing_run_that_is_not_running(repo: Repo) -> None:
    with pytest.raises(UnknownRun, match="unknown run 'ghost'"):
        modelsync.start_run(repo=repo, resume="ghost")
    with pytest.raises(UsageError, match="needs the name"):
        modelsync.start_run(repo=repo, resume=True)
    with pytest.raises(UsageError, match="different runs"):
        modelsync.start_run("a", repo=repo, resume="b")
    live = modelsync.start_run("live", repo=repo)
    with pytest.raises(TrackingError, match="still running"):
        modelsync.start_run("live", repo=repo, resume=True)
    live.finish()


# ---------------------------------------------------------------- bad input
def test_a_non_numeric_metric_is_a_clear_error_and_nothing_of_that_call_is_logged(
    repo: Repo,
) -> None:
    with modelsync.start_run("strict", repo=repo) as run:
        run.log_metrics({"loss": 1.0})
        with pytest.raises(TrackingError, match=r"'label'.*str 'cat' is not a number"):
            run.log_metrics({"loss": 0.5, "label": "cat"})
        with pytest.raises(TrackingError, match="step must be an integer"):
            run.log_metrics({"loss": 0.5}, step="3")  # type: ignore[arg-type]
        with pytest.raises(TrackingError, match="takes a dict"):
            run.log_metrics([("loss", 1.0)])  # type: ignore[arg-type]
    assert _values(repo, "strict", "loss") == [(0, 1.0)]


def test_without_strict_bad_values_warn_mark_the_run_and_the_rest_is_logged(repo: Repo) -> None:
    with modelsync.start_run("lenient", repo=repo, strict=False) as run:
        with pytest.warns(TrackingWarning, match="'label'"):
            run.log_metrics({"loss": 0.5, "label": "cat"})
        run.log_metrics({"loss": 0.25})
    assert _values(repo, "lenient", "loss") == [(0, 0.5), (1, 0.25)]
    problems = runs.get_run(repo, "lenient").problems
    assert len(problems) == 1 and "label" in problems[0]


def test_logging_after_finish_is_an_error_and_keeps_what_was_logged(repo: Repo) -> None:
    run = modelsync.start_run("done", repo=repo)
    run.log_metrics({"loss": 1.0})
    run.finish()
    with pytest.raises(TrackingError, match="has ended"):
        run.log_metrics({"loss": 2.0})
    with pytest.raises(TrackingError, match="has ended"):
        run.log_params({"lr": 1.0})
    with pytest.raises(TrackingError, match="has ended"):
        run.save(b"x", name="x")
    assert _values(repo, "done", "loss") == [(0, 1.0)]


def test_log_metrics_bound_once_checks_every_call_and_knows_when_the_run_ended(
    repo: Repo,
) -> None:
    run = modelsync.start_run("bound", repo=repo)
    log = run.log_metrics
    log({"loss": 1.0})
    log({"loss": np.float32(0.5)})
    log({"loss": 0.25}, step=7)
    with pytest.raises(TrackingError, match="step must be an integer"):
        log({"loss": 1.0}, step="8")  # type: ignore[arg-type]
    run.finish()
    with pytest.raises(TrackingError, match="has ended"):
        log({"loss": 2.0})
    assert _values(repo, "bound", "loss") == [(0, 1.0), (1, 0.5), (7, 0.25)]


def test_without_strict_logging_after_finish_warns(repo: Repo) -> None:
    run = modelsync.start_run(repo=repo, strict=False)
    run.finish()
    with pytest.warns(TrackingWarning, match="has ended"):
        run.log_metrics({"loss": 2.0})


def test_a_repository_that_does_not_exist_is_a_clear_error(tmp_path: object) -> None:
    from pathlib import Path

    missing = Path(str(tmp_path)) / "nowhere"
    with pytest.raises(modelsync.ModelSyncError, match="not a modelsync repository"):
        modelsync.start_run(repo=missing)
    assert not missing.exists()


def test_unknown_runs_are_reported_with_suggestions(repo: Repo) -> None:
    with modelsync.start_run("resnet-baseline", repo=repo):
        pass
    with pytest.raises(UnknownRun, match="did you mean 'resnet-baseline'"):
        runs.get_run(repo, "resnet-baselin")
    with pytest.raises(UnknownRun):
        runs.metric_series(repo, "nope", "loss")
    assert runs.metric_series(repo, "resnet-baseline", "never-logged") == []


# ------------------------------------------------------------ a failing disk
def _no_space(*_args: object) -> int:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_without_strict_a_full_disk_at_the_start_warns_marks_the_run_and_training_goes_on(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(os, "pwritev", _no_space)  # every object write of the start commit
        with pytest.warns(TrackingWarning, match=r"could not commit \(start\).*No space left"):
            run = modelsync.start_run("full", repo=repo, strict=False)
        for step in range(10):
            run.log_metrics({"loss": 1.0 / (step + 1)})
        assert repo.refs.resolve("refs/heads/runs/full") is None
    run.finish()
    info = runs.get_run(repo, "full")
    assert info.status == "finished"
    assert len(info.problems) == 1 and "No space left on device" in info.problems[0]
    assert len(_values(repo, "full", "loss")) == 10


def test_with_strict_a_full_disk_at_the_start_is_an_error(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "pwritev", _no_space)
    with pytest.raises(TrackingError, match=r"cannot write the repository .* No space left"):
        modelsync.start_run("full", repo=repo, strict=True)
    assert modelsync.active_run() is None


def test_without_strict_a_full_disk_when_saving_a_file_warns_and_the_run_goes_on(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = modelsync.start_run("full", repo=repo, strict=False)
    with monkeypatch.context() as patch:
        patch.setattr(os, "pwritev", _no_space)
        with pytest.warns(TrackingWarning, match="could not save 'notes.txt'"):
            run.save(b"some notes", name="notes.txt")
    run.finish()
    assert "files/notes.txt" not in _tree(repo, "runs/full")
    assert runs.get_run(repo, "full").status == "finished"


def test_without_strict_an_unreadable_catalog_at_resume_warns_and_training_goes_on(
    repo: Repo,
) -> None:
    with modelsync.start_run("again", repo=repo) as run:
        run.log_metrics({"loss": 1.0})
    repo.close()
    (repo.control_dir / "index.db").write_bytes(os.urandom(4096))
    reopened = Repo.open(repo.work_tree)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = modelsync.start_run("again", repo=reopened, resume=True, strict=False)
        run.log_metrics({"loss": 0.5})
        run.finish()
    assert {w.category for w in caught} == {TrackingWarning, CatalogWarning}
    with pytest.warns(CatalogWarning, match="moved it aside"):
        reopened.reindex()
    info = runs.get_run(reopened, "again")
    assert info.status == "finished"
    assert any("the catalog failed while resuming" in problem for problem in info.problems)
    assert _values(reopened, "again", "loss") == [(0, 1.0), (1, 0.5)]
    reopened.close()


def test_with_strict_an_unreadable_catalog_at_resume_is_an_error(repo: Repo) -> None:
    with modelsync.start_run("again", repo=repo):
        pass
    repo.close()
    (repo.control_dir / "index.db").write_bytes(os.urandom(4096))
    reopened = Repo.open(repo.work_tree)
    with pytest.raises(CatalogCorrupt, match="run 'modelsync reindex'"):
        modelsync.start_run("again", repo=reopened, resume=True)
    reopened.close()
