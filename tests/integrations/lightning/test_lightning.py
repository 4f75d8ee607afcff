"""``ModelSyncCallback``, ``ModelSyncLogger`` and ``ModelSyncCheckpointIO`` with a real Trainer."""

from __future__ import annotations

import csv
import signal
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import modelsync  # noqa: E402
from modelsync.checkpoints import load_checkpoint  # noqa: E402
from modelsync.errors import TrackingError, TrackingWarning  # noqa: E402
from modelsync.integrations.lightning import (  # noqa: E402
    ModelSyncCallback,
    ModelSyncCheckpointIO,
    ModelSyncLogger,
)
from modelsync.integrations.lightning._compat import pl  # noqa: E402
from modelsync.repo.repository import Repo  # noqa: E402
from modelsync.runs import read as runs  # noqa: E402
from tests.support.lightning_models import (  # noqa: E402
    DigitsData,
    DigitsMLP,
    ScoredBoringModel,
    trainer,
)

pytestmark = [
    pytest.mark.slow,
    # Lightning's own pytree helper calls an API torch deprecated; nothing of ours.
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*is deprecated:FutureWarning"),
    # The tests load data in the main process on purpose (num_workers=0): small and quick.
    pytest.mark.filterwarnings("ignore:The '.*dataloader' does not have many workers"),
    # CPU trainers on a machine that also has a GPU.
    pytest.mark.filterwarnings("ignore:GPU available but not used"),
]


def fit_digits(
    root: Path,
    callback: ModelSyncCallback,
    model: pl.LightningModule | None = None,
    **options: Any,
) -> Any:
    pl.seed_everything(3, verbose=False)
    run = trainer(root, callbacks=[callback, *options.pop("callbacks", [])], **options)
    run.fit(model or DigitsMLP(), datamodule=DigitsData())
    return run


def checkpoint_commits(repo: Repo, name: str) -> list[str]:
    return [model.commit for model in runs.list_checkpoints(repo, name)]


class Raise(pl.Callback):
    """Raises ``error`` when epoch ``epoch`` starts."""

    def __init__(self, epoch: int, error: BaseException) -> None:
        self.epoch = epoch
        self.error = error

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.current_epoch == self.epoch:
            raise self.error


# ------------------------------------------------------------------------- what a fit records
def test_a_fit_records_hyperparameters_trainer_settings_and_parameter_counts(
    repo: Repo, tmp_path: Path
) -> None:
    callback = ModelSyncCallback(run_name="digits")
    fit_digits(tmp_path, callback, DigitsMLP(hidden=16, freeze_first=True), max_epochs=1)
    params = runs.get_params(repo, "digits")
    assert (params["hidden"], params["lr"], params["freeze_first"]) == (16, 0.05, True)
    assert params["datamodule.batch_size"] == 64
    assert params["trainer.max_epochs"] == 1
    assert params["trainer.precision"] == "32-true"
    assert params["trainer.accelerator"] == "CPUAccelerator"
    assert params["trainer.devices"] == 1
    assert params["trainer.accumulate_grad_batches"] == 1
    assert params["trainer.seed"] == 3
    frozen = 64 * 16 + 16
    assert params["model_summary.total_params"] == frozen + 16 * 10 + 10
    assert params["model_summary.frozen_params"] == frozen
    assert params["model_summary.trainable_params"] == 16 * 10 + 10
    info = runs.get_run(repo, "digits")
    assert info.status == "finished"
    assert info.entrypoint == "tests.support.lightning_models.DigitsMLP.fit"


def test_logged_metrics_reach_the_run_with_the_steps_other_loggers_get(
    repo: Repo, tmp_path: Path
) -> None:
    csv_logger = pl.loggers.CSVLogger(tmp_path / "csv", name="digits")
    fit_digits(tmp_path, ModelSyncCallback(run_name="metrics"), logger=csv_logger)
    with open(Path(csv_logger.log_dir) / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    for key in ("train_loss_step", "train_loss_epoch", "val_loss", "val_acc"):
        expected = [(int(row["step"]), float(row[key])) for row in rows if row[key]]
        series = runs.metric_series(repo, "metrics", key)
        assert [(point.step, point.value) for point in series] == expected, key
    assert len(runs.metric_series(repo, "metrics", "train_loss_step")) == 8
    assert len(runs.metric_series(repo, "metrics", "val_loss")) == 2


def test_each_epoch_commits_the_checkpoint_trainer_save_checkpoint_writes(
    repo: Repo, tmp_path: Path
) -> None:
    class SaveLikeLightning(pl.Callback):
        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            trainer.save_checkpoint(tmp_path / f"epoch{trainer.current_epoch}.ckpt")

    fit_digits(tmp_path, ModelSyncCallback(run_name="epochs"), callbacks=[SaveLikeLightning()])
    listed = runs.list_checkpoints(repo, "epochs")
    assert [(model.epoch, model.step) for model in listed] == [(0, 4), (1, 8)]
    for epoch, model in enumerate(listed):
        ours = load_checkpoint(repo, model.commit)
        theirs = torch.load(tmp_path / f"epoch{epoch}.ckpt", weights_only=True)
        assert ours.keys() == theirs.keys()
        assert (ours["epoch"], ours["global_step"], ours["loops"]) == (
            theirs["epoch"],
            theirs["global_step"],
            theirs["loops"],
        )
        for key, tensor in theirs["state_dict"].items():
            assert torch.equal(ours["state_dict"][key], tensor), key
        momentum = theirs["optimizer_states"][0]["state"]
        for index, state in momentum.items():
            mine = ours["optimizer_states"][0]["state"][index]["momentum_buffer"]
            assert torch.equal(mine, state["momentum_buffer"])


def test_the_monitored_best_commit_is_tagged_best_and_the_latest_last(
    repo: Repo, tmp_path: Path
) -> None:
    callback = ModelSyncCallback(run_name="tagged", monitor="val_loss")
    fit_digits(tmp_path, callback, DigitsMLP(lr=0.5), max_epochs=3)
    commits = checkpoint_commits(repo, "tagged")
    losses = [point.value for point in runs.metric_series(repo, "tagged", "val_loss")]
    best = commits[losses.index(min(losses))]
    assert repo.resolve("runs/tagged@best") == repo.resolve("tagged@best") == best
    assert repo.resolve("runs/tagged@last") == commits[-1]
    assert (callback.best_commit, callback.last_commit) == (best, commits[-1])
    assert callback.best_score == pytest.approx(min(losses))


def test_a_snapshot_every_n_train_steps_and_every_n_epochs(repo: Repo, tmp_path: Path) -> None:
    callback = ModelSyncCallback(run_name="steps", every_n_epochs=2, every_n_train_steps=3)
    fit_digits(tmp_path, callback, max_epochs=2)
    assert [model.step for model in runs.list_checkpoints(repo, "steps")] == [3, 6, 8]


def test_save_weights_only_commits_the_weights_and_loops_alone(repo: Repo, tmp_path: Path) -> None:
    fit_digits(tmp_path, ModelSyncCallback(run_name="light", save_weights_only=True), max_epochs=1)
    stored = load_checkpoint(repo, "light@last")
    assert "optimizer_states" not in stored and "callbacks" not in stored
    assert {"state_dict", "loops", "global_step"} <= stored.keys()


def test_a_synchronous_writer_commits_the_same_history(repo: Repo, tmp_path: Path) -> None:
    fit_digits(tmp_path, ModelSyncCallback(run_name="sync", async_write=False))
    assert [model.step for model in runs.list_checkpoints(repo, "sync")] == [4, 8]


def test_fast_dev_run_and_sanity_checking_never_commit(repo: Repo, tmp_path: Path) -> None:
    quick = ModelSyncCallback(run_name="quick")
    fit_digits(tmp_path, quick, fast_dev_run=True)
    assert runs.list_runs(repo) == [] and quick.run_name is None
    checked = ModelSyncCallback(run_name="checked")
    fit_digits(tmp_path, checked, max_epochs=1, num_sanity_val_steps=2)
    assert [model.step for model in runs.list_checkpoints(repo, "checked")] == [4]


# --------------------------------------------------------------------------------- resuming
def test_resuming_from_a_commit_trains_like_resuming_from_lightnings_own_ckpt(
    repo: Repo, tmp_path: Path
) -> None:
    lightning_ckpt = tmp_path / "epoch0.ckpt"

    class SaveFirstEpoch(pl.Callback):
        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.current_epoch == 0:
                trainer.save_checkpoint(lightning_ckpt)

    pl.seed_everything(7, verbose=False)
    callbacks = [ModelSyncCallback(run_name="boring"), SaveFirstEpoch()]
    trainer(tmp_path / "a", callbacks=callbacks).fit(ScoredBoringModel())
    first_epoch = checkpoint_commits(repo, "boring")[0]

    def resume(name: str, ckpt_path: Path) -> tuple[dict[str, Any], int]:
        pl.seed_everything(11, verbose=False)
        model = ScoredBoringModel()
        run = trainer(tmp_path / name, max_epochs=3, callbacks=[ModelSyncCallback(run_name=name)])
        run.fit(model, ckpt_path=ckpt_path)
        return model.state_dict(), run.global_step

    ours = resume("from-ours", modelsync.checkpoint_path(first_epoch))
    theirs = resume("from-lightning", lightning_ckpt)
    assert ours[1] == theirs[1] == 12
    for key, tensor in theirs[0].items():
        assert torch.equal(ours[0][key], tensor), key


def test_resume_continues_the_same_run_branch_from_its_last_commit(
    repo: Repo, tmp_path: Path
) -> None:
    first = ModelSyncCallback(run_name="long", monitor="val_loss")
    fit_digits(tmp_path, first)
    before = checkpoint_commits(repo, "long")
    again = ModelSyncCallback(resume="runs/long", monitor="val_loss")
    pl.seed_everything(3, verbose=False)
    resumed = trainer(tmp_path, max_epochs=3, callbacks=[again])
    resumed.fit(DigitsMLP(), datamodule=DigitsData(), ckpt_path=again.ckpt_path)
    after = checkpoint_commits(repo, "long")
    assert after[:2] == before and len(after) == 3
    assert [model.step for model in runs.list_checkpoints(repo, "long")] == [4, 8, 12]
    assert [run.name for run in runs.list_runs(repo)] == ["long"]
    assert runs.get_run(repo, "long").status == "finished"
    assert [p.step for p in runs.metric_series(repo, "long", "val_loss")] == [3, 7, 11]
    assert repo.resolve("long@last") == after[-1]


class EpochScored(DigitsMLP):
    """Scores each validation by its epoch: with ``mode="min"`` the first epoch stays best."""

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        self.log("score", float(self.current_epoch))


def test_the_best_score_carries_over_through_the_callbacks_state(
    repo: Repo, tmp_path: Path
) -> None:
    first = ModelSyncCallback(run_name="state", monitor="score")
    fit_digits(tmp_path, first, EpochScored())
    assert first.state_dict() == {
        "run": "state",
        "monitor": "score",
        "mode": "min",
        "best_score": 0,
    }
    again = ModelSyncCallback(resume="state", monitor="score")
    pl.seed_everything(3, verbose=False)
    resumed = trainer(tmp_path, max_epochs=3, callbacks=[again])
    resumed.fit(EpochScored(), datamodule=DigitsData(), ckpt_path=again.ckpt_path)
    assert again.best_score == 0 and again.best_commit is None
    assert repo.resolve("state@best") == first.best_commit == checkpoint_commits(repo, "state")[0]
    assert repo.resolve("state@last") == again.last_commit == checkpoint_commits(repo, "state")[2]


def test_resume_with_a_new_name_forks_a_branch_from_the_commit(repo: Repo, tmp_path: Path) -> None:
    fit_digits(tmp_path, ModelSyncCallback(run_name="base", monitor="val_loss"))
    base_head = repo.resolve("base")
    best = repo.resolve("base@best")
    fork = ModelSyncCallback(resume="runs/base@best", run_name="base-ft", monitor="val_loss")
    pl.seed_everything(3, verbose=False)
    tuned = trainer(tmp_path, max_epochs=3, callbacks=[fork])
    tuned.fit(DigitsMLP(lr=0.01), datamodule=DigitsData(), ckpt_path=fork.ckpt_path)
    assert repo.resolve("base") == base_head
    assert runs.get_run(repo, "base-ft").parent == "base"
    history = [oid for oid, _ in repo.log("base-ft")]
    assert best in history
    start = history[history.index(best) - 1]
    assert repo.read_commit(start).parents == (best,)
    assert repo.read_commit(start).meta["run"] == "base-ft"
    assert runs.get_params(repo, "base-ft")["lr"] == 0.01
    assert repo.resolve("base-ft@last") == checkpoint_commits(repo, "base-ft")[-1]


# --------------------------------------------------------------------------------- failures
def test_an_exception_marks_the_run_failed_and_keeps_its_commits(
    repo: Repo, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError, match="diverged"):
        fit_digits(
            tmp_path,
            ModelSyncCallback(run_name="broken"),
            max_epochs=3,
            callbacks=[Raise(1, RuntimeError("diverged"))],
        )
    info = runs.get_run(repo, "broken")
    assert info.status == "failed"
    assert "RuntimeError: diverged" in (info.error or "")
    assert [model.step for model in runs.list_checkpoints(repo, "broken")] == [4]


def test_an_interrupt_marks_the_run_interrupted(repo: Repo, tmp_path: Path) -> None:
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):
            fit_digits(
                tmp_path,
                ModelSyncCallback(run_name="stopped"),
                callbacks=[Raise(1, KeyboardInterrupt())],
            )
    finally:
        signal.signal(signal.SIGINT, handler)
    assert runs.get_run(repo, "stopped").status == "interrupted"
    assert len(runs.list_checkpoints(repo, "stopped")) == 1


class BreakTheStore(pl.Callback):
    """Makes the object store unwritable once the first epoch's snapshot is committed."""

    def __init__(self, repo: Repo, callback: ModelSyncCallback) -> None:
        self.objects = repo.control_dir / "objects"
        self.callback = callback

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.current_epoch == 1 and self.callback.run is not None:
            self.callback.run.wait()
            self.objects.rename(self.objects.with_name("objects.away"))
            self.objects.write_bytes(b"")

    def repair(self) -> None:
        self.objects.unlink()
        self.objects.with_name("objects.away").rename(self.objects)


def test_a_writer_failure_is_a_warning_and_training_goes_on(repo: Repo, tmp_path: Path) -> None:
    callback = ModelSyncCallback(run_name="unlucky")
    breaker = BreakTheStore(repo, callback)
    with pytest.warns(TrackingWarning) as caught:
        fitted = fit_digits(tmp_path, callback, callbacks=[breaker])
    breaker.repair()
    assert fitted.state.finished and fitted.global_step == 8
    assert any("run 'unlucky' could not commit" in str(w.message) for w in caught)
    assert [model.step for model in runs.list_checkpoints(repo, "unlucky")] == [4]


def test_a_writer_failure_stops_a_strict_fit(repo: Repo, tmp_path: Path) -> None:
    callback = ModelSyncCallback(run_name="strict", strict=True)
    breaker = BreakTheStore(repo, callback)
    with pytest.raises(TrackingError, match="checkpoint at step 8: run 'strict' could not"):
        fit_digits(tmp_path, callback, callbacks=[breaker])
    breaker.repair()
    assert [model.step for model in runs.list_checkpoints(repo, "strict")] == [4]


def test_without_a_repository_the_fit_goes_on_untracked(tmp_path: Path) -> None:
    callback = ModelSyncCallback(repo=tmp_path / "nowhere")
    with pytest.warns(TrackingWarning, match="this fit is not tracked"):
        fitted = fit_digits(tmp_path, callback, max_epochs=1)
    assert fitted.global_step == 4 and callback.run_name is None


# ------------------------------------------------------------------ logger and checkpoint IO
def test_the_callback_and_the_logger_share_one_run(repo: Repo, tmp_path: Path) -> None:
    logger = ModelSyncLogger(run_name="shared")
    callback = ModelSyncCallback(monitor="val_loss")
    fit_digits(tmp_path, callback, logger=logger)
    assert [run.name for run in runs.list_runs(repo)] == ["shared"]
    assert callback.run_name == logger.version == "shared"
    assert len(runs.metric_series(repo, "shared", "train_loss_step")) == 8
    assert len(runs.list_checkpoints(repo, "shared")) == 2
    assert runs.get_run(repo, "shared").status == "finished"


def test_the_logger_alone_records_hyperparameters_and_metrics(repo: Repo, tmp_path: Path) -> None:
    logger = ModelSyncLogger(run_name="logged")
    pl.seed_everything(3, verbose=False)
    fitted = trainer(tmp_path, logger=logger)
    model = DigitsMLP(hidden=8)
    fitted.fit(model, datamodule=DigitsData())
    assert runs.get_run(repo, "logged").status == "finished"
    assert runs.get_params(repo, "logged") == {
        "hidden": 8,
        "lr": 0.05,
        "freeze_first": False,
        "batch_size": 64,
    }
    assert len(runs.metric_series(repo, "logged", "val_acc")) == 2
    assert runs.list_checkpoints(repo, "logged") == []
    fitted.validate(model, datamodule=DigitsData())
    assert len(runs.metric_series(repo, "logged", "val_acc")) == 3
    assert runs.get_run(repo, "logged").status == "finished"


# The resumed ModelCheckpoint saves under a directory of its own, and says so.
@pytest.mark.filterwarnings("ignore:The dirpath has changed:UserWarning")
def test_checkpoint_io_stores_modelcheckpoints_files_and_reads_them_back(
    repo: Repo, tmp_path: Path
) -> None:
    saver = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpts", save_top_k=-1, save_last=True)
    model = DigitsMLP()
    pl.seed_everything(3, verbose=False)
    fitted = trainer(
        tmp_path,
        callbacks=[saver],
        enable_checkpointing=True,
        plugins=[ModelSyncCheckpointIO()],
    )
    fitted.fit(model, datamodule=DigitsData())
    files = sorted(path.name for path in (tmp_path / "ckpts").iterdir())
    assert files == ["epoch=0-step=4.ckpt", "epoch=1-step=8.ckpt", "last.ckpt"]
    assert all((tmp_path / "ckpts" / name).stat().st_size < 512 for name in files)
    assert len(repo.log("lightning-checkpoints")) == 4
    loaded = ModelSyncCheckpointIO().load_checkpoint(saver.last_model_path)
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded["state_dict"][key], tensor), key
    assert loaded["global_step"] == 8
    again = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "more", save_top_k=-1, save_last=True)
    resumed = trainer(
        tmp_path,
        max_epochs=3,
        callbacks=[again],
        enable_checkpointing=True,
        plugins=[ModelSyncCheckpointIO()],
    )
    resumed.fit(DigitsMLP(), datamodule=DigitsData(), ckpt_path=saver.last_model_path)
    assert resumed.global_step == 12


def test_checkpoint_io_commits_into_the_callbacks_run(repo: Repo, tmp_path: Path) -> None:
    saver = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpts", save_top_k=-1)
    fit_digits(
        tmp_path,
        ModelSyncCallback(run_name="both"),
        callbacks=[saver],
        enable_checkpointing=True,
        plugins=[ModelSyncCheckpointIO()],
    )
    messages = [commit.message for _, commit in repo.log("both")]
    assert "checkpoint epoch=1-step=8.ckpt" in messages
    assert "checkpoint epoch=0-step=4.ckpt" in messages
    assert "lightning-checkpoints" not in repo.branches()


def test_works_beside_lightnings_own_callbacks_and_loggers(repo: Repo, tmp_path: Path) -> None:
    callbacks = [
        pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpts", monitor="val_loss"),
        pl.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0),
        pl.callbacks.LearningRateMonitor(logging_interval="step"),
    ]
    csv_logger = pl.loggers.CSVLogger(tmp_path / "csv")
    fitted = fit_digits(
        tmp_path,
        ModelSyncCallback(run_name="beside"),
        max_epochs=5,
        callbacks=callbacks,
        logger=csv_logger,
        enable_checkpointing=True,
    )
    assert fitted.current_epoch == 2
    assert len(runs.list_checkpoints(repo, "beside")) == 2
    assert [p.value for p in runs.metric_series(repo, "beside", "lr-SGD")] == [0.05] * 8
    assert len(list((tmp_path / "ckpts").iterdir())) == 1
    assert runs.get_run(repo, "beside").status == "finished"
