"""The banded backend's backward: FlashAttention-2's (Dao, 2023, Alg. 2) on query blocks and windows.

For a group of query blocks and their key windows (views, as in the forward), a few blocks at a time:

    S = Q_blk K_winᵀ · scale + M_blk;   P = softmax(S)        (recomputed: the window holds every
    dV_win = Pᵀ dO;  dP = dO V_winᵀ;    dS = P ∘ (dP - δ)      visible key, so this row softmax is
    dQ_blk = dS K_win · scale;          dK_win = dSᵀ Q_blk · scale          the forward's exactly)

with ``δ = rowsum(dO ∘ O)``. The window gradients are added into ``dK``/``dV`` window by window, so
nothing larger than a few blocks' scores is ever held (autograd through the fused kernel and
``unfold`` would hold the overlapping windows' gradients, (bs + left + right)/bs times ``K``'s size,
and page in several zero-filled copies of ``K``: measured 4x slower, see docs/benchmarks.md).
Fully-masked rows have ``P = 0`` and padded query rows ``dO = 0``, so they contribute nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..request import Request
from .band_blocks import Windows, block_groups, block_mask, take_blocks, take_windows
from .chunked import Scratch

# Blocks per step: enough to amortise Python overhead, few enough for the scores to stay in cache.
SCORE_BUDGET = 2**19  # elements of one step's scores (2 MiB in float32)


def banded_grads(q, k, v, out, dout, req: Request, geo: Windows) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of the banded forward: q ``(B, Hq, Lq, D)``, k/v ``(B, Hq, Lk, D|Dv)`` (heads
    expanded), out/dout ``(B, Hq, Lq, Dv)`` -> ``(dq, dk, dv)`` shaped like q, k, v."""
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    delta = (dout * out).sum(dim=-1, keepdim=True)  # (B, Hq, Lq, 1) = rowsum(dO ∘ O)
    scratch = Scratch()
    step = max(1, SCORE_BUDGET // (req.q_heads * geo.block * geo.width))
    for b in range(req.batch):
        for group in block_groups(geo):
            mask, dead = block_mask(req, b, geo, group, float_mask=True)  # (Hq|1, n|1, bs, width)
            qb = take_blocks(q[b], geo, group)  # (Hq, n, bs, D)
            dob, deltab = take_blocks(dout[b], geo, group), take_blocks(delta[b], geo, group)
            if not group.uniform:  # rows past Lq repeat the last query: give them no gradient
                real = _real_rows(geo, group.blocks, q.device)  # (n, bs, 1)
                dob, deltab = dob * real, deltab * real
            kw, vw = take_windows(k[b], geo, group), take_windows(v[b], geo, group)
            for lo in range(0, len(group.blocks), step):
                sl = slice(lo, lo + step)
                grads = _step(qb[:, sl], kw[:, sl], vw[:, sl], dob[:, sl], deltab[:, sl],
                              _rows(mask, sl), _rows(dead, sl), req.scale, scratch)  # fmt: skip
                _accumulate(dq[b], dk[b], dv[b], grads, geo, group, sl)
    return dq, dk, dv


def _rows(x: Tensor | None, sl: slice) -> Tensor | None:
    """The blocks ``sl`` of a per-block tensor ``(H|1, n|1, ...)`` (a broadcast block dim stays)."""
    return x if x is None or x.shape[1] == 1 else x[:, sl]


def _real_rows(geo: Windows, blocks: list[int], device) -> Tensor:
    rows = torch.tensor(blocks, device=device)[:, None] * geo.block + torch.arange(geo.block, device=device)
    return (rows < geo.q_len)[..., None]  # (n, bs, 1)


def _bmm(a: Tensor, b: Tensor, out: Tensor) -> Tensor:
    """``a @ b`` for ``(H, c, m, k) @ (H, c, k, n)``, one ``bmm`` per head.

    The windows are overlapping views whose head and block dims cannot be merged, so a 4-D matmul
    would copy them; per head they are 3-D strided batches that ``bmm`` reads in place (3x faster).
    """
    for h in range(a.shape[0]):
        torch.bmm(a[h], b[h], out=out[h])
    return out


def _step(qb, kw, vw, dob, deltab, mask, dead, scale: float, scratch: Scratch):
    """Gradients of a few blocks: ``dq (H, c, bs, D), dk_win (H, c, width, D), dv_win (H, c, width, Dv)``."""
    heads, c, bs, dim = qb.shape
    width, dv_dim = kw.shape[2], vw.shape[3]
    qs = torch.mul(qb, scale, out=scratch("qs", qb.shape, qb))  # (H, c, bs, D)
    s = _bmm(qs, kw.transpose(-1, -2), scratch("s", (heads, c, bs, width), qb))
    s.add_(mask)  # (H, c, bs, width): -inf where hidden
    s.sub_(s.amax(dim=-1, keepdim=True)).exp_()
    p = s.div_(s.sum(dim=-1, keepdim=True))  # P, in place
    if dead is not None:
        p.masked_fill_(dead, 0.0)
    dv_win = _bmm(p.transpose(-1, -2), dob, scratch("dv", (heads, c, width, dv_dim), qb))
    dp = _bmm(dob, vw.transpose(-1, -2), scratch("dp", p.shape, qb))
    ds = dp.sub_(deltab).mul_(p)  # dS = P ∘ (dP - δ)
    dq = _bmm(ds, kw, scratch("dq", (heads, c, bs, dim), qb)).mul_(scale)
    dk_win = _bmm(ds.transpose(-1, -2), qs, scratch("dk", (heads, c, width, dim), qb))  # qs carries the scale
    return dq, dk_win, dv_win


def _accumulate(dq: Tensor, dk: Tensor, dv: Tensor, grads, geo: Windows, group, sl: slice) -> None:
    """Add one step's gradients into ``dq (H, Lq, D)``, ``dk (H, Lk, D)``, ``dv (H, Lk, Dv)``."""
    dq_blk, dk_win, dv_win = grads
    bs, width = geo.block, geo.width
    for j, (i, start) in enumerate(zip(group.blocks[sl], group.starts[sl])):
        rows = min(bs, geo.q_len - i * bs)
        dq[:, i * bs : i * bs + rows] += dq_blk[:, j, :rows]
        dk[:, start : start + width] += dk_win[:, j]
        dv[:, start : start + width] += dv_win[:, j]
