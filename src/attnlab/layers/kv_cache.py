"""Key/value caches for incremental (autoregressive) decoding.

Decoding token ``t`` only needs the new query; the keys and values of tokens ``< t`` do not change, so
each attention layer keeps them, already projected (and, with RoPE, already rotated), and appends the
new ones. The engine aligns causal masks and position mods lower-right when ``Lq != Lk``, so a step
with one query and ``t + 1`` keys computes exactly the last row of full causal attention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class KVCache:
    """Projected keys and values ``(B, Hkv, L, D)`` of one attention layer.

    ``static=True`` marks a cross-attention cache: it is filled once from the encoder memory and
    never appended to.
    """

    k: Tensor | None = None
    v: Tensor | None = None
    static: bool = False

    @property
    def length(self) -> int:
        """Number of cached positions (0 when empty)."""
        return 0 if self.k is None else self.k.shape[-2]

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add ``k, v (B, Hkv, L_new, D)`` at the end and return all keys and values so far."""
        if self.static:
            raise ValueError("KVCache: a static (cross-attention) cache cannot be appended to")
        if self.k is None:
            self.k, self.v = k, v
        else:
            if k.shape[:2] != self.k.shape[:2] or k.shape[-1] != self.k.shape[-1]:
                raise ValueError(
                    f"k: expected (B, Hkv, L, D) = {tuple(self.k.shape[:2])} x L x {self.k.shape[-1]} "
                    f"to match the cache, got {tuple(k.shape)}"
                )
            self.k = torch.cat([self.k, k], dim=-2)  # (B, Hkv, L_old + L_new, D)
            self.v = torch.cat([self.v, v], dim=-2)  # (B, Hkv, L_old + L_new, Dv)
        return self.k, self.v

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (beam search reorders hypotheses after each step)."""
        if self.k is not None:
            self.k, self.v = self.k.index_select(0, index), self.v.index_select(0, index)


@dataclass
class LayerCache:
    """The caches of one decoder layer: self-attention (growing) and cross-attention (static)."""

    self_attn: KVCache = field(default_factory=KVCache)
    cross_attn: KVCache = field(default_factory=lambda: KVCache(static=True))

    def reorder(self, index: Tensor) -> None:
        self.self_attn.reorder(index)
        self.cross_attn.reorder(index)


def new_caches(num_layers: int) -> list[LayerCache]:
    """One empty :class:`LayerCache` per layer."""
    return [LayerCache() for _ in range(num_layers)]


def reorder_caches(caches: list[LayerCache], index: Tensor) -> list[LayerCache]:
    """Reorder every layer's caches in place along the batch dimension; returns ``caches``."""
    for c in caches:
        c.reorder(index)
    return caches


def map_tensors(state, fn: Callable[[Tensor], Tensor]):
    """Apply ``fn`` to every tensor of a nested tuple/list/dict state (other leaves unchanged)."""
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, dict):
        return {key: map_tensors(val, fn) for key, val in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(map_tensors(s, fn) for s in state)
    return state
