"""Random seeds: set them all at once, and remember them so every run records them."""

from __future__ import annotations

import importlib.util
import os
import random

from ..errors import UsageError

MAX_SEED = 2**32 - 1
LIGHTNING_SEED_ENV = "PL_GLOBAL_SEED"

_seeds: dict[str, int] = {}


def seed_everything(seed: int) -> int:
    """Seed Python's ``random``, numpy and torch (CPU and CUDA) when installed; returns the seed.

    Also sets ``PL_GLOBAL_SEED`` as Lightning's ``seed_everything`` does, so Lightning's
    dataloader workers derive their seeds from it. Runs record the seed in their environment.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UsageError(f"a seed must be an integer from 0 to {MAX_SEED}, not {seed!r}")
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    os.environ[LIGHTNING_SEED_ENV] = str(seed)
    if importlib.util.find_spec("numpy") is not None:
        import numpy

        numpy.random.seed(seed)
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.manual_seed(seed)
    _seeds["modelsync"] = seed
    return seed


def recorded_seeds() -> dict[str, int]:
    """Seeds set in this process: through ``seed_everything`` here, or Lightning's."""
    seeds = dict(_seeds)
    lightning = os.environ.get(LIGHTNING_SEED_ENV)
    if lightning is not None and lightning.strip().lstrip("-").isdigit():
        value = int(lightning)
        if value != seeds.get("modelsync"):
            seeds["lightning"] = value
    return seeds
