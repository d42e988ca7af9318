"""Attention with a choice of normaliser: soft, sparse, or hard (one position) — lesson 4.

``HardAttention`` scores the keys with an alignment function (:mod:`.alignment`) and turns the scores
into weights with one of

- ``softmax``: soft attention, ``c = Σ_j softmax(z)_j v_j`` (Bahdanau et al., 2015);
- ``sparsemax`` / ``entmax15``: sparse soft attention with exact zeros (Martins & Astudillo, 2016;
  Peters et al., 2019);
- ``gumbel``: hard attention trained with the straight-through Gumbel-softmax (Jang et al., 2017): the
  forward pass uses one position ``one_hot(argmax(z + g))``, the backward pass the softmax's gradient;
- ``reinforce``: stochastic hard attention of Xu et al. (2015, "Show, Attend and Tell") and Mnih et
  al. (2014, "Recurrent Models of Visual Attention"): sample ``a ~ softmax(z)``, attend to ``v_a``
  only. The context has no gradient to the scorer; the output's ``log_prob`` does, and
  :func:`reinforce_loss` turns it into the score-function (REINFORCE, Williams 1992) surrogate.

In eval mode ``gumbel`` and ``reinforce`` attend to ``argmax z`` (no noise), so evaluation is
deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..attention.normalizers import entmax15, gumbel_softmax, hard_sample, log_softmax, softmax, sparsemax
from .alignment import make_score

HARD_NORMALIZERS = ("softmax", "sparsemax", "entmax15", "gumbel", "reinforce")


@dataclass
class HardAttentionOutput:
    """What one attention step produced.

    context ``(B, Lq, Dv)``; weights ``(B, Lq, Lk)`` as used in the forward pass (one-hot rows for
    gumbel/reinforce); probs ``(B, Lq, Lk)``: the distribution the weights come from (softmax of the
    scores for gumbel/reinforce, the weights otherwise); log_prob and entropy ``(B, Lq)``: ``log π(a)``
    of the attended position and ``H(π)`` (reinforce only, else None).
    """

    context: Tensor
    weights: Tensor
    probs: Tensor
    log_prob: Tensor | None = None
    entropy: Tensor | None = None


def normalize_scores(
    scores: Tensor,
    normalizer: str,
    mask: Tensor | None = None,
    training: bool = True,
    tau: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """``(weights, probs, log_prob, entropy)`` of ``scores (..., Lk)`` under one of :data:`HARD_NORMALIZERS`.

    ``mask`` is bool, True = may attend, broadcastable to ``scores``.
    """
    if normalizer not in HARD_NORMALIZERS:
        raise ValueError(f"normalizer: expected one of {HARD_NORMALIZERS}, got {normalizer!r}")
    if normalizer in ("softmax", "sparsemax", "entmax15"):
        if normalizer == "softmax":
            hidden = scores if mask is None else scores.masked_fill(~mask, float("-inf"))
            weights = softmax(hidden, dim=-1)
        else:
            weights = (sparsemax if normalizer == "sparsemax" else entmax15)(scores, dim=-1, mask=mask)
        return weights, weights, None, None
    probs = softmax(scores if mask is None else scores.masked_fill(~mask, float("-inf")), dim=-1)
    if not training:  # deterministic: the most likely position
        live = probs.sum(-1, keepdim=True) > 0
        weights = torch.zeros_like(probs).scatter(-1, probs.argmax(-1, keepdim=True), 1.0) * live
        logp = log_softmax(scores, dim=-1, mask=mask)
        log_prob = (logp * weights).sum(-1) if normalizer == "reinforce" else None
        entropy = -(probs * logp).sum(-1) if normalizer == "reinforce" else None
        return weights, probs, log_prob, entropy
    if normalizer == "gumbel":
        return gumbel_softmax(scores, tau=tau, mask=mask, generator=generator), probs, None, None
    weights, log_prob, entropy = hard_sample(scores, mask=mask, generator=generator)
    return weights, probs, log_prob, entropy


class HardAttention(nn.Module):
    """Attention ``c = Σ_j w_j v_j`` whose weights ``w = N(score(q, k))`` use a chosen normaliser ``N``.

    Args:
        query_dim, key_dim: feature sizes of queries and keys (key_dim defaults to query_dim).
        normalizer: one of :data:`HARD_NORMALIZERS`.
        score: an alignment function name of :data:`attnlab.layers.SCORES` (default additive,
            ``v^T tanh(W q + U k)``, Bahdanau et al. 2015); ``"location"`` scores fixed positions from
            the query alone (a glimpse policy over a grid).
        hidden: hidden size of additive/concat scores; max_len: positions of the location score.
        tau: Gumbel-softmax temperature.
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        normalizer: str = "softmax",
        score: str = "additive",
        hidden: int | None = None,
        max_len: int = 128,
        tau: float = 1.0,
    ) -> None:
        super().__init__()
        if normalizer not in HARD_NORMALIZERS:
            raise ValueError(f"normalizer: expected one of {HARD_NORMALIZERS}, got {normalizer!r}")
        if not tau > 0:
            raise ValueError(f"tau: expected a temperature > 0, got {tau!r}")
        self.normalizer, self.tau = normalizer, float(tau)
        self.score = make_score(score, query_dim, key_dim, hidden, max_len=max_len)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> HardAttentionOutput:
        """``query (B, Lq, Dq)``, ``keys (B, Lk, Dk)``, ``values (B, Lk, Dv)`` (default: keys); ``mask``
        bool ``(B, Lk)`` or ``(B, Lq, Lk)``, True = may attend. A query with no visible key gets a zero
        context."""
        values = keys if values is None else values
        if values.dim() != 3 or values.shape[:2] != keys.shape[:2]:
            raise ValueError(
                f"values: expected (B, Lk, Dv) matching keys {tuple(keys.shape[:2])}, "
                f"got {tuple(values.shape)}"
            )
        scores = self.score(query, keys)  # (B, Lq, Lk)
        if mask is not None:
            if mask.dtype != torch.bool or mask.dim() not in (2, 3):
                raise ValueError(
                    f"mask: expected a bool (B, Lk) or (B, Lq, Lk) tensor, "
                    f"got {mask.dtype} {tuple(mask.shape)}"
                )
            mask = mask[:, None] if mask.dim() == 2 else mask  # (B, 1|Lq, Lk)
        weights, probs, log_prob, entropy = normalize_scores(
            scores, self.normalizer, mask, self.training, self.tau, generator
        )
        return HardAttentionOutput(weights @ values, weights, probs, log_prob, entropy)  # (B, Lq, Dv)


class MovingAverageBaseline(nn.Module):
    """The REINFORCE baseline of Xu et al. (2015, sec. 4.1): ``b_k = m · b_{k-1} + (1 - m) · mean(R_k)``.

    ``baseline(reward)`` returns the value *before* the update, so the batch's own rewards do not
    enter the baseline they are compared with (the estimator stays unbiased). The first call starts
    from the batch mean.
    """

    def __init__(self, momentum: float = 0.9) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum: expected a float in [0, 1), got {momentum!r}")
        self.momentum = momentum
        self.register_buffer("value", torch.zeros(()))
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def forward(self, reward: Tensor) -> Tensor:
        mean = reward.detach().float().mean()
        current = self.value.clone() if bool(self.started) else mean
        self.value.copy_(self.momentum * current + (1 - self.momentum) * mean)
        self.started.fill_(True)
        return current


def reinforce_loss(
    log_prob: Tensor, reward: Tensor, baseline: Tensor | float = 0.0, entropy: Tensor | None = None,
    entropy_weight: float = 0.0,
) -> Tensor:  # fmt: skip
    """The REINFORCE surrogate loss (Williams, 1992; Xu et al., 2015 eq. 12; Mnih et al., 2014 eq. 2):

    ``L = -mean_b[(R_b - b) · Σ_t log π(a_{b,t})] - β · mean_b Σ_t H(π_{b,t})``

    whose gradient is the score-function estimate of ``-∇ E[R]`` minus an entropy bonus that keeps the
    policy exploring. ``log_prob`` and ``entropy`` are ``(B,)`` or ``(B, T)`` (summed over steps);
    ``reward (B,)`` is treated as a constant (detached), e.g. ``log p(y | a)`` or ``1[correct]``.
    """
    if log_prob.dim() == 0 or reward.shape != log_prob.shape[:1]:
        raise ValueError(
            f"reward: expected shape (B,) = {tuple(log_prob.shape[:1])} matching log_prob, "
            f"got {tuple(reward.shape)}"
        )
    advantage = (reward - baseline).detach()  # (B,)
    total_logp = log_prob.reshape(log_prob.shape[0], -1).sum(-1)  # (B,)
    loss = -(advantage * total_logp).mean()
    if entropy is not None and entropy_weight:
        loss = loss - entropy_weight * entropy.reshape(entropy.shape[0], -1).sum(-1).mean()
    return loss
