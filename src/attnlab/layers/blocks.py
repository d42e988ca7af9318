"""Residual sublayers and Transformer blocks, post-norm or pre-norm.

Post-norm (Vaswani et al., 2017, sec. 5.4): ``x = LayerNorm(x + Dropout(Sublayer(x)))``.
Pre-norm (Xiong et al., 2020, "On Layer Normalization in the Transformer Architecture"):
``x = x + Dropout(Sublayer(LayerNorm(x)))`` — gradients stay well-scaled without warm-up, so it is
the default; a pre-norm stack needs a final LayerNorm (the stacks in :mod:`attnlab.models` add it).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from .attention_config import AttentionConfig
from .feedforward import FeedForward
from .kv_cache import LayerCache
from .multihead import MultiHeadAttention


class Residual(nn.Module):
    """``x + Dropout(f(LayerNorm(x)))`` (pre-norm) or ``LayerNorm(x + Dropout(f(x)))`` (post-norm)."""

    def __init__(self, d_model: int, norm_first: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, fn: Callable[[Tensor], tuple[Tensor, Tensor | None]]
    ) -> tuple[Tensor, Tensor | None]:
        """``fn`` returns ``(y, extra)`` (e.g. attention weights), passed through."""
        if self.norm_first:
            y, extra = fn(self.norm(x))
            return x + self.drop(y), extra
        y, extra = fn(x)
        return self.norm(x + self.drop(y)), extra


class TransformerBlock(nn.Module):
    """Self-attention, optional cross-attention (decoder), then a feed-forward network; each residual.

    Args:
        d_model, num_heads: attention sizes.
        d_ff, activation: the feed-forward network.
        attention: the self-attention's options (:class:`AttentionConfig`: position, causal, backend,
            extra mask, dropout, ``num_kv_heads``...); default ``AttentionConfig(dropout=dropout)``.
        dropout: residual and hidden dropout (the attention weights' dropout is ``attention.dropout``).
        norm_first: pre-norm (True) or post-norm (False).
        cross_attention: add an encoder-decoder attention sublayer (Vaswani et al., 2017, sec. 3.2.3):
            True gives it the self-attention's backend, dropout and ``num_kv_heads``; an
            :class:`AttentionConfig` gives its options.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int | None = None,
        *,
        attention: AttentionConfig | None = None,
        dropout: float = 0.0,
        activation: str = "gelu",
        norm_first: bool = True,
        cross_attention: bool | AttentionConfig = False,
    ) -> None:
        super().__init__()
        attention = AttentionConfig(dropout=dropout) if attention is None else attention
        self.self_attn = MultiHeadAttention(d_model, num_heads, attention)
        self.self_res = Residual(d_model, norm_first, dropout)
        self.cross_attn = self.cross_res = None
        if cross_attention and not isinstance(cross_attention, AttentionConfig):
            cross_attention = AttentionConfig(
                backend=attention.backend, dropout=attention.dropout, num_kv_heads=attention.num_kv_heads
            )
        if cross_attention:
            self.cross_attn = MultiHeadAttention(d_model, num_heads, cross_attention)
            self.cross_res = Residual(d_model, norm_first, dropout)
        self.ff = FeedForward(d_model, d_ff, activation, dropout)
        self.ff_res = Residual(d_model, norm_first, dropout)

    def forward(
        self,
        x: Tensor,
        *,
        mask=None,
        memory: Tensor | None = None,
        memory_mask=None,
        cache: LayerCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """``x (B, L, d_model)``; ``memory (B, Ls, d_model)`` for cross-attention.

        Returns ``(x, weights)`` where ``weights`` holds ``"self"`` (and ``"cross"``) ``(B, H, Lq, Lk)``
        tensors when ``need_weights``, else is empty.
        """
        weights: dict[str, Tensor] = {}
        self_cache = cache.self_attn if cache is not None else None
        x, w = self.self_res(
            x, lambda h: self.self_attn(h, mask=mask, cache=self_cache, need_weights=need_weights)
        )
        if w is not None:
            weights["self"] = w
        if self.cross_attn is not None:
            if memory is None:
                raise ValueError("memory: this block has cross-attention and needs the encoder output")
            cross_cache = cache.cross_attn if cache is not None else None
            x, w = self.cross_res(
                x,
                lambda h: self.cross_attn(
                    h, memory, mask=memory_mask, cache=cross_cache, need_weights=need_weights
                ),
            )
            if w is not None:
                weights["cross"] = w
        x, _ = self.ff_res(x, lambda h: (self.ff(h), None))
        return x, weights
