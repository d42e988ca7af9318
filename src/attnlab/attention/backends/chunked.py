"""Exact attention in tiles with an online softmax (FlashAttention, Dao et al., 2022, Alg. 1), in PyTorch.

For each query block the key blocks are visited in turn, keeping a running row maximum ``m``, a
running normaliser ``l`` and an unnormalised output ``acc``:

    m' = max(m, rowmax(S_j));  P_j = exp(S_j - m');  l' = l·exp(m - m') + rowsum(P_j)
    acc' = acc·exp(m - m') + P_j V_j;                 out = acc / l

so no ``Lq x Lk`` matrix is ever held: memory is O(block_q·block_k) per step plus the output. Tiles
that the mask's structure proves empty are skipped (this is what makes local and block-sparse attention
O(N·w)), and the predicate is not evaluated on tiles it proves full. For training, each query block
is wrapped in activation checkpointing, so backward memory is also linear in the sequence length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from ..masks import EMPTY, FULL
from . import Request

LOW_PRECISION = (torch.float16, torch.bfloat16)


def default_blocks(req: Request) -> tuple[int, int]:
    """Tile sizes: large tiles amortise Python overhead on dense work; structured masks get smaller
    tiles so that empty ones can be skipped at a finer grain."""
    if req.mask is not None and req.mask.has_structure:
        return 128, 256
    return 256, 1024


def chunked_backend(
    q: Tensor, k: Tensor, v: Tensor, req: Request, block_q: int | None = None, block_k: int | None = None
) -> Tensor:
    bq, bk = default_blocks(req)
    bq, bk = block_q or bq, block_k or bk
    states = None
    if req.mask is not None:
        states = req.mask.block_states(
            req.q_len, req.kv_len, bq, bk
        ).tolist()  # (nq, nk) of EMPTY/PARTIAL/FULL
    outs = []
    for i, qs in enumerate(range(0, req.q_len, bq)):
        qe = min(qs + bq, req.q_len)
        row = states[i] if states is not None else None
        tiles = [
            (ks, min(ks + bk, req.kv_len), row[j] if row else FULL)
            for j, ks in enumerate(range(0, req.kv_len, bk))
            if not row or row[j] != EMPTY
        ]
        q_blk = q[:, :, qs:qe]  # (B, Hq, n, D)
        if not tiles:
            outs.append(q.new_zeros(req.batch, req.q_heads, qe - qs, req.value_dim))
        elif req.needs_grad:
            outs.append(
                checkpoint(
                    _query_block,
                    q_blk,
                    k,
                    v,
                    req,
                    (qs, qe),
                    tiles,
                    use_reentrant=False,
                    preserve_rng_state=req.dropout_p > 0,
                )
            )
        else:
            outs.append(_query_block(q_blk, k, v, req, (qs, qe), tiles))
    out = torch.cat(outs, dim=2)  # (B, Hq, Lq, Dv)
    if req.needs_grad and not out.requires_grad:
        # Every query is fully masked: keep the graph connected so backward yields zero gradients.
        out = out + 0.0 * (q.sum() + k.sum() + v.sum())
    return out


def _query_block(
    q_blk: Tensor,
    k: Tensor,
    v: Tensor,
    req: Request,
    q_range: tuple[int, int],
    tiles: list[tuple[int, int, int]],
) -> Tensor:
    batch, heads, n, dim = q_blk.shape
    kv_heads = k.shape[1]
    acc_dtype = torch.float32 if q_blk.dtype in LOW_PRECISION else q_blk.dtype
    # GQA without copying keys: the g query heads sharing a key head are stacked along the rows.
    qg = (q_blk * req.scale).reshape(batch, kv_heads, req.group * n, dim)  # (B, Hkv, g*n, D)
    row_max = torch.full((batch, heads, n, 1), float("-inf"), dtype=acc_dtype, device=q_blk.device)
    denom = torch.zeros((batch, heads, n, 1), dtype=acc_dtype, device=q_blk.device)
    acc = torch.zeros((batch, heads, n, req.value_dim), dtype=acc_dtype, device=q_blk.device)
    for ks, ke, state in tiles:
        s = (
            (qg @ k[:, :, ks:ke].transpose(-1, -2)).view(batch, heads, n, ke - ks).to(acc_dtype)
        )  # (B, Hq, n, m)
        if req.score_mod is not None:
            s = req.score_mod.apply(s, q_range, (ks, ke), req.offset)
        if state != FULL and req.mask is not None:
            visible = req.mask.tile(batch, heads, q_range, (ks, ke), req.offset, s.device)
            s = s.masked_fill(~visible, float("-inf"))
        new_max = torch.maximum(row_max, s.amax(dim=-1, keepdim=True).detach())
        shift = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
        correction = torch.exp(row_max - shift)  # 0 while the row has seen nothing visible
        grad = s.requires_grad
        p = torch.exp(s - shift) if grad else s.sub_(shift).exp_()  # in place when no graph needs s
        denom = denom * correction + p.sum(dim=-1, keepdim=True)
        if req.dropout_p > 0:
            p = F.dropout(p, req.dropout_p)
        pv = p.to(v.dtype).view(batch, kv_heads, req.group * n, ke - ks) @ v[:, :, ks:ke]  # (B, Hkv, g*n, Dv)
        pv = pv.view(batch, heads, n, req.value_dim).to(acc_dtype)
        acc = acc * correction + pv if grad else acc.mul_(correction).add_(pv)
        row_max = new_max
    out = acc / torch.where(denom > 0, denom, torch.ones_like(denom))
    return out.to(q_blk.dtype)
