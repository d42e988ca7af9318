"""Normalisers that turn attention scores into weights.

``softmax`` here is the masked-safe softmax every backend agrees with: entries at ``-inf`` get weight 0
and a row whose entries are all ``-inf`` (a fully-masked query) gets all-zero weights instead of NaN.
Beside it: the sparse normalisers ``sparsemax`` and ``entmax15`` (exact zeros, see
:mod:`.sparse_normalizers`), the straight-through ``gumbel_softmax`` and ``hard_sample`` (one sampled
position with its log-probability, for REINFORCE). All take ``dim`` and an optional bool ``mask``
(True = keep); hidden entries get exactly 0 and a fully hidden row gives zeros, never NaN.
``attend(..., normalizer=NAME, backend="reference")`` uses any of the weight normalisers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .sparse_normalizers import _prepare, entmax15, sparsemax

Normalizer = Callable[..., Tensor]


def softmax(scores: Tensor, dim: int = -1) -> Tensor:
    """Softmax ``exp(s_j - max s) / sum_k exp(s_k - max s)`` that returns zeros for all ``-inf`` rows.

    Gradients stay finite for such rows (they are zero), unlike ``torch.softmax`` which yields NaN.
    """
    row_max = scores.amax(dim=dim, keepdim=True).detach()
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    e = torch.exp(scores - row_max)
    denom = e.sum(dim=dim, keepdim=True)
    return e / torch.where(denom > 0, denom, torch.ones_like(denom))


def _one_hot_like(probs: Tensor, index: Tensor, live: Tensor) -> Tensor:
    """One-hot rows ``(..., n)`` at ``index (..., 1)``; rows that are not ``live`` are all zeros."""
    return torch.zeros_like(probs).scatter(-1, index, 1.0) * live.to(probs.dtype)


def gumbel_softmax(
    scores: Tensor,
    tau: float = 1.0,
    hard: bool = True,
    dim: int = -1,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Gumbel-softmax (Jang, Gu & Poole, 2017; Maddison, Mnih & Teh, 2017), straight-through when ``hard``.

    ``y = softmax((z + g) / τ)`` with ``g_i = -log(-log u_i)``, ``u_i ~ U(0, 1)``. With ``hard=True`` the
    forward value is ``one_hot(argmax y)`` and the gradient is that of ``y``:
    ``y_hard - stopgrad(y) + y``. ``argmax(z + g)`` is an exact sample of ``softmax(z)`` (Gumbel-max).
    """
    if not isinstance(tau, (int, float)) or not tau > 0:
        raise ValueError(f"tau: expected a temperature > 0, got {tau!r}")
    z, visible, dim = _prepare(scores, dim, mask)  # (..., n), hidden = -inf
    noise = torch.empty_like(z).exponential_(generator=generator)
    gumbel = -noise.clamp(min=torch.finfo(z.dtype).tiny).log()
    y = softmax((z + gumbel) / tau, dim=-1)
    if hard:
        live = visible.any(dim=-1, keepdim=True)
        y_hard = _one_hot_like(y, y.argmax(dim=-1, keepdim=True), live)
        y = y_hard - y.detach() + y
    return y.movedim(-1, dim)


def log_softmax(scores: Tensor, dim: int = -1, mask: Tensor | None = None) -> Tensor:
    """Masked-safe ``log softmax``: 0 (not ``-inf``) at hidden entries and in fully hidden rows, so that
    ``p · log p`` and its gradient stay finite; use it together with the weights, which are 0 there."""
    z, visible, dim = _prepare(scores, dim, mask)
    filled = torch.where(visible, z, torch.zeros_like(z))
    # logsumexp over visible entries only: hidden ones add exp(-inf) = 0 without touching autograd.
    lse = torch.logsumexp(filled.masked_fill(~visible, float("-inf")), dim=-1, keepdim=True)
    lse = torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))
    return torch.where(visible, filled - lse, torch.zeros_like(filled)).movedim(-1, dim)


def hard_sample(
    scores: Tensor, dim: int = -1, mask: Tensor | None = None, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Sample one position ``a ~ softmax(z)``: ``(one_hot, log π(a), entropy H(π))`` for REINFORCE.

    Hard (stochastic) attention of Xu et al. (2015, "Show, Attend and Tell", sec. 4.1) trained with the
    score-function estimator of Williams (1992): ``∇ E[R] = E[(R - b) ∇ log π(a)]``. ``one_hot`` has no
    gradient; ``log_prob`` (shape of ``scores`` without ``dim``) and ``entropy`` carry it. A fully
    hidden row gives a zero one-hot, log-prob 0 and entropy 0.
    """
    logp = log_softmax(scores, dim, mask).movedim(dim, -1)  # (..., n)
    _, visible, _ = _prepare(scores, dim, mask)
    live = visible.any(dim=-1, keepdim=True)
    probs = logp.exp() * visible.to(logp.dtype)
    flat = probs.detach().reshape(-1, probs.shape[-1])  # (N, n)
    flat = torch.where(live.reshape(-1, 1), flat, torch.ones_like(flat))  # any valid row for multinomial
    index = torch.multinomial(flat, 1, generator=generator).reshape(*probs.shape[:-1], 1)  # (..., 1)
    one_hot = _one_hot_like(probs.detach(), index, live)
    log_prob = logp.gather(-1, index).squeeze(-1) * live.squeeze(-1).to(logp.dtype)
    entropy = -(probs * logp).sum(dim=-1)
    dim = dim % scores.dim()
    return one_hot.movedim(-1, dim), log_prob, entropy


ALL_NORMALIZERS = {
    "softmax": softmax,
    "sparsemax": sparsemax,
    "entmax15": entmax15,
    "gumbel_softmax": gumbel_softmax,
    "hard_sample": hard_sample,
}
# The ones that map scores to weights ``f(scores, dim=-1)``: what attend(..., normalizer=) accepts.
WEIGHT_NORMALIZERS = ("softmax", "sparsemax", "entmax15", "gumbel_softmax")


def weight_normalizer(normalizer: str | Normalizer | None) -> Normalizer | None:
    """Resolve ``attend``'s ``normalizer=``: None for plain softmax, else ``f(scores, dim) -> weights``."""
    if normalizer is None or normalizer == "softmax" or normalizer is softmax:
        return None
    if isinstance(normalizer, str):
        if normalizer not in WEIGHT_NORMALIZERS:
            hint = (
                " (it returns a sample; use attnlab.layers.HardAttention)"
                if normalizer == "hard_sample"
                else ""
            )
            raise ValueError(
                f"normalizer: expected one of {WEIGHT_NORMALIZERS} or a callable, got {normalizer!r}{hint}"
            )
        return ALL_NORMALIZERS[normalizer]
    if callable(normalizer):
        return normalizer
    raise ValueError(f"normalizer: expected a name, a callable or None, got {type(normalizer).__name__}")
