"""Position encodings: sinusoidal and learned absolute embeddings, and rotary embeddings (RoPE).

Relative schemes that act on the scores (ALiBi, T5 bias) are score mods in :mod:`attnlab.attention.mods`;
Shaw et al.'s relative positions need the queries, so they live in a layer.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def sinusoidal(
    length: int, dim: int, base: float = 10000.0, offset: int = 0, dtype=torch.float32, device=None
) -> Tensor:
    """Sinusoidal encodings (Vaswani et al., 2017, sec. 3.5), ``(length, dim)``:
    ``PE[p, 2i] = sin(p / base^(2i/d))``, ``PE[p, 2i+1] = cos(p / base^(2i/d))``."""
    if length < 0 or dim < 1:
        raise ValueError(f"sinusoidal: need length >= 0 and dim >= 1, got length={length}, dim={dim}")
    pos = torch.arange(offset, offset + length, dtype=torch.float64, device=device)[:, None]  # (L, 1)
    inv = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim)  # (ceil(d/2),)
    angles = pos * inv  # (L, ceil(d/2))
    pe = torch.zeros(length, dim, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : dim // 2])
    return pe.to(dtype)


class SinusoidalPositions(nn.Module):
    """Adds sinusoidal encodings to ``x (B, L, dim)``; any length, no parameters."""

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        self.dim, self.base = dim, base

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        return x + sinusoidal(x.shape[-2], self.dim, self.base, offset, x.dtype, x.device)


class LearnedPositions(nn.Module):
    """Learned absolute position embeddings (BERT / GPT-2), added to ``x (B, L, dim)``; ``L <= max_len``."""

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, dim)
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        length = x.shape[-2]
        if offset + length > self.max_len:
            raise ValueError(
                f"LearnedPositions: positions up to {offset + length} exceed max_len={self.max_len}"
            )
        return x + self.embedding.weight[offset : offset + length].to(x.dtype)


def rope_angles(positions: Tensor, dim: int, base: float = 10000.0) -> tuple[Tensor, Tensor]:
    """cos and sin tables ``(..., L, dim)`` for RoPE at the given integer positions."""
    if dim % 2:
        raise ValueError(f"rope: head dim must be even, got {dim}")
    inv = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=positions.device) / dim)  # (d/2,)
    angles = positions.to(torch.float64)[..., None] * inv  # (..., L, d/2)
    angles = torch.cat([angles, angles], dim=-1)  # (..., L, d) in rotate-half layout
    return angles.cos(), angles.sin()


def _rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)  # (..., d/2) each
    return torch.cat([-x2, x1], dim=-1)  # (..., d)


def rope(x: Tensor, positions: Tensor | None = None, offset: int = 0, base: float = 10000.0) -> Tensor:
    """Rotary position embedding (Su et al., 2021, RoFormer eq. 34) of ``x (B, H, L, D)``.

    Pairs ``(x_i, x_{i+D/2})`` (the "rotate-half" layout) are rotated by angle ``p * base^(-2i/D)``, so
    ``rope(q, p)·rope(k, p')`` depends only on ``p - p'``. ``positions`` (``(L,)`` or ``(B, L)``)
    defaults to ``offset + arange(L)``; a KV cache passes ``offset`` = number of cached tokens.
    """
    if x.dim() != 4:
        raise ValueError(f"rope: x must have shape (B, H, L, D), got {tuple(x.shape)}")
    length = x.shape[-2]
    if positions is None:
        positions = torch.arange(offset, offset + length, device=x.device)
    positions = torch.as_tensor(positions, device=x.device)
    if positions.shape[-1] != length or positions.dim() not in (1, 2):
        raise ValueError(
            f"rope: positions must be (L,) or (B, L) with L={length}, got {tuple(positions.shape)}"
        )
    cos, sin = rope_angles(positions, x.shape[-1], base)  # (L, D) or (B, L, D)
    if cos.dim() == 3:
        cos, sin = cos[:, None], sin[:, None]  # (B, 1, L, D)
    return x * cos.to(x.dtype) + _rotate_half(x) * sin.to(x.dtype)


class RotaryEmbedding(nn.Module):
    """RoPE applied to queries and keys: ``q, k = RotaryEmbedding(D)(q, k, offset=cache_len)``."""

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"RotaryEmbedding: dim must be even, got {dim}")
        self.dim, self.base = dim, base

    def forward(self, q: Tensor, k: Tensor, offset: int = 0) -> tuple[Tensor, Tensor]:
        # Keys of a KV cache are rotated when they enter the cache, so both use the same offset here.
        return rope(q, offset=offset, base=self.base), rope(k, offset=offset, base=self.base)


ALL_POSITIONS = {
    "sinusoidal": SinusoidalPositions,
    "learned": LearnedPositions,
    "rope": RotaryEmbedding,
}
