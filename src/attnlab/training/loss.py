"""Losses for the trainer: token-level cross-entropy with padding and label smoothing, and accuracy.

Label smoothing (Szegedy et al. 2016) trains against ``(1 - eps) * one_hot + eps / V``; per token the
loss is ``(1 - eps) * (-log p[target]) + eps * mean_v(-log p[v])``. Positions whose target is
``ignore_index`` (padding, or a prompt the model is given) count neither in the loss nor in the mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE_INDEX = -100


def token_cross_entropy(
    logits: Tensor,
    target: Tensor,
    ignore_index: int = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Cross-entropy of ``logits (..., V)`` against integer ``target (...)``, mean over real tokens.

    A batch with no real token gives 0 (not NaN) so a fully padded shard cannot poison the gradients.
    """
    if logits.shape[:-1] != target.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and target {tuple(target.shape)}: expected (..., V) and (...)"
        )
    flat_logits, flat_target = logits.reshape(-1, logits.shape[-1]), target.reshape(-1)  # (N, V), (N,)
    losses = F.cross_entropy(
        flat_logits.float(),
        flat_target,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction="none",
    )  # (N,), zero at ignored positions
    if reduction == "none":
        return losses.view(target.shape)
    if reduction == "sum":
        return losses.sum()
    if reduction != "mean":
        raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")
    count = (flat_target != ignore_index).sum()
    return losses.sum() / count.clamp_min(1)


def smoothed_nll_reference(
    logits: Tensor, target: Tensor, eps: float, ignore_index: int = IGNORE_INDEX
) -> Tensor:
    """The label-smoothing formula written out (an oracle for :func:`token_cross_entropy`)."""
    logp = torch.log_softmax(logits.double(), dim=-1)  # (..., V)
    keep = target != ignore_index
    safe = target.clamp_min(0)
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (...)
    uniform = -logp.mean(-1)  # (...)
    per_token = (1 - eps) * nll + eps * uniform
    return (per_token * keep).sum() / keep.sum().clamp_min(1)


def token_accuracy(logits: Tensor, target: Tensor, ignore_index: int = IGNORE_INDEX) -> float:
    """Fraction of real (non-ignored) positions where the arg-max is the target."""
    keep = target != ignore_index
    hits = (logits.argmax(-1) == target) & keep
    return (hits.sum() / keep.sum().clamp_min(1)).item()


def sequence_loss(
    logits: Tensor, target: Tensor, label_smoothing: float = 0.0, ignore_index: int = IGNORE_INDEX
) -> tuple[Tensor, dict[str, float]]:
    """``(loss, {"token_acc": ...})`` for next-token / seq2seq outputs ``logits (B, L, V)``."""
    loss = token_cross_entropy(logits, target, ignore_index, label_smoothing)
    return loss, {"token_acc": token_accuracy(logits.detach(), target, ignore_index)}


def classification_loss(
    logits: Tensor, labels: Tensor, label_smoothing: float = 0.0
) -> tuple[Tensor, dict[str, float]]:
    """``(loss, {"accuracy": ...})`` for class scores ``logits (B, C)`` and ``labels (B,)``."""
    loss = token_cross_entropy(logits, labels, label_smoothing=label_smoothing)
    return loss, {"accuracy": token_accuracy(logits.detach(), labels)}
