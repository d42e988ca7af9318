"""What the trainer needs from a task: deterministic batches, a loss, and optionally an evaluation.

The trainer knows nothing about models or data. It asks a :class:`Task` for training batch number
``step`` and for the loss of a model on it. Because a batch is a pure function of ``(seed, step)``,
the *data position* of a run is just its step: a resumed run asks for batch ``step`` and gets exactly
the examples the uninterrupted run saw, with no iterator state to save. Sources that do keep state
may expose ``state_dict()`` / ``load_state_dict(d)`` (JSON values); the trainer saves it too.

:class:`EpochSampler` turns a finite dataset into such a source: each epoch is a fresh permutation
seeded by ``(seed, epoch)``, and ``(epoch, offset)`` follow from ``step * batch_size``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn


@runtime_checkable
class Task(Protocol):
    """A training task as the trainer sees it.

    ``batch(step, batch_size)`` returns the global batch for update ``step`` (deterministic in its
    arguments: tensors, or dicts/tuples/lists of tensors with the batch on dim 0).
    ``loss(model, batch)`` returns ``(scalar loss, {metric name: float})``; if it accepts a
    ``label_smoothing`` keyword, the trainer passes ``TrainConfig.label_smoothing``.
    Optional: ``evaluate(model) -> {metric name: float}`` (held-out data, called in eval mode without
    gradients), ``tokens(batch) -> int`` (real tokens in a batch, for tokens/s), and
    ``state_dict()`` / ``load_state_dict(state)`` for sources with state.
    """

    def batch(self, step: int, batch_size: int) -> Any: ...

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, float]]: ...


class FunctionTask:
    """A :class:`Task` from plain functions: ``batch_fn(step, batch_size)``, ``loss_fn(model, batch)``
    and an optional ``eval_fn(model)``."""

    def __init__(
        self,
        batch_fn: Callable[[int, int], Any],
        loss_fn: Callable[..., tuple[Tensor, dict[str, float]]],
        eval_fn: Callable[[nn.Module], dict[str, float]] | None = None,
        tokens_fn: Callable[[Any], int] | None = None,
    ):
        self.batch_fn, self.loss_fn = batch_fn, loss_fn
        if eval_fn is not None:
            self.evaluate = eval_fn
        if tokens_fn is not None:
            self.tokens = tokens_fn

    def batch(self, step: int, batch_size: int) -> Any:
        return self.batch_fn(step, batch_size)

    def loss(self, model: nn.Module, batch: Any, **kwargs) -> tuple[Tensor, dict[str, float]]:
        return self.loss_fn(model, batch, **kwargs)


class EpochSampler:
    """Indices into a dataset of ``n`` examples, shuffled afresh every epoch, addressed by step.

    ``indices(step, batch_size)`` is the batch of update ``step``: positions
    ``[step * batch_size, (step + 1) * batch_size)`` of the endless stream made by concatenating
    epoch permutations, each drawn from ``random.Random(f"{seed}/{epoch}")`` (a batch may straddle
    two epochs). Nothing but ``step`` needs saving to resume mid-epoch.
    """

    def __init__(self, n: int, seed: int = 0):
        if n < 1:
            raise ValueError(f"n: expected >= 1, got {n}")
        self.n, self.seed = n, seed
        self._cache: dict[int, list[int]] = {}

    def permutation(self, epoch: int) -> list[int]:
        if epoch not in self._cache:
            order = list(range(self.n))
            random.Random(f"{self.seed}/{epoch}").shuffle(order)
            self._cache = {epoch: order}  # batches move forward: one epoch in memory is enough
        return self._cache[epoch]

    def position(self, step: int, batch_size: int) -> tuple[int, int]:
        """``(epoch, offset within the epoch)`` of the first example of batch ``step``."""
        return divmod(step * batch_size, self.n)

    def indices(self, step: int, batch_size: int) -> list[int]:
        start = step * batch_size
        return [self.permutation(i // self.n)[i % self.n] for i in range(start, start + batch_size)]
