"""Learning-rate schedules: linear warmup, then cosine decay, inverse square root, or constant.

Every schedule is a pure function of the step, so the learning rate of a resumed run is exactly the
rate of an uninterrupted one: nothing but the step number needs to be saved.

With ``t = step + 1`` (the number of the optimiser update, counting from 1) and ``w`` warmup steps:

- warmup (``t <= w``): ``factor = t / w``;
- ``"cosine"`` (Loshchilov & Hutter 2017, without restarts):
  ``factor = r + (1 - r) * (1 + cos(pi * p)) / 2`` with ``p = (t - 1 - w) / (max_steps - w)`` clipped
  to ``[0, 1]`` and ``r = min_lr_ratio``: the first update after warmup uses the full rate, and the
  rate would reach ``r * lr`` just after the last update (so no update is wasted at rate 0);
- ``"inverse_sqrt"`` (Vaswani et al. 2017, "Noam"): ``factor = sqrt(max(w, 1) / t)``; it meets the
  warmup line at ``t = w``, which is where the Transformer paper's ``min(t^-0.5, t * w^-1.5)`` peaks;
- ``"constant"``: ``factor = 1``.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from .config import SCHEDULES, TrainConfig


def lr_factor(
    step: int,
    schedule: str = "cosine",
    warmup_steps: int = 0,
    max_steps: int = 1000,
    min_lr_ratio: float = 0.0,
) -> float:
    """Multiplier of the base learning rate for the update made at 0-based ``step``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: expected one of {SCHEDULES}, got {schedule!r}")
    if step < 0:
        raise ValueError(f"step: expected >= 0, got {step}")
    t, w = step + 1, warmup_steps
    if t <= w:
        return t / w
    if schedule == "constant":
        return 1.0
    if schedule == "inverse_sqrt":
        return math.sqrt(max(w, 1) / t)
    progress = min(1.0, (t - 1 - w) / max(1, max_steps - w))
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def config_lr_factor(config: TrainConfig):
    """``step -> factor`` for a config (a closure over plain numbers, so it never needs pickling)."""
    schedule, w, n, r = config.schedule, config.warmup_steps, config.max_steps, config.min_lr_ratio
    return lambda step: lr_factor(step, schedule, w, n, r)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> LambdaLR:
    """A ``LambdaLR`` following :func:`lr_factor`; call ``step()`` after each ``optimizer.step()``."""
    return LambdaLR(optimizer, config_lr_factor(config))


def scheduler_state(scheduler: torch.optim.lr_scheduler.LRScheduler) -> dict:
    """The scheduler's state as JSON (its lambdas are rebuilt from the config, not saved)."""
    state = scheduler.state_dict()
    return {
        k: v for k, v in state.items() if k != "lr_lambdas" and isinstance(v, (int, float, bool, list, str))
    }


def load_scheduler_state(scheduler: torch.optim.lr_scheduler.LRScheduler, state: dict) -> None:
    """Restore :func:`scheduler_state` output (the lambdas stay those of the current config)."""
    full = scheduler.state_dict()
    full.update({k: v for k, v in state.items() if k in full and k != "lr_lambdas"})
    scheduler.load_state_dict(full)
