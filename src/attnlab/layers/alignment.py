"""Alignment (score) functions of the RNN attention papers, as modules producing ``(B, Lq, Lk)`` scores.

Every module maps ``query (B, Lq, Dq)`` and ``keys (B, Lk, Dk)`` to unnormalised scores
``score(h_t, h̄_s)``; :func:`align` turns scores into weights (masked softmax) and a context vector.
Luong, Pham & Manning (2015), "Effective Approaches to Attention-based NMT", sec. 3.1 define dot,
general, concat and location; Bahdanau, Cho & Bengio (2015), appendix A.1.2, the additive score.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attention.normalizers import softmax


def _check(query: Tensor, keys: Tensor) -> None:
    if query.dim() != 3 or keys.dim() != 3 or query.shape[0] != keys.shape[0]:
        raise ValueError(
            f"query, keys: expected (B, Lq, Dq) and (B, Lk, Dk) with the same B, "
            f"got {tuple(query.shape)} and {tuple(keys.shape)}"
        )


class DotScore(nn.Module):
    """Luong et al. (2015) dot: ``score(h_t, h̄_s) = h_t^T h̄_s`` (needs ``Dq == Dk``)."""

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        _check(query, keys)
        return query @ keys.transpose(1, 2)  # (B, Lq, Lk)


class ScaledDotScore(nn.Module):
    """Scaled dot product (Vaswani et al., 2017, eq. 1): ``h_t^T h̄_s / sqrt(d)``."""

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        _check(query, keys)
        return query @ keys.transpose(1, 2) / math.sqrt(query.shape[-1])  # (B, Lq, Lk)


class GeneralScore(nn.Module):
    """Luong et al. (2015) general (bilinear): ``score(h_t, h̄_s) = h_t^T W_a h̄_s``."""

    def __init__(self, query_dim: int, key_dim: int | None = None) -> None:
        super().__init__()
        self.proj = nn.Linear(key_dim or query_dim, query_dim, bias=False)  # W_a

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        _check(query, keys)
        return query @ self.proj(keys).transpose(1, 2)  # (B, Lq, Lk)


class AdditiveScore(nn.Module):
    """Bahdanau et al. (2015) additive: ``score(s_{i-1}, h_j) = v_a^T tanh(W_a s_{i-1} + U_a h_j)``."""

    def __init__(self, query_dim: int, key_dim: int | None = None, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or query_dim
        self.query_proj = nn.Linear(query_dim, hidden, bias=False)  # W_a
        self.key_proj = nn.Linear(key_dim or query_dim, hidden, bias=True)  # U_a (its bias is b_a)
        self.v = nn.Linear(hidden, 1, bias=False)  # v_a

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        _check(query, keys)
        # (B, Lq, 1, hidden) + (B, 1, Lk, hidden): every query-key pair, as in the paper's MLP.
        mixed = torch.tanh(self.query_proj(query)[:, :, None] + self.key_proj(keys)[:, None])
        return self.v(mixed).squeeze(-1)  # (B, Lq, Lk)


class ConcatScore(AdditiveScore):
    """Luong et al. (2015) concat: ``score(h_t, h̄_s) = v_a^T tanh(W_a [h_t; h̄_s])``.

    Splitting ``W_a = [W_q, W_k]`` gives ``v_a^T tanh(W_q h_t + W_k h̄_s)``: the additive form of
    :class:`AdditiveScore`, computed the same way.
    """


class LocationScore(nn.Module):
    """Luong et al. (2015) location: ``a_t = softmax(W_a h_t)``; the score ignores the keys' content.

    ``W_a`` has one row per source position, so sources longer than ``max_len`` are rejected.
    """

    def __init__(self, query_dim: int, max_len: int) -> None:
        super().__init__()
        if max_len < 1:
            raise ValueError(f"max_len: expected >= 1 source positions, got {max_len}")
        self.max_len = max_len
        self.proj = nn.Linear(query_dim, max_len)  # W_a

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        _check(query, keys)
        if keys.shape[1] > self.max_len:
            raise ValueError(
                f"keys: source length {keys.shape[1]} exceeds LocationScore max_len={self.max_len}"
            )
        return self.proj(query)[..., : keys.shape[1]]  # (B, Lq, Lk)


class CosineScore(nn.Module):
    """Cosine similarity ``β · q^T k / (|q| |k|)`` (content addressing of Neural Turing Machines,
    Graves et al., 2014, eq. 5-6); ``β`` is a learned sharpness (initially ``scale``)."""

    def __init__(self, scale: float = 5.0, learn_scale: bool = True) -> None:
        super().__init__()
        beta = torch.tensor(float(scale))
        self.beta = nn.Parameter(beta) if learn_scale else None
        if not learn_scale:
            self.register_buffer("fixed_beta", beta)

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        _check(query, keys)
        beta = self.beta if self.beta is not None else self.fixed_beta
        return beta * (F.normalize(query, dim=-1) @ F.normalize(keys, dim=-1).transpose(1, 2))


SCORES = ("dot", "scaled_dot", "general", "additive", "concat", "location", "cosine")


def make_score(
    name: str, query_dim: int, key_dim: int | None = None, hidden: int | None = None, max_len: int = 128
) -> nn.Module:
    """Build a score module by name (one of :data:`SCORES`)."""
    key_dim = key_dim or query_dim
    if name in ("dot", "scaled_dot") and key_dim != query_dim:
        raise ValueError(f"score: {name!r} needs query_dim == key_dim, got {query_dim} and {key_dim}")
    builders = {
        "dot": lambda: DotScore(),
        "scaled_dot": lambda: ScaledDotScore(),
        "general": lambda: GeneralScore(query_dim, key_dim),
        "additive": lambda: AdditiveScore(query_dim, key_dim, hidden),
        "concat": lambda: ConcatScore(query_dim, key_dim, hidden),
        "location": lambda: LocationScore(query_dim, max_len),
        "cosine": lambda: CosineScore(),
    }
    if name not in builders:
        raise ValueError(f"score: unknown alignment function {name!r}; expected one of {SCORES}")
    return builders[name]()


def align(
    scores: Tensor,
    values: Tensor,
    lengths: Tensor | None = None,
    window: Tensor | None = None,
    override: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """Weights ``softmax(scores)`` over the keys and the context ``Σ_s a_t(s) h̄_s``.

    ``scores (B, Lq, Lk)``, ``values (B, Lk, Dv)``; ``lengths (B,)`` hides padded keys; ``window`` is an
    optional bool ``(B, Lq, Lk)`` of keys that may be attended; ``override(weights, visible) -> weights``
    replaces the weights before the context is formed (attnlab.interpret.faithfulness). Returns
    ``(context (B, Lq, Dv), weights (B, Lq, Lk))``; a query with no visible key gets zero weights.
    """
    visible = None
    if lengths is not None:
        visible = (
            torch.arange(scores.shape[-1], device=scores.device)[None, None]
            < lengths.to(scores.device)[:, None, None]
        )
    if window is not None:
        visible = window if visible is None else visible & window
    if visible is not None:
        scores = scores.masked_fill(~visible, float("-inf"))
    weights = softmax(scores, dim=-1)
    if override is not None:
        every = torch.ones_like(weights, dtype=torch.bool)
        weights = override(weights, every if visible is None else visible)
    return weights @ values, weights  # (B, Lq, Dv), (B, Lq, Lk)
