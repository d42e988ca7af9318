"""Query blocks and key windows of the banded backend: their geometry, views and per-block masks.

Query block ``i`` holds queries ``[i·bs, (i+1)·bs)`` and sees the keys ``[start(i), start(i) + width)``
with ``start(i) = i·bs + shift`` (``shift = (Lk - Lq) - left``, ``width = bs + left + right``): a window
that holds every key the band ``(left, right)`` of the mask lets its queries see. Blocks whose window
lies inside ``[0, Lk)`` and whose queries are all real form the *inner* group: their query blocks and
key windows are views (``unflatten``, ``unfold``) and their windows all sit at the same offset from
their queries. The others (the first and last few, and a last partial block) form the *edge* group:
windows clamped into ``[0, Lk)`` and gathered, queries past ``Lq`` padded (they repeat the last query
and are dropped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..masks.bands import band_bound, is_translation_invariant
from ..request import Request

# Query block size: a window of bs + left + right keys serves bs queries, so smaller blocks waste fewer
# products on keys outside the band, while the fused kernel's per-block overhead grows below 64
# (measured in docs/benchmarks.md).
BLOCK = 64


@dataclass(frozen=True)
class Windows:
    """The block geometry of one request; blocks ``first <= i < stop`` are the inner group."""

    block: int
    width: int
    shift: int
    n_blocks: int
    first: int
    stop: int
    q_len: int
    kv_len: int

    def start(self, i: int) -> int:
        """First key of block ``i``'s window, clamped into ``[0, Lk - width]``."""
        return min(max(i * self.block + self.shift, 0), self.kv_len - self.width)


@dataclass(frozen=True)
class Group:
    """Blocks handled by one fused call: ``kind`` is ``"inner"`` (views) or ``"edge"`` (gathered)."""

    kind: str
    blocks: list[int]
    starts: list[int]

    @property
    def uniform(self) -> bool:
        return self.kind == "inner"


def make_windows(req: Request, block: int | None = None) -> Windows | None:
    """The window geometry of ``req``, or None when its mask has no finite band (or a length is 0)."""
    bound = band_bound(req.mask)
    if bound is None or req.q_len == 0 or req.kv_len == 0:
        return None
    left, right = bound
    bs = max(1, min(block or BLOCK, req.q_len))
    width = max(1, min(bs + left + right, req.kv_len))
    shift = req.offset - left  # query i sits at i + offset and sees keys from i + offset - left
    n = math.ceil(req.q_len / bs)
    first = min(n, math.ceil(max(0, -shift) / bs))
    stop = max(first, min(req.q_len // bs, (req.kv_len - width - shift) // bs + 1))
    return Windows(bs, width, shift, n, first, stop, req.q_len, req.kv_len)


def block_groups(geo: Windows) -> list[Group]:
    """The edge group (if any) and the inner group (if any), each with its window starts."""
    edge = [i for i in range(geo.n_blocks) if not geo.first <= i < geo.stop]
    inner = list(range(geo.first, geo.stop))
    groups = [Group("edge", edge, [geo.start(i) for i in edge])] if edge else []
    if inner:
        groups.append(Group("inner", inner, [geo.start(i) for i in inner]))
    return groups


def query_index(geo: Windows, blocks: list[int], device) -> Tensor:
    """Query index of every row of the blocks ``(n, bs)``; rows past ``Lq`` repeat the last query."""
    rows = torch.tensor(blocks, device=device)[:, None] * geo.block + torch.arange(geo.block, device=device)
    return rows.clamp(max=geo.q_len - 1)


def key_index(geo: Windows, starts: list[int], device) -> Tensor:
    """Key index of every window position ``(n, width)``."""
    return torch.tensor(starts, device=device)[:, None] + torch.arange(geo.width, device=device)


def take_blocks(x: Tensor, geo: Windows, group: Group) -> Tensor:
    """Rows of ``x (H, Lq, X)`` by query block ``(H, n, bs, X)``: a view for the inner group."""
    if group.uniform:
        lo, hi = group.blocks[0] * geo.block, (group.blocks[-1] + 1) * geo.block
        return x[:, lo:hi].unflatten(1, (len(group.blocks), geo.block))  # (H, n, bs, X) view
    return x[:, query_index(geo, group.blocks, x.device)]  # (H, n, bs, X) gathered


def take_windows(x: Tensor, geo: Windows, group: Group) -> Tensor:
    """Key windows of ``x (H, Lk, X)``: ``(H, n, width, X)``, an overlapping view for the inner group."""
    if group.uniform:
        windows = x[:, group.starts[0] :].unfold(1, geo.width, geo.block)  # (H, n_all, X, width)
        return windows[:, : len(group.blocks)].transpose(-1, -2)  # (H, n, width, X) view
    return x[:, key_index(geo, group.starts, x.device)]  # (H, n, width, X) gathered


def _grid(req: Request, b: int, q_idx: Tensor, kv_idx: Tensor):
    """Index tensors ``b (1,1,1,1), h (Hq,1,1,1), q (1,n,bs,1), kv (1,n,1,width)`` of a block group."""
    dev = q_idx.device
    heads = torch.arange(req.q_heads, device=dev).view(-1, 1, 1, 1)
    return torch.full((1, 1, 1, 1), b, device=dev), heads, q_idx[None, :, :, None], kv_idx[None, :, None, :]


def _visible(req: Request, grid, uniform: bool) -> Tensor:
    """Visibility ``(Hq|1, n|1, bs, width)``. On uniform windows the bands of a mask made of bands and
    key prefixes are evaluated on one block and broadcast, and a key prefix only where it hides a key."""
    mask = req.mask
    bb, hh, qq, kk = grid
    hh = hh if mask.uses_head else hh[:1]
    if not (uniform and is_translation_invariant(mask)):
        return mask.at(bb, hh, qq, kk, req.offset)
    visible = torch.ones(1, 1, 1, 1, dtype=torch.bool, device=qq.device)
    for part in mask.conjuncts():
        if part.band is not None:  # the same for every block: evaluate the first one
            visible = visible & part.at(bb, hh, qq[:, :1], kk[:, :1], req.offset)  # (1, 1, bs, width)
        else:  # a key prefix, per window (1, n, 1, width)
            seen = part.at(bb, hh, qq[:, :, :1], kk, req.offset)
            if not bool(seen.all()):
                visible = visible & seen
    return visible


def block_mask(req: Request, b: int, geo: Windows, group: Group, float_mask: bool):
    """The kernel's mask for a block group of example ``b``, and its fully-masked rows.

    Returns ``(mask, dead)``: ``mask`` is bool ``(Hq|1, n|1, bs, width)`` (True = visible), or float
    (0 / -inf plus an additive score mod's bias) when ``float_mask`` or there is a score mod; rows that
    see no key are made visible (the caller zeroes them) and returned as ``dead`` ``(Hq|1, n|1, bs, 1)``,
    None when there are none.
    """
    dev = req.device
    grid = _grid(req, b, query_index(geo, group.blocks, dev), key_index(geo, group.starts, dev))
    visible = _visible(req, grid, group.uniform)
    dead = ~visible.any(dim=-1, keepdim=True)
    if bool(dead.any()):
        visible = visible | dead
    else:
        dead = None
    if req.score_mod is None and not float_mask:
        return visible, dead
    bias = torch.zeros((), dtype=req.dtype, device=dev)
    if req.score_mod is not None:
        bias = req.score_mod.at(bias, *grid, req.offset).to(req.dtype)  # (Hq|1, n, bs, width)
    return bias.masked_fill(~visible, float("-inf")), dead
