"""The one training loop shared by every recipe: stateful truncated BPTT over parallel
streams, clipping, optimizers and schedules, checkpoints, metrics and distributed runs."""

from rnnkit.errors import CheckpointError, ConfigError, DataError, RnnkitError
from rnnkit.train.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from rnnkit.train.loop import FitResult, Trainer

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataConfig",
    "DataError",
    "FitResult",
    "ModelConfig",
    "RnnkitError",
    "RunConfig",
    "TrainConfig",
    "Trainer",
]
