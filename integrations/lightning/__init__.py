"""PyTorch Lightning: one callback versions a whole fit (hyperparameters, metrics, checkpoints).

::

    from modelsync.integrations.lightning import ModelSyncCallback

    trainer = Trainer(callbacks=[ModelSyncCallback(monitor="val_loss")])
    trainer.fit(model)                     # a run: params, metrics, a commit per epoch
    trainer.fit(model, ckpt_path=modelsync.checkpoint_path("runs/<name>@best"))

    resumed = ModelSyncCallback(resume="runs/<name>")                 # the same run goes on
    forked = ModelSyncCallback(resume="runs/<name>@best", run_name="ft")   # a new branch
    Trainer(callbacks=[resumed]).fit(model, ckpt_path=resumed.ckpt_path)

``ModelSyncLogger`` records hyperparameters and metrics only; ``ModelSyncCheckpointIO`` stores
the checkpoints Lightning saves itself (``ModelCheckpoint``'s) in the repository. Used together,
they share the callback's run. Lightning comes from ``lightning.pytorch`` when that package is
installed, else from ``pytorch_lightning`` (the ``lightning`` extra).
"""

from ._callback import ModelSyncCallback
from ._checkpoint_io import ModelSyncCheckpointIO
from ._logger import ModelSyncLogger

__all__ = ["ModelSyncCallback", "ModelSyncCheckpointIO", "ModelSyncLogger"]
