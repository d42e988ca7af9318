"""A short, deterministic training loop for experiments' small models (minutes on a laptop CPU).

Experiments train many tiny models for a fixed budget and compare them; they need no checkpoints or
resumption, so this loop is deliberately minimal: AdamW, linear warmup, gradient clipping, a fixed
number of steps, and the loss curve returned for plotting. ``attnlab train`` uses the full trainer.
Training never ends on the clock, so a seed's metrics do not depend on the machine's load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from attnlab.progress import progress


@dataclass
class FitLog:
    """What one ``fit`` did: the loss every step, steps taken, wall time and examples per second."""

    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    examples_per_s: float = 0.0


def batch_size(batch) -> int:
    """Examples in a batch: a tuple/list (first item), a dict (first tensor) or an object with len."""
    first = (
        next(iter(batch.values()))
        if isinstance(batch, dict)
        else batch[0]
        if isinstance(batch, (tuple, list))
        else batch
    )
    return len(first)


def fit(
    model: nn.Module,
    batch_fn: Callable[[int], tuple],
    loss_fn: Callable[[nn.Module, tuple], Tensor],
    steps: int,
    lr: float = 3e-3,
    warmup: int = 20,
    clip: float = 1.0,
    desc: str = "train",
    quiet: bool = False,
    after_step: Callable[[int], None] | None = None,
) -> FitLog:
    """Train ``model`` on ``batch_fn(step)`` for exactly ``steps`` steps.

    ``batch_fn`` must be deterministic in ``step`` (e.g. a task generator seeded with the step) so that
    two models compared in one experiment see the same data. ``after_step(steps_done)``, if given, runs
    after every optimiser step (e.g. to measure a held-out loss every few steps); it must leave the
    model in training mode.
    """
    if steps < 1:
        raise ValueError(f"steps: expected >= 1, got {steps}")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, warmup)))
    log, examples, start = FitLog(), 0, time.perf_counter()
    model.train()
    bar = progress(range(steps), desc=desc, leave=False, quiet=quiet)  # a bar, or log lines
    for step in bar:
        batch = batch_fn(step)
        loss = loss_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
        log.losses.append(loss.item())
        examples += batch_size(batch)
        log.steps = step + 1
        if after_step is not None:
            after_step(step + 1)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{log.losses[-1]:.3f}")
    log.seconds = time.perf_counter() - start
    log.examples_per_s = examples / max(log.seconds, 1e-9)
    model.eval()
    return log
