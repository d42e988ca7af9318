"""Adaptive attention span (Sukhbaatar, Grave, Bojanowski & Joulin, 2019, "Adaptive Attention Span in
Transformers").

Each head ``i`` learns a span ``z_i ∈ [0, S]``. A key at distance ``x = t - r`` from query ``t`` is
weighted by the soft mask (eq. 3) with ramp width ``R``

    m_z(x) = clamp((R + z - x) / R, 0, 1)

and the attention weights are the softmax weights multiplied by the mask and renormalised (eq. 4)

    a_tr = m_z(t - r) exp(s_tr) / Σ_q m_z(t - q) exp(s_tq).

The loss gains an ℓ1 penalty on the spans, ``λ / M · Σ_i z_i`` over the ``M`` heads of a layer.

**Why a score mod suffices.** Write ``m = exp(log m)`` with ``log 0 = -inf`` (and ``exp(-inf) = 0``):

    a_tr = exp(s_tr + log m_tr) / Σ_q exp(s_tq + log m_tq) = softmax_r(s_tr + log m_tr),

so multiplying the softmax weights by ``m`` and renormalising equals adding ``log m`` to the scores
before the softmax. The denominator never vanishes: at ``x = 0`` the mask is ``(R + z) / R >= 1``,
clamped to 1, so every query keeps itself. :meth:`AdaptiveSpan.score_mod` therefore hands the engine an
additive bias ``log m_z(x)`` (a :class:`~attnlab.attention.mods.ScoreMod`), and every backend computes
the paper's weights exactly. Inside the ramp (``0 < m < 1``) ``∂ log m / ∂z = 1 / (R m) ≠ 0``, so the
span is learned through the attention; outside it the mask is flat and ``z`` only feels the penalty.

**The compute saving.** Keys with ``x >= R + z`` have ``m = 0`` and contribute nothing, so with
``w = ceil(R + max_i z_i) - 1`` the causal sliding window ``masks.sliding_window(w, causal=True)``
(:meth:`AdaptiveSpan.mask`) changes nothing in the output while letting the chunked backend skip every
tile beyond it; :meth:`AdaptiveSpan.flop_fraction` counts the saving.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..attention import masks
from ..attention.backends import Backend
from ..attention.masks import Mask
from ..attention.mods import ScoreMod
from .attention_config import AttentionConfig
from .multihead import MultiHeadAttention


def soft_mask(distance: Tensor, span: Tensor, ramp: float) -> Tensor:
    """``m_z(x) = clamp((R + z - x) / R, 0, 1)`` (eq. 3); ``distance`` and ``span`` broadcast."""
    return ((ramp + span - distance) / ramp).clamp(0.0, 1.0)


def log_soft_mask(distance: Tensor, span: Tensor, ramp: float) -> Tensor:
    """``log m_z(x)``, ``-inf`` where the mask is 0; gradients stay finite (zero where ``m = 0``)."""
    m = soft_mask(distance, span, ramp)
    tiny = torch.finfo(m.dtype).tiny
    return torch.where(m > 0, torch.log(m.clamp(min=tiny)), torch.full_like(m, float("-inf")))


def visible_pairs(seq_len: int, window: int | None) -> int:
    """Causal (query, key) pairs with distance ``<= window`` in a sequence of ``seq_len`` (None: all)."""
    if window is None or window >= seq_len - 1:
        return seq_len * (seq_len + 1) // 2
    w = max(window, 0)
    # queries 0..w see i + 1 keys; the remaining seq_len - w - 1 queries see w + 1 keys each
    return (w + 1) * (w + 2) // 2 + (seq_len - w - 1) * (w + 1)


class AdaptiveSpan(nn.Module):
    """Learnable spans of ``num_heads`` heads and the soft mask, penalty and window they imply.

    Args:
        num_heads: heads of the attention layer (one span each).
        max_span: ``S``, the largest span a head may learn.
        ramp: ``R``, the width of the soft ramp (the paper: 32).
        init: initial span as a fraction of ``max_span`` (the paper starts from 0).
        penalty: ``λ`` of the span penalty ``λ / M · Σ_i z_i``.

    The parameter ``fraction`` holds ``z / S``; it is clamped to ``[0, 1]`` at every forward (the
    reference implementation clamps after each optimiser step), so ``z`` stays in ``[0, S]``.
    """

    def __init__(
        self, num_heads: int, max_span: int, ramp: float = 32.0, init: float = 0.0, penalty: float = 0.0
    ) -> None:
        super().__init__()
        if not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError(f"num_heads: expected an int >= 1, got {num_heads!r}")
        if not isinstance(max_span, int) or max_span < 1:
            raise ValueError(f"max_span: expected an int >= 1, got {max_span!r}")
        if not ramp > 0:
            raise ValueError(f"ramp: expected a number > 0, got {ramp!r}")
        if not 0.0 <= init <= 1.0:
            raise ValueError(f"init: expected a fraction of max_span in [0, 1], got {init!r}")
        if not penalty >= 0:
            raise ValueError(f"penalty: expected λ >= 0, got {penalty!r}")
        self.num_heads, self.max_span, self.ramp, self.lam = num_heads, max_span, float(ramp), penalty
        self.fraction = nn.Parameter(torch.full((num_heads,), float(init)))

    def clamp_(self) -> None:
        """Keep ``z / S`` in ``[0, 1]`` (in place, outside autograd)."""
        with torch.no_grad():
            self.fraction.clamp_(0.0, 1.0)

    def spans(self) -> Tensor:
        """``z (H,)`` in positions."""
        return self.max_span * self.fraction.clamp(0.0, 1.0)

    def current_spans(self) -> list[float]:
        """The learned span ``z_i`` of every head, in positions."""
        return [round(float(z), 3) for z in self.spans().detach()]

    def soft_mask(self, distance: Tensor) -> Tensor:
        """``m_z(x)`` per head: ``(H, *distance.shape)``."""
        z = self.spans().view(-1, *([1] * distance.dim()))  # (H, 1, ...)
        return soft_mask(distance.to(z.dtype), z, self.ramp)

    def penalty(self) -> Tensor:
        """``λ / M · Σ_i z_i`` (add it to the loss)."""
        return self.lam * self.spans().sum() / self.num_heads

    def score_mod(self) -> ScoreMod:
        """The additive bias ``log m_z(t - r)`` for :func:`attnlab.attention.attend` (causal use)."""
        spans, ramp, heads = self.spans(), self.ramp, self.num_heads

        def fn(s, b, h, q, kv, off):
            x = (q + off - kv).to(s.dtype)  # distance to the key, lower-right aligned
            z = spans.to(s.dtype)[h.clamp(max=heads - 1)]  # (H|1, 1, 1) per head
            return s + log_soft_mask(x, z, ramp)

        return ScoreMod(fn, f"adaptive_span({heads} heads, R={ramp:g})", additive=True, trainable=True)

    def window(self) -> int:
        """The largest key distance any head can see: ``ceil(R + max z) - 1``."""
        return max(0, math.ceil(float(self.spans().detach().max()) + self.ramp) - 1)

    def mask(self) -> Mask:
        """Causal attention limited to :meth:`window` keys back (skips what the spans hide)."""
        return masks.sliding_window(self.window(), causal=True)

    def flop_fraction(self, seq_len: int) -> dict:
        """Share of the causal attention's query-key work that the spans make unnecessary.

        ``per_head``: every head limited to its own window ``ceil(R + z_i) - 1``; ``layer``: all heads
        limited to the layer's :meth:`window` (what the sliding-window mask gives the chunked backend).
        """
        full = visible_pairs(seq_len, None)
        heads = [visible_pairs(seq_len, max(0, math.ceil(z + self.ramp) - 1)) for z in self.current_spans()]
        return {
            "per_head": 1 - sum(heads) / (full * self.num_heads),
            "layer": 1 - visible_pairs(seq_len, self.window()) / full,
        }


class AdaptiveSpanAttention(nn.Module):
    """Causal multi-head self-attention with an adaptive span per head.

    ``x (B, L, d_model) -> (out (B, L, d_model), weights (B, H, L, L) | None)``. Positions are rotary
    (relative, like the paper's relative position embeddings). ``skip=True`` passes the span's
    sliding-window mask so the chunked backend skips hidden tiles; the output is the same either way.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        max_span: int,
        *,
        ramp: float = 32.0,
        init: float = 0.0,
        penalty: float = 0.0,
        backend: str | Backend = "auto",
        skip: bool = True,
    ) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(
            d_model, num_heads, AttentionConfig(position="rope", causal=True, backend=backend)
        )
        self.span = AdaptiveSpan(num_heads, max_span, ramp, init, penalty)
        self.skip = skip

    def forward(self, x: Tensor, *, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        self.span.clamp_()
        mask = self.span.mask() if self.skip else masks.causal()
        return self.attn(x, mask=mask, score_mod=self.span.score_mod(), need_weights=need_weights)
