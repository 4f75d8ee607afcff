"""Which run a fit records into, and what it records about the fit before the first step."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import modelsync
from modelsync import adapters

if TYPE_CHECKING:
    from ._compat import pl


@dataclass(frozen=True)
class RunSettings:
    """Where a fit's run lives: the repository, its name, and the revision it continues."""

    repo: adapters.RepoLike = None
    run_name: str | None = None
    resume: str | None = None
    strict: bool = False

    def or_else(self, fallback: RunSettings) -> RunSettings:
        """These settings, with what they leave unset taken from ``fallback``."""
        return RunSettings(
            repo=self.repo if self.repo is not None else fallback.repo,
            run_name=self.run_name if self.run_name is not None else fallback.run_name,
            resume=self.resume if self.resume is not None else fallback.resume,
            strict=self.strict or fallback.strict,
        )


def open_run(settings: RunSettings, entrypoint: str) -> modelsync.Run:
    """Start the run ``settings`` describe: a new one (a taken ``run_name`` gets a suffix:
    ``name-2``), or with ``resume``, the run it names continued or a new one forked from it
    (see ``adapters.resume_or_fork``)."""
    options: dict[str, Any] = {
        "repo": settings.repo,
        "strict": settings.strict,
        "entrypoint": entrypoint,
    }
    if settings.resume is None:
        return modelsync.start_run(settings.run_name, unique_name=True, **options)
    return adapters.resume_or_fork(settings.resume, settings.run_name, **options)


def fit_params(trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, Any]:
    """The module's hyperparameters, the datamodule's (``datamodule.*``), the trainer's
    settings (``trainer.*``) and the parameter counts (``model_summary.*``)."""
    params: dict[str, Any] = dict(module.hparams)
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is not None and datamodule.hparams:
        params["datamodule"] = dict(datamodule.hparams)
    params["trainer"] = _trainer_settings(trainer)
    params["model_summary"] = _parameter_counts(module)
    return params


def _trainer_settings(trainer: pl.Trainer) -> dict[str, Any]:
    seed = os.environ.get("PL_GLOBAL_SEED")
    return {
        "max_epochs": trainer.max_epochs,
        "max_steps": trainer.max_steps,
        "precision": trainer.precision,
        "strategy": type(trainer.strategy).__name__,
        "accelerator": type(trainer.accelerator).__name__,
        "devices": trainer.num_devices,
        "num_nodes": trainer.num_nodes,
        "accumulate_grad_batches": trainer.accumulate_grad_batches,
        "gradient_clip_val": trainer.gradient_clip_val,
        "gradient_clip_algorithm": _plain(trainer.gradient_clip_algorithm),
        "seed": int(seed) if seed is not None and seed.lstrip("-").isdigit() else seed,
    }


def _plain(value: object) -> object:
    """An enum's value (Lightning's settings are ``str`` enums), anything else as it is."""
    return getattr(value, "value", value)


def _parameter_counts(module: pl.LightningModule) -> Mapping[str, Any]:
    import torch

    total = trainable = 0
    for parameter in module.parameters():
        if isinstance(parameter, torch.nn.parameter.UninitializedParameter):
            continue
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return {
        "class": f"{type(module).__module__}.{type(module).__qualname__}",
        "total_params": total,
        "trainable_params": trainable,
        "frozen_params": total - trainable,
    }
