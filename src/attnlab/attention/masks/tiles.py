"""Tile states: which ``(query block, key block)`` tiles of a mask are EMPTY, PARTIAL or FULL.

Every function here is a ``blocks(q_start, q_end, k_start, k_end, offset) -> int8`` classifier (or
builds one) for one kind of structure. Inputs are broadcastable ``(nq, 1)`` and ``(1, nk)`` tensors of
token ranges (end exclusive); ``offset = Lk - Lq`` moves query indices to absolute positions. The
answers are conservative: EMPTY or FULL only when certain. Bands, key prefixes, block layouts, global
tokens and document ids are classified analytically or from prefix sums, in time proportional to the
number of tiles; a dense bool grid (a mask given as a tensor) from 2-D prefix sums in one pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

# Tile states used by fast backends, ordered so that & is the minimum and | the maximum.
EMPTY, PARTIAL, FULL = 0, 1, 2

# blocks(q_start, q_end, k_start, k_end, offset) -> int8 states
BlocksFn = Callable[[Tensor, Tensor, Tensor, Tensor, int], Tensor]


def _partial(qs: Tensor, ks: Tensor) -> Tensor:
    """All-PARTIAL states ``(nq, nk)`` for the tiles of ``qs (nq, 1)`` x ``ks (1, nk)``."""
    return torch.full(torch.broadcast_shapes(qs.shape, ks.shape), PARTIAL, dtype=torch.int8)


def prefix_sums(grid: Tensor) -> Tensor:
    """2-D inclusive prefix sums with a zero border: ``c[i, j] = grid[:i, :j].sum()``."""
    c = torch.zeros(grid.shape[0] + 1, grid.shape[1] + 1, dtype=torch.int64, device=grid.device)
    c[1:, 1:] = grid.to(torch.int64).cumsum(0).cumsum(1)
    return c


def states_from_grid(any_grid: Tensor, all_grid: Tensor, qs, qe, ks, ke) -> Tensor:
    """Tile states from a token-level (Lq, Lk) grid via 2-D prefix sums (one pass, any tiling)."""

    def rect_sum(grid: Tensor) -> Tensor:
        c = prefix_sums(grid)
        return c[qe, ke] - c[qs, ke] - c[qe, ks] + c[qs, ks]

    area = (qe - qs) * (ke - ks)
    states = _partial(qs, ks)
    states[rect_sum(any_grid) == 0] = EMPTY
    states[rect_sum(all_grid) == area] = FULL
    return states


def band_tiles(left: float, right: float) -> BlocksFn:
    """Tile states for ``-left <= kv - q_pos <= right``."""

    def blocks(qs, qe, ks, ke, off):
        d_min = ks - (qe - 1 + off)
        d_max = (ke - 1) - (qs + off)
        states = _partial(d_min, d_max)
        states[(d_max < -left) | (d_min > right)] = EMPTY
        states[(d_min >= -left) & (d_max <= right)] = FULL
        return states

    return blocks


def key_prefix_tiles(lengths: Tensor) -> BlocksFn:
    """Tile states for ``kv < lengths[b]``: certain only where every example agrees."""

    def blocks(qs, qe, ks, ke, off):
        states = _partial(qs, ks)
        states[(ks >= int(lengths.max())).expand_as(states)] = EMPTY
        states[(ke <= int(lengths.min())).expand_as(states)] = FULL
        return states

    return blocks


def same_block_tiles(stride: int) -> BlocksFn:
    """Tile states for ``q_pos // stride == kv // stride`` (Sparse Transformer's fixed pattern)."""

    def blocks(qs, qe, ks, ke, off):
        q_lo, q_hi = (qs + off) // stride, (qe - 1 + off) // stride
        k_lo, k_hi = ks // stride, (ke - 1) // stride
        states = _partial(qs, ks)
        states[(q_hi < k_lo) | (k_hi < q_lo)] = EMPTY
        states[(q_lo == q_hi) & (k_lo == k_hi) & (q_lo == k_lo)] = FULL
        return states

    return blocks


def layout_tiles(lay: Tensor, block: int, check_covered: Callable[[int, int], None]) -> BlocksFn:
    """Exact tile states of a block layout ``lay (H|1, nqb, nkb)`` from the layout alone (no token
    grid): a tile touches layout blocks ``r0..r1 x c0..c1``; count visible ones with prefix sums."""
    any_sum, all_sum = prefix_sums(lay.any(0)), prefix_sums(lay.all(0))  # (nqb+1, nkb+1)

    def blocks(qs, qe, ks, ke, off):
        check_covered(int(qe.max()) - 1 + off, int(ke.max()) - 1)
        first, last = qs + off, qe - 1 + off  # query positions of each tile; positions < 0 see nothing
        r0, r1 = first.clamp(min=0) // block, last.clamp(min=0) // block + 1
        c0, c1 = ks // block, (ke - 1) // block + 1

        def count(c: Tensor) -> Tensor:
            return c[r1, c1] - c[r0, c1] - c[r1, c0] + c[r0, c0]

        states = _partial(qs, ks)
        states[(count(all_sum) == (r1 - r0) * (c1 - c0)) & (first >= 0)] = FULL
        states[(count(any_sum) == 0) | (last < 0)] = EMPTY
        return states

    return blocks


def global_tiles(lookup: Callable[[Tensor], Tensor]) -> BlocksFn:
    """Tile states for ``is_global(q_pos) | is_global(kv)``, counting global positions with 1-D prefix
    sums: a tile is EMPTY without any, FULL when all its queries or all its keys are global."""

    def blocks(qs, qe, ks, ke, off):
        n = int(max(qe.max() + off, ke.max())) + 1
        counts = torch.zeros(n + 1, dtype=torch.int64)
        counts[1:] = lookup(torch.arange(n)).to(torch.int64).cumsum(0)
        q_lo, q_hi = (qs + off).clamp(min=0), (qe + off).clamp(min=0)
        gq, gk = counts[q_hi] - counts[q_lo], counts[ke] - counts[ks]
        states = _partial(qs, ks)
        states[((gq == 0) & (gk == 0)).expand_as(states)] = EMPTY
        states[(((gq == q_hi - q_lo) & (q_hi > q_lo)) | (gk == ke - ks)).expand_as(states)] = FULL
        return states

    return blocks


def document_tiles(ids: Tensor) -> BlocksFn:
    """Tile states for ``ids[b, q_pos] == ids[b, kv]`` with ``ids (B|1, L)``: EMPTY when the id ranges
    of the tile's queries and keys do not overlap in any example, FULL when both are one same id."""
    length = ids.shape[1]

    def blocks(qs, qe, ks, ke, off):
        out = _partial(qs, ks)
        empty, full = torch.ones_like(out, dtype=torch.bool), torch.ones_like(out, dtype=torch.bool)
        for row in ids:
            q_min, q_max = range_min_max(row, (qs + off).clamp(0, length), (qe + off).clamp(0, length))
            k_min, k_max = range_min_max(row, ks.clamp(max=length), ke.clamp(max=length))
            empty &= (q_max < k_min) | (k_max < q_min)
            full &= (q_min == q_max) & (k_min == k_max) & (q_min == k_min)
        out[empty] = EMPTY
        out[full & (qs + off >= 0) & (qe + off <= length) & (ke <= length)] = FULL
        return out

    return blocks


def range_min_max(row: Tensor, starts: Tensor, ends: Tensor) -> tuple[Tensor, Tensor]:
    """Min and max of ``row[s:e]`` for each range (ranges that are empty give +inf / -inf)."""
    big = torch.iinfo(torch.int64).max
    lo = torch.full(starts.shape, big, dtype=torch.int64)
    hi = torch.full(starts.shape, -big, dtype=torch.int64)
    flat_s, flat_e = starts.flatten(), ends.flatten()  # (n_ranges,)
    lo_f, hi_f = lo.view(-1), hi.view(-1)  # (n_ranges,) views written through
    for i, (s, e) in enumerate(zip(flat_s.tolist(), flat_e.tolist())):
        if e > s:
            seg = row[s:e]
            lo_f[i], hi_f[i] = int(seg.min()), int(seg.max())
    return lo, hi
