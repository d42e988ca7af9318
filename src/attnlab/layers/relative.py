"""Relative position representations (Shaw, Uszkoreit & Vaswani, 2018).

Each clipped relative distance ``clip(j - i, -k, k)`` has two learned vectors per head dimension,
``a^K`` and ``a^V`` (shared across heads, as in the paper). Eq. 3-5:

    e_ij = q_i (k_j + a^K_ij)^T / sqrt(d)
    α_ij = softmax_j(e_ij)
    z_i  = Σ_j α_ij (v_j + a^V_ij)

The ``a^K`` term needs the queries and the ``a^V`` term needs the weights, so neither fits the engine's
score-mod interface: this path materialises the ``(B, H, Lq, Lk)`` score matrix (the paper's own
implementation does too, with the same two extra einsums). Masks and score mods follow the engine's
conventions (lower-right alignment, fully-masked rows give zeros).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attention.masks import Mask
from ..attention.mods import ScoreMod
from ..attention.normalizers import softmax
from ..attention.request import expand_kv


class ShawRelativePositions(nn.Module):
    """Learned ``a^K, a^V`` tables ``(2k + 1, head_dim)`` for relative distances clipped at ``k``.

    Args:
        head_dim: size of each head's keys and values.
        max_distance: the clipping distance ``k`` (the paper uses 16 in the base model).
        values: also learn the value term ``a^V`` (eq. 3); False keeps only the key term (eq. 4).
    """

    def __init__(self, head_dim: int, max_distance: int = 16, values: bool = True) -> None:
        super().__init__()
        if not isinstance(max_distance, int) or max_distance < 1:
            raise ValueError(
                f"max_distance: expected an int >= 1 (the clipping distance k), got {max_distance!r}"
            )
        self.head_dim, self.max_distance = head_dim, max_distance
        self.key_table = nn.Embedding(2 * max_distance + 1, head_dim)
        self.value_table = nn.Embedding(2 * max_distance + 1, head_dim) if values else None
        nn.init.normal_(self.key_table.weight, std=head_dim**-0.5)
        if self.value_table is not None:
            nn.init.normal_(self.value_table.weight, std=head_dim**-0.5)

    def relative_index(self, q_len: int, kv_len: int, device=None) -> Tensor:
        """``clip(j - i, -k, k) + k`` as ``(Lq, Lk)``; query i sits at position ``i + Lk - Lq``."""
        q_pos = torch.arange(kv_len - q_len, kv_len, device=device)[:, None]  # (Lq, 1)
        k_pos = torch.arange(kv_len, device=device)[None, :]  # (1, Lk)
        return (k_pos - q_pos).clamp(-self.max_distance, self.max_distance) + self.max_distance

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Mask | None = None,
        score_mod: ScoreMod | None = None,
        scale: float | None = None,
        dropout_p: float = 0.0,
    ) -> tuple[Tensor, Tensor]:
        """Attention with relative positions; ``q (B, Hq, Lq, D)``, ``k, v (B, Hkv, Lk, D)``.

        Returns ``out (B, Hq, Lq, D)`` and the weights ``(B, Hq, Lq, Lk)`` (before dropout).
        """
        b, hq, lq, d = q.shape
        lk = k.shape[-2]
        group = hq // k.shape[1]
        k, v = expand_kv(k, group), expand_kv(v, group)  # (B, Hq, Lk, D)
        scale = d**-0.5 if scale is None else scale
        rel = self.relative_index(lq, lk, q.device)  # (Lq, Lk)
        a_k = self.key_table(rel).to(q.dtype)  # (Lq, Lk, D)
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k) + torch.einsum("bhqd,qkd->bhqk", q, a_k)
        scores = scores * scale  # (B, Hq, Lq, Lk)
        if score_mod is not None:
            scores = score_mod.apply(scores, (0, lq), (0, lk), lk - lq)
        if mask is not None:
            visible = mask.materialize(b, hq, lq, lk, q.device)
            scores = scores.masked_fill(~visible, float("-inf"))
        weights = softmax(scores, dim=-1)
        dropped = F.dropout(weights, dropout_p) if dropout_p > 0 else weights
        out = torch.einsum("bhqk,bhkd->bhqd", dropped, v)  # (B, Hq, Lq, D)
        if self.value_table is not None:
            a_v = self.value_table(rel).to(q.dtype)  # (Lq, Lk, D)
            out = out + torch.einsum("bhqk,qkd->bhqd", dropped, a_v)
        return out, weights
