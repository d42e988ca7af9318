"""Attention masks as composable predicates with structure.

A :class:`Mask` is a pure predicate ``(b, h, q_idx, kv_idx) -> bool`` (FlexAttention's ``mask_mod``
convention; True means "query may attend to this key") plus, where the pattern has one, a cheap
description of which ``(query block, key block)`` tiles are empty, full or partial. Fast backends use
that structure to skip empty tiles and to skip evaluating the predicate on full ones; the reference
backend only ever evaluates the predicate.

Positions are aligned lower-right: when ``Lq != Lk`` (KV-cache decoding) query ``i`` sits at absolute
position ``i + (Lk - Lq)``. Built-in position-dependent masks (causal, windows, strided, prefix-LM...)
are written in absolute positions; :meth:`Mask.bind` applies the offset for a given ``(Lq, Lk)``.
Calling a mask directly uses offset 0. Masks made from a user function or a bool tensor receive raw
indices.

Masks compose with ``&`` (both allow), ``|`` (either allows) and ``~`` (negation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

# Tile states used by fast backends.
EMPTY, PARTIAL, FULL = 0, 1, 2

# fn(b, h, q_idx, kv_idx, offset) -> bool tensor;  blocks(qs, qe, ks, ke, offset) -> int8 states
PredicateFn = Callable[[Tensor, Tensor, Tensor, Tensor, int], Tensor]
BlocksFn = Callable[[Tensor, Tensor, Tensor, Tensor, int], Tensor]


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
        kind: a short tag for special cases a backend can exploit (e.g. ``"causal"``).
        params: the parameters that define the mask (for introspection).
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
    ) -> None:
        self._fn = fn
        self._blocks = blocks
        self.name = name
        self.uses_batch = uses_batch
        self.uses_head = uses_head
        self.kind = kind
        self.params = dict(params or {})

    # -- predicate -------------------------------------------------------------------------------
    def __call__(self, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        """Evaluate the predicate with ``Lq == Lk`` alignment (offset 0)."""
        return self._fn(b, h, q_idx, kv_idx, 0)

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
        return dense.expand(shape)

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
        states = self._blocks(qs[:, None], qe[:, None], ks[None, :], ke[None, :], kv_len - q_len)
        return torch.as_tensor(states, dtype=torch.int8, device=device).expand(shape)

    @property
    def has_structure(self) -> bool:
        """True when :meth:`block_states` can prove some tiles empty or full."""
        return self._blocks is not None

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
        """The same predicate and structure under another name and kind tag."""
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
            grid = t.expand(t.shape[0], t.shape[1], int(qe.max()), int(ke.max()))
            return _states_from_grid(grid.any(0).any(0), grid.all(0).all(0), qs, qe, ks, ke)

        m = Mask(
            fn,
            f"tensor{tuple(mask.shape)}",
            blocks=blocks,
            uses_batch=t.shape[0] > 1,
            uses_head=t.shape[1] > 1,
        )
        m.kind, m.params = "tensor", {"tensor": t}
        return m


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
    )


def _prefix_sums(grid: Tensor) -> Tensor:
    """2-D inclusive prefix sums with a zero border: ``c[i, j] = grid[:i, :j].sum()``."""
    c = torch.zeros(grid.shape[0] + 1, grid.shape[1] + 1, dtype=torch.int64, device=grid.device)
    c[1:, 1:] = grid.to(torch.int64).cumsum(0).cumsum(1)
    return c


def _states_from_grid(any_grid: Tensor, all_grid: Tensor, qs, qe, ks, ke) -> Tensor:
    """Tile states from a token-level (Lq, Lk) grid via 2-D prefix sums (one pass, any tiling)."""

    def rect_sum(grid: Tensor) -> Tensor:
        c = _prefix_sums(grid)
        return c[qe, ke] - c[qs, ke] - c[qe, ks] + c[qs, ks]

    area = (qe - qs) * (ke - ks)
    states = torch.full(torch.broadcast_shapes(qs.shape, ks.shape), PARTIAL, dtype=torch.int8)
    states[rect_sum(any_grid) == 0] = EMPTY
    states[rect_sum(all_grid) == area] = FULL
    return states


def _band_blocks(left: float, right: float) -> BlocksFn:
    """Tile states for ``-left <= kv - q_pos <= right``."""

    def blocks(qs, qe, ks, ke, off):
        d_min = ks - (qe - 1 + off)
        d_max = (ke - 1) - (qs + off)
        states = torch.full(torch.broadcast_shapes(d_min.shape, d_max.shape), PARTIAL, dtype=torch.int8)
        states[(d_max < -left) | (d_min > right)] = EMPTY
        states[(d_min >= -left) & (d_max <= right)] = FULL
        return states

    return blocks


def band(left: float, right: float, name: str | None = None, kind: str = "band") -> Mask:
    """Keys within ``left`` positions before and ``right`` after the query (``math.inf`` = unbounded)."""
    if left < 0 or right < 0:
        raise ValueError(f"band: left and right must be >= 0, got left={left}, right={right}")

    def fn(b, h, q, kv, off):
        d = kv - (q + off)
        return (d >= -left) & (d <= right)

    return Mask(
        fn,
        name or f"band({left}, {right})",
        blocks=_band_blocks(left, right),
        kind=kind,
        params={"left": left, "right": right},
    )


def causal() -> Mask:
    """Causal mask: query at position i sees keys j <= i (lower-right aligned when Lq != Lk)."""
    return band(math.inf, 0, name="causal", kind="causal")


_causal = causal  # for functions whose `causal` argument shadows the factory


def full() -> Mask:
    """Everything visible (the identity for ``&``)."""
    return band(math.inf, math.inf, name="full", kind="full")


def sliding_window(window: int, causal: bool = False) -> Mask:
    """Local attention: a query sees ``window`` keys on each side (only the past if ``causal``) and itself.

    Local attention as in Image Transformer (Parmar et al., 2018) and Longformer (Beltagy et al., 2020):
    key j is visible from query i iff ``i - window <= j <= i + window`` (``i - window <= j <= i`` causal).
    """
    if not isinstance(window, int) or window < 0:
        raise ValueError(f"sliding_window: window must be an int >= 0, got {window!r}")
    m = band(
        window,
        0 if causal else window,
        name=f"sliding_window({window}{', causal' if causal else ''})",
        kind="sliding_window",
    )
    m.params["causal"] = causal
    return m


def _key_prefix(lengths, name: str, kind: str) -> Mask:
    """Keys with index < lengths[b] (int or (B,) tensor)."""
    if isinstance(lengths, int):
        lengths = torch.tensor([lengths])
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.dtype.is_floating_point or (lengths < 0).any():
        raise ValueError(
            f"{kind}: lengths must be an int or a 1-D integer tensor of values >= 0, got {lengths!r}"
        )
    per_batch = lengths.numel() > 1

    def fn(b, h, q, kv, off):
        n = lengths.to(kv.device)[b.clamp(max=lengths.numel() - 1)]
        return kv < n

    def blocks(qs, qe, ks, ke, off):
        states = torch.full(torch.broadcast_shapes(qs.shape, ks.shape), PARTIAL, dtype=torch.int8)
        states[(ks >= int(lengths.max())).expand_as(states)] = EMPTY
        states[(ke <= int(lengths.min())).expand_as(states)] = FULL
        return states

    return Mask(fn, name, blocks=blocks, uses_batch=per_batch, kind=kind, params={"lengths": lengths})


def padding(lengths) -> Mask:
    """Key padding: example b has ``lengths[b]`` real tokens; keys at index >= lengths[b] are hidden."""
    return _key_prefix(lengths, "padding", "padding")


def prefix_lm(prefix_len) -> Mask:
    """Prefix-LM (UniLM / T5): bidirectional over the first ``prefix_len`` tokens, causal after them."""
    return (causal() | _key_prefix(prefix_len, f"prefix({prefix_len})", "prefix_lm")).renamed(
        f"prefix_lm({prefix_len})", "prefix_lm"
    )


def strided(stride: int, causal: bool = True) -> Mask:
    """Sparse Transformer strided pattern (Child et al., 2019): the previous ``stride`` positions plus
    every ``stride``-th earlier position: ``i - j < stride`` or ``(i - j) % stride == 0`` (both heads'
    patterns merged into one mask). Non-causal: the same in both directions."""
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"strided: stride must be an int >= 1, got {stride!r}")
    local = band(stride - 1, 0 if causal else stride - 1)
    column = Mask(lambda b, h, q, kv, off: (q + off - kv) % stride == 0, f"every {stride}th")
    direction = _causal() if causal else full()
    return (local | (column & direction)).renamed(f"strided({stride})", "strided")


def fixed(stride: int, summary: int = 1) -> Mask:
    """Sparse Transformer fixed pattern (Child et al., 2019), causal: a query sees its own block of
    ``stride`` positions (``floor(j/l) == floor(i/l)``) and the last ``summary`` positions of every
    block (``j mod l >= l - c``)."""
    if not isinstance(stride, int) or stride < 1 or not 1 <= summary <= stride:
        raise ValueError(
            f"fixed: need stride >= 1 and 1 <= summary <= stride, got stride={stride}, summary={summary}"
        )
    same_block = Mask(
        lambda b, h, q, kv, off: (q + off) // stride == kv // stride,
        "same block",
        blocks=_same_block_blocks(stride),
    )
    summaries = Mask(lambda b, h, q, kv, off: kv % stride >= stride - summary, f"summary({summary})")
    return ((same_block | summaries) & causal()).renamed(f"fixed({stride}, {summary})", "fixed")


def _same_block_blocks(stride: int) -> BlocksFn:
    def blocks(qs, qe, ks, ke, off):
        q_lo, q_hi = (qs + off) // stride, (qe - 1 + off) // stride
        k_lo, k_hi = ks // stride, (ke - 1) // stride
        states = torch.full(torch.broadcast_shapes(qs.shape, ks.shape), PARTIAL, dtype=torch.int8)
        states[(q_hi < k_lo) | (k_hi < q_lo)] = EMPTY
        states[(q_lo == q_hi) & (k_lo == k_hi) & (q_lo == k_lo)] = FULL
        return states

    return blocks


def block_sparse(layout: Tensor, block: int) -> Mask:
    """Block-sparse attention: token (i, j) is visible iff ``layout[..., i // block, j // block]``.

    ``layout`` is a bool tensor ``(n_q_blocks, n_k_blocks)`` or per head ``(H, n_q_blocks, n_k_blocks)``
    (the layouts of Sparse Transformer / BigBird / DeepSpeed sparse attention).
    """
    layout = torch.as_tensor(layout)
    if layout.dtype != torch.bool or layout.dim() not in (2, 3):
        raise ValueError(
            f"block_sparse: layout must be a 2-D or 3-D bool tensor, got {layout.dtype} {tuple(layout.shape)}"
        )
    if not isinstance(block, int) or block < 1:
        raise ValueError(f"block_sparse: block must be an int >= 1, got {block!r}")
    per_head = layout.dim() == 3
    lay = layout if per_head else layout[None]  # (H|1, nqb, nkb)
    n_q, n_k = lay.shape[1] * block, lay.shape[2] * block

    def check_covered(last_q: int, last_kv: int) -> None:
        """Both the predicate and the tile states need the layout to reach the last position."""
        if last_q >= n_q or last_kv >= n_k:
            raise ValueError(f"block_sparse: layout covers {n_q} x {n_k} tokens, smaller than the sequence")

    def fn(b, h, q, kv, off):
        pos = q + off
        if torch.is_tensor(pos) and pos.numel():
            check_covered(int(pos.max()), int(kv.max()))
        hh = h.clamp(max=lay.shape[0] - 1)
        return lay.to(q.device)[hh, pos.clamp(min=0) // block, kv // block] & (pos >= 0)

    any_sum, all_sum = _prefix_sums(lay.any(0)), _prefix_sums(lay.all(0))  # (nqb+1, nkb+1)

    def blocks(qs, qe, ks, ke, off):
        # Exact states from the layout alone (no token grid): a tile touches layout blocks r0..r1 x c0..c1.
        check_covered(int(qe.max()) - 1 + off, int(ke.max()) - 1)
        first, last = qs + off, qe - 1 + off  # query positions of each tile; positions < 0 see nothing
        r0, r1 = first.clamp(min=0) // block, last.clamp(min=0) // block + 1
        c0, c1 = ks // block, (ke - 1) // block + 1

        def count(c: Tensor) -> Tensor:
            return c[r1, c1] - c[r0, c1] - c[r1, c0] + c[r0, c0]

        states = torch.full(torch.broadcast_shapes(qs.shape, ks.shape), PARTIAL, dtype=torch.int8)
        states[(count(all_sum) == (r1 - r0) * (c1 - c0)) & (first >= 0)] = FULL
        states[(count(any_sum) == 0) | (last < 0)] = EMPTY
        return states

    return Mask(
        fn,
        f"block_sparse({tuple(layout.shape)}, block={block})",
        blocks=blocks,
        uses_head=per_head,
        kind="block_sparse",
        params={"layout": layout, "block": block},
    )


def global_tokens(indices: Sequence[int] | Tensor) -> Mask:
    """Longformer-style global tokens: the given positions see everything and are seen by everyone."""
    idx = torch.as_tensor(indices, dtype=torch.long).flatten()
    if (idx < 0).any():
        raise ValueError(f"global_tokens: indices must be >= 0, got {idx.tolist()}")
    size = int(idx.max()) + 1 if idx.numel() else 0
    is_global = torch.zeros(size + 1, dtype=torch.bool)
    is_global[idx] = True  # the extra last slot stays False and absorbs every position >= size

    def lookup(pos):
        return is_global.to(pos.device)[pos.clamp(min=0, max=size)] & (pos >= 0)

    def fn(b, h, q, kv, off):
        return lookup(q + off) | lookup(kv)

    def blocks(qs, qe, ks, ke, off):
        n = int(max(qe.max() + off, ke.max())) + 1
        counts = torch.zeros(n + 1, dtype=torch.int64)
        counts[1:] = lookup(torch.arange(n)).to(torch.int64).cumsum(0)
        q_lo, q_hi = (qs + off).clamp(min=0), (qe + off).clamp(min=0)
        gq, gk = counts[q_hi] - counts[q_lo], counts[ke] - counts[ks]
        states = torch.full(torch.broadcast_shapes(qs.shape, ks.shape), PARTIAL, dtype=torch.int8)
        states[((gq == 0) & (gk == 0)).expand_as(states)] = EMPTY
        states[(((gq == q_hi - q_lo) & (q_hi > q_lo)) | (gk == ke - ks)).expand_as(states)] = FULL
        return states

    return Mask(
        fn, f"global_tokens({idx.tolist()})", blocks=blocks, kind="global_tokens", params={"indices": idx}
    )


def bigbird(
    seq_len: int,
    block: int = 64,
    window_blocks: int = 3,
    global_blocks: int = 2,
    random_blocks: int = 3,
    seed: int = 0,
) -> Mask:
    """BigBird (Zaheer et al., 2020) block-sparse pattern for sequences up to ``seq_len``: the first
    ``global_blocks`` blocks are global, each query block sees ``window_blocks`` neighbouring blocks
    (centred) and ``random_blocks`` random key blocks (fixed by ``seed``)."""
    if seq_len < 1 or block < 1 or window_blocks < 1 or global_blocks < 0 or random_blocks < 0:
        raise ValueError(
            "bigbird: need seq_len, block, window_blocks >= 1 and global_blocks, random_blocks >= 0"
        )
    n = math.ceil(seq_len / block)
    qb = torch.arange(n)[:, None]
    kb = torch.arange(n)[None, :]
    layout = (qb - kb).abs() <= window_blocks // 2
    layout |= (qb < global_blocks) | (kb < global_blocks)
    gen = torch.Generator().manual_seed(seed)
    for row in range(global_blocks, n):
        candidates = (~layout[row]).nonzero().flatten()
        pick = candidates[torch.randperm(candidates.numel(), generator=gen)[:random_blocks]]
        layout[row, pick] = True
    m = block_sparse(layout, block)
    return m.renamed(
        f"bigbird(seq_len={seq_len}, block={block}, window={window_blocks}, global={global_blocks}, "
        f"random={random_blocks}, seed={seed})",
        "bigbird",
    )


def document(ids: Tensor) -> Mask:
    """Packed sequences: tokens attend only within their own document; ``ids`` is ``(L,)`` or ``(B, L)``
    giving each key position's document id (query positions use the same ids, lower-right aligned)."""
    ids = torch.as_tensor(ids)
    if ids.dim() not in (1, 2) or ids.dtype.is_floating_point:
        raise ValueError(
            f"document: ids must be an integer tensor (L,) or (B, L), got {ids.dtype} {tuple(ids.shape)}"
        )
    ids2 = ids if ids.dim() == 2 else ids[None]  # (B|1, L)
    length = ids2.shape[1]

    def at(b, pos):
        d = ids2.to(pos.device)
        return d[b.clamp(max=d.shape[0] - 1), pos.clamp(min=0, max=length - 1)]

    def fn(b, h, q, kv, off):
        pos = q + off
        return (at(b, pos) == at(b, kv)) & (pos >= 0) & (pos < length) & (kv < length)

    def blocks(qs, qe, ks, ke, off):
        out = torch.full(torch.broadcast_shapes(qs.shape, ks.shape), PARTIAL, dtype=torch.int8)
        empty, full_ = torch.ones_like(out, dtype=torch.bool), torch.ones_like(out, dtype=torch.bool)
        for row in ids2:
            q_min, q_max = _range_min_max(row, (qs + off).clamp(0, length), (qe + off).clamp(0, length))
            k_min, k_max = _range_min_max(row, ks.clamp(max=length), ke.clamp(max=length))
            empty &= (q_max < k_min) | (k_max < q_min)
            full_ &= (q_min == q_max) & (k_min == k_max) & (q_min == k_min)
        out[empty] = EMPTY
        out[full_ & (qs + off >= 0) & (qe + off <= length) & (ke <= length)] = FULL
        return out

    return Mask(
        fn, "document", blocks=blocks, uses_batch=ids.dim() == 2, kind="document", params={"ids": ids}
    )


def _range_min_max(row: Tensor, starts: Tensor, ends: Tensor) -> tuple[Tensor, Tensor]:
    """Min and max of ``row[s:e]`` for each range (ranges that are empty give +inf / -inf)."""
    big = torch.iinfo(torch.int64).max
    lo = torch.full(starts.shape, big, dtype=torch.int64)
    hi = torch.full(starts.shape, -big, dtype=torch.int64)
    flat_s, flat_e = starts.flatten(), ends.flatten()
    lo_f, hi_f = lo.view(-1), hi.view(-1)
    for i, (s, e) in enumerate(zip(flat_s.tolist(), flat_e.tolist())):
        if e > s:
            seg = row[s:e]
            lo_f[i], hi_f[i] = int(seg.min()), int(seg.max())
    return lo, hi


ALL_MASKS = {
    "causal": causal,
    "padding": padding,
    "sliding_window": sliding_window,
    "strided": strided,
    "fixed": fixed,
    "block_sparse": block_sparse,
    "bigbird": bigbird,
    "global_tokens": global_tokens,
    "document": document,
    "prefix_lm": prefix_lm,
    "band": band,
    "full": full,
}
