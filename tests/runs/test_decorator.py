"""``@modelsync.track``: each call of a training function is a run of its arguments."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import inspect
from pathlib import Path

import numpy as np
import pydantic
import pytest

import modelsync
from modelsync.errors import TrackingWarning, UsageError
from modelsync.repo.repository import Repo
from modelsync.runs import read as runs


def _only_run(repo: Repo) -> modelsync.RunInfo:
    (info,) = runs.list_runs(repo)
    return info


def test_bare_decorator_records_arguments_with_defaults_as_params(repo: Repo) -> None:
    @modelsync.track
    def train(lr: float, epochs: int = 3, *, optimizer: str = "adam") -> None:
        modelsync.log({"loss": lr})

    train(0.1)
    info = _only_run(repo)
    assert info.status == "finished"
    assert info.entrypoint is not None and info.entrypoint.endswith("train")
    assert runs.get_params(repo, info.name) == {"lr": 0.1, "epochs": 3, "optimizer": "adam"}
    assert [p.value for p in runs.metric_series(repo, info.name, "loss")] == [0.1]


def test_a_returned_dict_of_numbers_becomes_the_final_metrics(repo: Repo) -> None:
    @modelsync.track
    def train() -> dict[str, object]:
        for step in range(3):
            modelsync.log({"loss": 1.0 / (step + 1)})
        return {"accuracy": np.float32(0.75), "loss": 0.1}

    result = train()
    assert result == {"accuracy": np.float32(0.75), "loss": 0.1}
    info = _only_run(repo)
    assert info.metrics == {"accuracy": 0.75, "loss": 0.1}
    assert [(p.step, p.value) for p in runs.metric_series(repo, info.name, "accuracy")] == [
        (2, 0.75)
    ]


@pytest.mark.parametrize("returned", [[1, 2], None, {}])
def test_other_return_values_pass_through_untouched(repo: Repo, returned: object) -> None:
    @modelsync.track
    def train() -> object:
        return returned

    assert train() is returned
    assert _only_run(repo).metrics == {}


def test_a_returned_dict_keeps_its_numbers_and_warns_about_the_rest_by_key(repo: Repo) -> None:
    returned = {"acc": 0.9, "note": "text"}

    @modelsync.track
    def train() -> dict[str, object]:
        return returned

    with pytest.warns(TrackingWarning, match="'note'"):
        assert train() is returned
    info = _only_run(repo)
    assert info.metrics == {"acc": 0.9}
    assert len(info.problems) == 1 and "'note'" in info.problems[0]


def test_exceptions_pass_through_and_mark_the_run_failed(repo: Repo) -> None:
    class Diverged(Exception):
        pass

    @modelsync.track
    def train() -> None:
        modelsync.log({"loss": float("nan")})
        raise Diverged("loss is NaN")

    with pytest.raises(Diverged, match="loss is NaN"):
        train()
    info = _only_run(repo)
    assert info.status == "failed"
    assert info.error is not None and "Diverged: loss is NaN" in info.error


def test_options_name_select_and_exclude_params(repo: Repo) -> None:
    @modelsync.track(name="sweep", params=["lr", "layers"], tags=["grid"])
    def train(lr: float, layers: int, verbose: bool = False) -> None:
        pass

    @modelsync.track(name="other", exclude=["verbose"])
    def evaluate(threshold: float, verbose: bool = True) -> None:
        pass

    train(0.1, 2)
    train(0.2, 3)
    evaluate(0.5)
    assert runs.get_params(repo, "sweep") == {"lr": 0.1, "layers": 2}
    assert runs.get_params(repo, "sweep-2") == {"lr": 0.2, "layers": 3}
    assert runs.get_params(repo, "other") == {"threshold": 0.5}
    assert runs.get_run(repo, "sweep").tags == ["grid"]


def test_unknown_param_names_are_refused_when_decorating() -> None:
    with pytest.raises(UsageError, match="lrate"):

        @modelsync.track(params=["lrate"])
        def train(lr: float) -> None:
            pass


def test_varargs_kwargs_and_methods_bind_sensibly(repo: Repo) -> None:
    class Trainer:
        @modelsync.track
        def fit(self, *sizes: int, **extra: object) -> None:
            pass

    Trainer().fit(64, 32, dropout=0.5)
    assert runs.get_params(repo, _only_run(repo).name) == {"sizes": [64, 32], "dropout": 0.5}


class Optimizer(enum.Enum):
    ADAM = "adam"


@dataclasses.dataclass
class Schedule:
    warmup: int
    decay: float


class Config(pydantic.BaseModel):
    depth: int = 4
    out: Path = Path("/tmp/out")


def test_arguments_become_json_safe_params(repo: Repo) -> None:
    @modelsync.track
    def train(
        data: np.ndarray,
        scale: np.float64,
        optimizer: Optimizer,
        schedule: Schedule,
        config: Config,
        path: Path,
    ) -> None:
        pass

    train(
        np.ones((10, 3)), np.float64(0.5), Optimizer.ADAM, Schedule(100, 0.9), Config(), Path("x")
    )
    assert runs.get_params(repo, _only_run(repo).name) == {
        "data.type": "ndarray",
        "data.shape": [10, 3],
        "data.dtype": "float64",
        "scale": 0.5,
        "optimizer": "adam",
        "schedule.warmup": 100,
        "schedule.decay": 0.9,
        "config.depth": 4,
        "config.out": "/tmp/out",
        "path": "x",
    }


def test_unsupported_argument_types_are_stored_as_repr_with_a_warning(repo: Repo) -> None:
    @modelsync.track
    def train(callback: object) -> None:
        pass

    with pytest.warns(TrackingWarning, match="stored as their repr"):
        train(print)
    assert runs.get_params(repo, _only_run(repo).name) == {"callback": repr(print)}


def test_nested_tracked_calls_are_child_runs(repo: Repo) -> None:
    @modelsync.track(name="fold")
    def fold(k: int) -> dict[str, float]:
        return {"score": float(k)}

    @modelsync.track(name="cv")
    def cross_validate(folds: int) -> None:
        for k in range(folds):
            fold(k)

    cross_validate(3)
    children = runs.list_runs(repo, parent="cv")
    assert sorted(run.name for run in children) == ["fold", "fold-2", "fold-3"]
    assert runs.get_run(repo, "cv").parent is None


def test_async_functions_are_tracked_and_keep_their_run_across_awaits(repo: Repo) -> None:
    @modelsync.track(name="async-train")
    async def train(steps: int = 3) -> dict[str, float]:
        for step in range(steps):
            await asyncio.sleep(0)
            modelsync.log({"loss": float(step)})
        return {"done": 1.0}

    assert inspect.iscoroutinefunction(train)
    assert asyncio.run(train()) == {"done": 1.0}
    info = runs.get_run(repo, "async-train")
    assert info.status == "finished" and info.metrics == {"loss": 2.0, "done": 1.0}


def test_concurrent_async_runs_each_log_to_their_own_run(repo: Repo) -> None:
    @modelsync.track(name="task")
    async def train(value: float) -> None:
        for _ in range(5):
            modelsync.log({"value": value})
            await asyncio.sleep(0)

    async def both() -> None:
        await asyncio.gather(train(1.0), train(2.0))

    asyncio.run(both())
    for name in ("task", "task-2"):
        values = {p.value for p in runs.metric_series(repo, name, "value")}
        assert len(values) == 1 and len(runs.metric_series(repo, name, "value")) == 5


def test_async_failure_marks_the_run_failed(repo: Repo) -> None:
    @modelsync.track(name="async-boom")
    async def train() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(train())
    assert runs.get_run(repo, "async-boom").status == "failed"


def test_without_a_repository_the_function_runs_untracked_after_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    @modelsync.track
    def train() -> int:
        modelsync.log({"loss": 1.0})
        modelsync.log_params({"lr": 0.1})
        return 42

    with pytest.warns(TrackingWarning, match="not tracked: not a modelsync repository"):
        assert train() == 42


def test_with_strict_a_missing_repository_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    @modelsync.track(strict=True)
    def train() -> int:
        return 42

    with pytest.raises(modelsync.ModelSyncError, match="not a modelsync repository"):
        train()


def test_a_call_that_does_not_bind_raises_the_functions_own_error(repo: Repo) -> None:
    @modelsync.track
    def train(lr: float) -> None:
        pass

    with pytest.raises(TypeError, match="lr"):
        train()  # type: ignore[call-arg]
    assert runs.list_runs(repo) == []


def test_bad_metrics_inside_a_tracked_function_warn_and_mark_the_run(repo: Repo) -> None:
    @modelsync.track
    def train() -> None:
        modelsync.log({"loss": 0.5, "note": "fine"})

    with pytest.warns(TrackingWarning, match="'note'"):
        train()
    info = _only_run(repo)
    assert info.status == "finished" and len(info.problems) == 1
    assert [p.value for p in runs.metric_series(repo, info.name, "loss")] == [0.5]


def test_the_decorated_function_keeps_its_name_and_signature() -> None:
    @modelsync.track(name="x")
    def train(lr: float = 0.1) -> None:
        """Train."""

    assert train.__name__ == "train" and train.__doc__ == "Train."
    assert list(inspect.signature(train).parameters) == ["lr"]
