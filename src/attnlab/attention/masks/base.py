"""The :class:`Mask`: a predicate, its tile states, the structure fast backends read, and ``& | ~``."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .tiles import FULL, PARTIAL, BlocksFn, states_from_grid

# fn(b, h, q_idx, kv_idx, offset) -> bool tensor
PredicateFn = Callable[[Tensor, Tensor, Tensor, Tensor, int], Tensor]


class Mask:
    """A predicate over (batch, head, query index, key index) plus the structure of its pattern.

    Args:
        fn: ``fn(b, h, q_idx, kv_idx, offset) -> bool tensor``; index tensors broadcast against each
            other. Position-aware masks add ``offset = Lk - Lq`` to ``q_idx``.
        name: human-readable description (shown by ``repr`` and ``attnlab list``).
        blocks: optional ``blocks(q_start, q_end, k_start, k_end, offset) -> int8`` returning
            :data:`EMPTY`, :data:`PARTIAL` or :data:`FULL` per tile (inputs are broadcastable
            ``(nq, 1)`` and ``(1, nk)`` tensors of token ranges, end exclusive). It must be
            conservative: EMPTY/FULL only when certain. None means "unknown" (all PARTIAL).
        uses_batch / uses_head: whether the predicate depends on ``b`` / ``h`` (a mask that does not
            is materialised with a broadcast dimension of 1).
        kind: a short tag naming the pattern (for display and introspection; backends read the
            typed structure below instead).
        params: the parameters that define the mask (for introspection).
        band, key_lengths, layout, block, parts, dense: the structure below, when the mask is exactly
            that pattern.

    Structure a backend may exploit (each None / empty when the mask is not exactly that pattern):
        band: ``(left, right)``: visible iff ``-left <= kv - q_pos <= right`` (``math.inf`` unbounded);
            see :attr:`is_causal` and :attr:`is_full`.
        key_lengths: ``(B|1,)`` integer tensor: visible iff ``kv < key_lengths[b]`` (key padding).
        layout, block: a bool block layout ``(H|1, n_q_blocks, n_k_blocks)`` and its block size:
            visible iff ``layout[h, q_pos // block, kv // block]``.
        parts: the masks this one is the conjunction (``&``) of; see :meth:`conjuncts`.
        dense: the bool tensor ``(B|1, H|1, Lq|1, Lk|1)`` the mask wraps (:meth:`from_tensor`); its
            tile states cost a pass over every entry rather than one step per tile.
    """

    def __init__(
        self,
        fn: PredicateFn,
        name: str,
        *,
        blocks: BlocksFn | None = None,
        uses_batch: bool = False,
        uses_head: bool = False,
        kind: str = "custom",
        params: dict | None = None,
        band: tuple[float, float] | None = None,
        key_lengths: Tensor | None = None,
        layout: Tensor | None = None,
        block: int | None = None,
        parts: tuple[Mask, ...] = (),
        dense: Tensor | None = None,
    ) -> None:
        self._fn = fn
        self._blocks = blocks
        self.name = name
        self.uses_batch = uses_batch
        self.uses_head = uses_head
        self.kind = kind
        self.params = dict(params or {})
        self.band = band
        self.key_lengths = key_lengths
        self.layout = layout
        self.block = block
        self.parts = parts
        self.dense = dense

    # -- predicate -------------------------------------------------------------------------------
    def __call__(self, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        """Evaluate the predicate with ``Lq == Lk`` alignment (offset 0)."""
        return self._fn(b, h, q_idx, kv_idx, 0)

    def at(self, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor, offset: int) -> Tensor:
        """Evaluate the predicate at broadcastable index tensors of any rank; query ``i`` sits at
        absolute position ``i + offset`` (the grid a banded backend builds per block of queries)."""
        return torch.as_tensor(self._fn(b, h, q_idx, kv_idx, offset), dtype=torch.bool)

    def bind(self, q_len: int, kv_len: int) -> Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]:
        """The predicate for a given ``(Lq, Lk)``: a FlexAttention-style ``mask_mod``."""
        offset = kv_len - q_len
        fn = self._fn
        return lambda b, h, q_idx, kv_idx: fn(b, h, q_idx, kv_idx, offset)

    def tile(
        self, batch: int, heads: int, q_range: tuple[int, int], kv_range: tuple[int, int], offset: int, device
    ) -> Tensor:
        """Evaluate the predicate on a tile; returns bool ``(B|1, H|1, q_end-q_start, kv_end-kv_start)``."""
        b, h, q, kv = index_grid(batch, heads, q_range, kv_range, self.uses_batch, self.uses_head, device)
        out = self._fn(b, h, q, kv, offset)
        return torch.as_tensor(out, dtype=torch.bool, device=device)

    def materialize(self, batch: int, heads: int, q_len: int, kv_len: int, device=None) -> Tensor:
        """The dense bool mask, shape ``(B|1, H|1, Lq, Lk)`` (size-1 dims where it does not vary)."""
        dense = self.tile(batch, heads, (0, q_len), (0, kv_len), kv_len - q_len, device)
        shape = (batch if self.uses_batch else 1, heads if self.uses_head else 1, q_len, kv_len)
        return dense.expand(shape)  # (B|1, H|1, Lq, Lk)

    # -- structure -------------------------------------------------------------------------------
    def block_states(self, q_len: int, kv_len: int, block_q: int, block_k: int, device=None) -> Tensor:
        """Tile states ``(ceil(Lq/block_q), ceil(Lk/block_k))`` int8 of EMPTY / PARTIAL / FULL."""
        qs = torch.arange(0, q_len, block_q, device=device)
        ks = torch.arange(0, kv_len, block_k, device=device)
        qe = (qs + block_q).clamp(max=q_len)
        ke = (ks + block_k).clamp(max=kv_len)
        shape = (qs.numel(), ks.numel())
        if self._blocks is None:
            return torch.full(shape, PARTIAL, dtype=torch.int8, device=device)
        # query ranges as a column (nq, 1), key ranges as a row (1, nk)
        states = self._blocks(qs[:, None], qe[:, None], ks[None, :], ke[None, :], kv_len - q_len)
        return torch.as_tensor(states, dtype=torch.int8, device=device).expand(shape)  # (nq, nk)

    @property
    def has_structure(self) -> bool:
        """True when :meth:`block_states` can prove some tiles empty or full."""
        return self._blocks is not None

    @property
    def is_full(self) -> bool:
        """True when every key is visible from every query (the band of :func:`full`)."""
        return self.band == (math.inf, math.inf)

    @property
    def is_causal(self) -> bool:
        """True when the mask is exactly causal (the band ``(inf, 0)``: keys up to the query)."""
        return self.band == (math.inf, 0)

    def conjuncts(self) -> tuple[Mask, ...]:
        """The masks whose ``&`` this is, flattened (``(self,)`` when it is not a conjunction)."""
        if not self.parts:
            return (self,)
        return tuple(leaf for part in self.parts for leaf in part.conjuncts())

    # -- composition -----------------------------------------------------------------------------
    def __and__(self, other: Mask) -> Mask:
        other = _as_mask(other)
        return _combine(self, other, "&", torch.logical_and, torch.minimum)

    def __or__(self, other: Mask) -> Mask:
        other = _as_mask(other)
        return _combine(self, other, "|", torch.logical_or, torch.maximum)

    def __invert__(self) -> Mask:
        fn, blocks = self._fn, self._blocks
        inv_blocks = None if blocks is None else (lambda *a: FULL - blocks(*a))
        return Mask(
            lambda b, h, q, kv, off: ~fn(b, h, q, kv, off),
            f"~{self.name}",
            blocks=inv_blocks,
            uses_batch=self.uses_batch,
            uses_head=self.uses_head,
        )

    def __repr__(self) -> str:
        return f"Mask({self.name})"

    def renamed(self, name: str, kind: str) -> Mask:
        """The same predicate and tile states under another name and kind tag.

        A named pattern built by composition (strided, fixed, prefix-LM, BigBird) is its own pattern:
        the typed structure of what it was built from (band, layout, parts...) is not carried over.
        """
        return Mask(
            self._fn,
            name,
            blocks=self._blocks,
            uses_batch=self.uses_batch,
            uses_head=self.uses_head,
            kind=kind,
            params=self.params,
        )

    # -- constructors ----------------------------------------------------------------------------
    @staticmethod
    def from_fn(fn: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor], name: str = "custom") -> Mask:
        """Wrap a FlexAttention ``mask_mod(b, h, q_idx, kv_idx)``; it receives raw indices."""
        return Mask(lambda b, h, q, kv, off: fn(b, h, q, kv), name, uses_batch=True, uses_head=True)

    @staticmethod
    def from_tensor(mask: Tensor) -> Mask:
        """Wrap a bool tensor broadcastable to ``(B, H, Lq, Lk)`` (True = attend); raw indices."""
        if mask.dtype != torch.bool:
            raise ValueError(f"mask: expected a bool tensor (True = may attend), got dtype {mask.dtype}")
        if mask.dim() > 4:
            raise ValueError(
                f"mask: expected at most 4 dims broadcastable to (B, H, Lq, Lk), got {tuple(mask.shape)}"
            )
        t = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape))  # (B|1, H|1, Lq|1, Lk|1)
        limits = [s - 1 for s in t.shape]

        def fn(b, h, q, kv, off):
            return t[
                b.clamp(max=limits[0]),
                h.clamp(max=limits[1]),
                q.clamp(max=limits[2]),
                kv.clamp(max=limits[3]),
            ]

        def blocks(qs, qe, ks, ke, off):
            grid = t.expand(t.shape[0], t.shape[1], int(qe.max()), int(ke.max()))  # (B|1, H|1, Lq, Lk)
            return states_from_grid(grid.any(0).any(0), grid.all(0).all(0), qs, qe, ks, ke)

        return Mask(
            fn,
            f"tensor{tuple(mask.shape)}",
            blocks=blocks,
            uses_batch=t.shape[0] > 1,
            uses_head=t.shape[1] > 1,
            kind="tensor",
            params={"tensor": t},
            dense=t,
        )


def index_grid(batch, heads, q_range, kv_range, uses_batch=True, uses_head=True, device=None):
    """Broadcastable index tensors ``b (B|1,1,1,1), h (1,H|1,1,1), q (1,1,Lq,1), kv (1,1,1,Lk)``."""
    b = torch.arange(batch if uses_batch else 1, device=device).view(-1, 1, 1, 1)
    h = torch.arange(heads if uses_head else 1, device=device).view(1, -1, 1, 1)
    q = torch.arange(q_range[0], q_range[1], device=device).view(1, 1, -1, 1)
    kv = torch.arange(kv_range[0], kv_range[1], device=device).view(1, 1, 1, -1)
    return b, h, q, kv


def _as_mask(m) -> Mask:
    if isinstance(m, Mask):
        return m
    if isinstance(m, Tensor):
        return Mask.from_tensor(m)
    raise TypeError(f"cannot combine a Mask with {type(m).__name__}; expected a Mask or a bool tensor")


def _combine(a: Mask, b: Mask, op: str, logic, state_op) -> Mask:
    """``a op b``: the predicates combined by ``logic``, the tile states by ``state_op`` (the tile
    algebra: ``&`` is the minimum of EMPTY < PARTIAL < FULL, ``|`` the maximum)."""
    fa, fb = a._fn, b._fn
    ba, bb = a._blocks, b._blocks
    unknown = lambda *args: torch.tensor(PARTIAL, dtype=torch.int8)  # noqa: E731
    blocks = None
    if ba is not None or bb is not None:
        ba, bb = ba or unknown, bb or unknown
        blocks = lambda *args: state_op(torch.as_tensor(ba(*args)), torch.as_tensor(bb(*args)))  # noqa: E731
    return Mask(
        lambda *args: logic(fa(*args), fb(*args)),
        f"({a.name} {op} {b.name})",
        blocks=blocks,
        uses_batch=a.uses_batch or b.uses_batch,
        uses_head=a.uses_head or b.uses_head,
        kind="composite",
        params={"op": op, "parts": (a, b)},
        parts=(a, b) if op == "&" else (),
    )
