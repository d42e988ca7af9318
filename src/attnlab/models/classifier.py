"""Transformer encoder classifier with [CLS], mean or attention pooling.

[CLS] pooling (Devlin et al., 2019, BERT): a learned vector is prepended and its final state
classified. Attention pooling (Yang et al., 2016, HAN, eq. 5-7): ``u_t = tanh(W h_t + b)``,
``α_t = softmax(u_t^T u_w)``, ``s = Σ_t α_t h_t`` with a learned context vector ``u_w``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..attention.normalizers import softmax
from .transformer import TransformerEncoder
from .transformer_config import TransformerConfig


class AttentionPooling(nn.Module):
    """HAN attention pooling of ``h (B, L, d)`` -> ``(s (B, d), α (B, L))``, padded positions hidden."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, d_model)  # W, b
        self.context = nn.Linear(d_model, 1, bias=False)  # u_w

    def forward(self, h: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        scores = self.context(torch.tanh(self.proj(h))).squeeze(-1)  # (B, L)
        if lengths is not None:
            hidden = torch.arange(h.shape[1], device=h.device)[None] >= lengths.to(h.device)[:, None]
            scores = scores.masked_fill(hidden, float("-inf"))
        alpha = softmax(scores, dim=-1)
        return (alpha[:, :, None] * h).sum(dim=1), alpha


class TransformerClassifier(nn.Module):
    """``tokens (B, L), lengths -> (logits (B, num_classes), attentions)``.

    ``attentions["encoder"]`` holds per-layer ``(B, H, L', L')`` weights (``L' = L + 1`` with [CLS],
    whose index is 0) and ``attentions["pooling"]`` the ``(B, L)`` pooling weights (attention pooling).
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        extra = 1 if config.pooling == "cls" else 0
        self.encoder = TransformerEncoder(config, max_len=config.max_len + extra)
        self.cls = nn.Parameter(torch.randn(1, 1, config.d_model) * 0.02) if extra else None
        self.pool = AttentionPooling(config.d_model) if config.pooling == "attention" else None
        self.head = nn.Linear(config.d_model, config.num_classes)

    def forward(
        self, tokens: Tensor, lengths: Tensor | None = None, *, need_weights: bool = False
    ) -> tuple[Tensor, dict | None]:
        x = self.encoder.embed.embed(tokens) if not tokens.is_floating_point() else tokens  # (B, L, d)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)  # (B, 1 + L, d)
            lengths = None if lengths is None else lengths + 1
        h, att = self.encoder(x, lengths, need_weights=need_weights)
        alpha = None
        if self.config.pooling == "cls":
            pooled = h[:, 0]
        elif self.pool is not None:
            pooled, alpha = self.pool(h, lengths)
        else:
            keep = torch.ones(h.shape[:2], device=h.device)
            if lengths is not None:
                keep = (torch.arange(h.shape[1], device=h.device)[None] < lengths[:, None]).float()
            pooled = (h * keep[:, :, None]).sum(1) / keep.sum(1, keepdim=True).clamp(min=1)
        logits = self.head(pooled)
        if need_weights and alpha is not None:
            att["pooling"] = alpha
        return logits, att
