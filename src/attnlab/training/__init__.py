"""Training: one trainer for every model and task, safe checkpoints, bit-identical resume, DDP.

See docs/training.md. The pieces:

- :class:`TrainConfig` (``config``): every setting, with a JSON round trip;
- :class:`Trainer` (``trainer``): the loop; takes any ``nn.Module`` and a :class:`Task`;
- :class:`Task`, :class:`FunctionTask`, :class:`EpochSampler` (``protocols``): what a task provides;
- ``schedules``: warmup + cosine / inverse square root / constant learning rates;
- ``loss``: token-level cross-entropy with padding and label smoothing, accuracy helpers;
- ``checkpoint`` and ``run_folder``: safetensors + JSON checkpoints, written atomically, never pickled;
- ``distributed``: torchrun launch, process-group setup, batch sharding;
- ``metrics_log``: the JSON-lines log and its reader for plots; ``seed``: seeds and RNG state.
"""

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_model_weights, save_checkpoint
from .config import TrainConfig
from .distributed import launch, shard_batch
from .loss import classification_loss, sequence_loss, token_cross_entropy
from .metrics_log import MetricsLog, metric_series, read_metrics
from .protocols import EpochSampler, FunctionTask, Task
from .run_folder import latest_checkpoint, resolve_checkpoint
from .schedules import lr_factor, make_scheduler
from .seed import seed_everything
from .trainer import Trainer, TrainResult

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "EpochSampler",
    "FunctionTask",
    "MetricsLog",
    "Task",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "classification_loss",
    "latest_checkpoint",
    "launch",
    "load_checkpoint",
    "load_model_weights",
    "lr_factor",
    "make_scheduler",
    "metric_series",
    "read_metrics",
    "resolve_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "sequence_loss",
    "shard_batch",
    "token_cross_entropy",
]
