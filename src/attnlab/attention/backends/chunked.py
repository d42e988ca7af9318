"""Exact attention in tiles with an online softmax (FlashAttention, Dao et al., 2022), in PyTorch.

Forward (Alg. 1): for each query block the key blocks are visited in turn, keeping a running row
maximum ``m``, a running normaliser ``l`` and an unnormalised output ``acc``:

    m' = max(m, rowmax(S_j));  P_j = exp(S_j - m');  l' = l·exp(m - m') + rowsum(P_j)
    acc' = acc·exp(m - m') + P_j V_j;                 out = acc / l,   lse = m + log l

Backward (FlashAttention-2, Dao 2023, Alg. 2) recomputes ``P_j = exp(S_j - lse)`` tile by tile:

    dV_j += P_jᵀ dO;  dP_j = dO V_jᵀ;  dS_j = P_j ∘ (dP_j - rowsum(dO ∘ O));
    dQ += dS_j K_j · scale;  dK_j += dS_jᵀ Q · scale

so no ``Lq x Lk`` matrix is ever held: memory is O(block_q·block_k) per step plus the inputs and
outputs. Tiles that the mask's structure proves empty are skipped in both passes (this makes local
and block-sparse attention O(N·w)), and the predicate is not evaluated on tiles it proves full.
Requests the hand-written backward does not cover (dropout, score mods that are not a fixed additive
bias) are differentiated by autograd with activation checkpointing per query block, which keeps
memory linear too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from ..masks import EMPTY, FULL
from ..request import Backend, Request, always, register_backend

LOW_PRECISION = (torch.float16, torch.bfloat16)
# One query block and the key tiles it must visit: (q_start, q_end, [(k_start, k_end, state), ...]).
Plan = list[tuple[int, int, list[tuple[int, int, int]]]]


def default_blocks(req: Request) -> tuple[int, int]:
    """Tile sizes: large key tiles amortise Python overhead on dense work; structured masks get
    square tiles so that empty ones can be skipped at a finer grain, and block-sparse layouts get
    their own block size."""
    if req.mask is not None and req.mask.has_structure:
        block = req.mask.block  # set on block-sparse layouts only
        if block and 64 <= block <= 512:
            return block, block  # tiles aligned with the layout are all EMPTY or FULL: no predicate work
        return 256, 256
    return 256, 1024


def make_plan(req: Request, block_q: int, block_k: int) -> Plan:
    """The tiles to visit, without the ones the mask proves empty."""
    states = None
    if req.mask is not None:
        states = req.mask.block_states(req.q_len, req.kv_len, block_q, block_k).tolist()  # (nq, nk)
    plan = []
    for i, qs in enumerate(range(0, req.q_len, block_q)):
        row = states[i] if states is not None else None
        tiles = [
            (ks, min(ks + block_k, req.kv_len), row[j] if row else FULL)
            for j, ks in enumerate(range(0, req.kv_len, block_k))
            if not row or row[j] != EMPTY
        ]
        plan.append((qs, min(qs + block_q, req.q_len), tiles))
    return plan


def chunked_backend(
    q: Tensor, k: Tensor, v: Tensor, req: Request, block_q: int | None = None, block_k: int | None = None
) -> Tensor:
    bq, bk = default_blocks(req)
    plan = make_plan(req, block_q or bq, block_k or bk)
    if not req.needs_grad:
        return _forward(q, k, v, req, plan)[0]
    mod = req.score_mod
    if req.dropout_p == 0 and (mod is None or (mod.additive and not mod.trainable)):
        return _ChunkedAttention.apply(q, k, v, req, plan)
    return _checkpointed(q, k, v, req, plan)


class _ChunkedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, req, plan):
        out, lse = _forward(q, k, v, req, plan)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.req, ctx.plan = req, plan
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, out, lse = ctx.saved_tensors
        return (*_backward(q, k, v, out, lse, dout, ctx.req, ctx.plan), None, None)


class Scratch:
    """Tile-sized buffers reused from one tile to the next.

    A fresh tensor per tile is a fresh mmap above glibc's mmap threshold (the benchmarks fix it at
    256 KiB to stop heap fragmentation), and page-faulting it in costs about as much as the tile's
    matmul. Reusing a handful of buffers keyed by shape removes that cost.
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple, Tensor] = {}

    def __call__(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        key = (name, shape, like.dtype)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = like.new_empty(shape)
        return buf


def _scores(
    qg: Tensor, k: Tensor, req: Request, q_range, tile, shape, scratch: Scratch | None = None
) -> Tensor:
    """Scaled, modded, masked scores of one tile ``(B, Hq, n, m)``; ``qg`` is pre-scaled and grouped.

    With ``scratch`` (no autograd), the result lives in a reused buffer and is masked in place.
    """
    ks, ke, state = tile
    kt = k[:, :, ks:ke].transpose(-1, -2)  # (B, Hkv, D, m)
    if scratch is None:
        s = qg @ kt
    else:
        s = torch.matmul(qg, kt, out=scratch("s", (*qg.shape[:-1], ke - ks), qg))
    s = s.view(*shape, ke - ks)  # (B, Hq, n, m)
    if req.score_mod is not None:
        s = req.score_mod.apply(s, q_range, (ks, ke), req.offset)
    if state != FULL and req.mask is not None:
        hidden = ~req.mask.tile(shape[0], shape[1], q_range, (ks, ke), req.offset, s.device)
        s = (
            s.masked_fill_(hidden, float("-inf"))
            if scratch is not None
            else s.masked_fill(hidden, float("-inf"))
        )
    return s


def _group(x: Tensor, kv_heads: int) -> Tensor:
    """(B, Hq, n, X) -> (B, Hkv, g*n, X): the g query heads sharing a key head stacked along rows."""
    return x.reshape(x.shape[0], kv_heads, -1, x.shape[-1])  # (B, Hkv, g*n, X)


def _forward(q: Tensor, k: Tensor, v: Tensor, req: Request, plan: Plan) -> tuple[Tensor, Tensor]:
    """Output ``(B, Hq, Lq, Dv)`` and row log-sum-exp ``(B, Hq, Lq, 1)`` (``-inf`` for empty rows)."""
    acc_dtype = torch.float32 if q.dtype in LOW_PRECISION else q.dtype
    out = q.new_zeros(req.batch, req.q_heads, req.q_len, req.value_dim)
    lse = torch.full((req.batch, req.q_heads, req.q_len, 1), float("-inf"), dtype=acc_dtype, device=q.device)
    scratch = Scratch()
    with torch.no_grad():
        for qs, qe, tiles in plan:
            if tiles:
                out[:, :, qs:qe], lse[:, :, qs:qe] = _query_block(
                    q[:, :, qs:qe], k, v, req, (qs, qe), tiles, scratch
                )
    return out, lse


def _query_block(
    q_blk: Tensor, k: Tensor, v: Tensor, req: Request, q_range, tiles, scratch: Scratch | None = None
) -> tuple[Tensor, Tensor]:
    """Online softmax over the tiles of one query block.

    Differentiable by autograd when grad mode is on; otherwise works in place in ``scratch`` buffers.
    """
    batch, heads, n, _ = q_blk.shape
    kv_heads = k.shape[1]
    acc_dtype = torch.float32 if q_blk.dtype in LOW_PRECISION else q_blk.dtype
    if torch.is_grad_enabled() or req.dropout_p > 0 or acc_dtype != q_blk.dtype:
        scratch = None
    qg = _group(q_blk * req.scale, kv_heads)  # (B, Hkv, g*n, D)
    row_max = torch.full((batch, heads, n, 1), float("-inf"), dtype=acc_dtype, device=q_blk.device)
    denom = torch.zeros((batch, heads, n, 1), dtype=acc_dtype, device=q_blk.device)
    acc = torch.zeros((batch, heads, n, req.value_dim), dtype=acc_dtype, device=q_blk.device)
    for tile in tiles:
        ks, ke, _ = tile
        s = _scores(qg, k, req, q_range, tile, (batch, heads, n), scratch).to(acc_dtype)
        grad = s.requires_grad
        new_max = torch.maximum(row_max, s.amax(dim=-1, keepdim=True).detach())
        shift = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
        correction = torch.exp(row_max - shift)  # 0 while the row has seen nothing visible
        p = torch.exp(s - shift) if grad else s.sub_(shift).exp_()  # in place when no graph needs s
        denom = denom * correction + p.sum(dim=-1, keepdim=True)
        if req.dropout_p > 0:
            p = F.dropout(p, req.dropout_p)
        vt = v[:, :, ks:ke]  # (B, Hkv, m, Dv)
        pg = _group(p.to(v.dtype), kv_heads)  # (B, Hkv, g*n, m)
        if scratch is None:
            pv = pg @ vt
        else:
            pv = torch.matmul(pg, vt, out=scratch("pv", (*pg.shape[:-1], req.value_dim), pg))
        pv = pv.view(batch, heads, n, req.value_dim).to(acc_dtype)  # (B, Hq, n, Dv)
        acc = acc * correction + pv if grad else acc.mul_(correction).add_(pv)
        row_max = new_max
    safe = torch.where(denom > 0, denom, torch.ones_like(denom))
    lse = torch.where(denom > 0, row_max + torch.log(safe), torch.full_like(denom, float("-inf")))
    return (acc / safe).to(q_blk.dtype), lse


def _backward(q, k, v, out, lse, dout, req: Request, plan: Plan):
    kv_heads, scale = k.shape[1], req.scale
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    # Rows that saw no key have lse = -inf; +inf makes exp(s - lse) exactly 0 there.
    lse = torch.where(torch.isfinite(lse), lse, torch.full_like(lse, float("inf")))
    delta = (dout * out).sum(dim=-1, keepdim=True)  # (B, Hq, Lq, 1) = rowsum(dO ∘ O)
    scratch = Scratch()

    def add_matmul(target: Tensor, a: Tensor, b: Tensor, name: str) -> None:
        target.add_(torch.matmul(a, b, out=scratch(name, (*a.shape[:-1], b.shape[-1]), a)))

    for qs, qe, tiles in plan:
        if not tiles:
            continue
        n = qe - qs
        shape = (req.batch, req.q_heads, n)
        qg = _group(q[:, :, qs:qe] * scale, kv_heads)  # (B, Hkv, g*n, D)
        dog = _group(dout[:, :, qs:qe], kv_heads)  # (B, Hkv, g*n, Dv)
        dq_blk = torch.zeros_like(qg)
        for tile in tiles:
            ks, ke, _ = tile
            p = _scores(qg, k, req, (qs, qe), tile, shape, scratch)  # (B, Hq, n, m)
            p = p.sub_(lse[:, :, qs:qe]).exp_()  # P = exp(S - lse), in place
            pg = _group(p, kv_heads)  # (B, Hkv, g*n, m)
            add_matmul(dv[:, :, ks:ke], pg.transpose(-1, -2), dog, "dv")
            dp = torch.matmul(dog, v[:, :, ks:ke].transpose(-1, -2), out=scratch("dp", pg.shape, pg))
            ds = dp.view(*shape, ke - ks).sub_(delta[:, :, qs:qe]).mul_(p)  # dS = P ∘ (dP - delta)
            dsg = _group(ds, kv_heads)  # (B, Hkv, g*n, m)
            add_matmul(dq_blk, dsg, k[:, :, ks:ke], "dq")
            add_matmul(dk[:, :, ks:ke], dsg.transpose(-1, -2), qg, "dk")  # qg carries the scale
        dq[:, :, qs:qe] = (dq_blk * scale).view(*shape, -1)  # (B, Hkv, g*n, D) -> (B, Hq, n, D)
    return dq, dk, dv


def _checkpointed(q: Tensor, k: Tensor, v: Tensor, req: Request, plan: Plan) -> Tensor:
    """Autograd through the forward, one query block at a time with activation checkpointing."""
    outs = []
    for qs, qe, tiles in plan:
        if not tiles:
            outs.append(q.new_zeros(req.batch, req.q_heads, qe - qs, req.value_dim))
            continue
        fn = _block_output
        outs.append(
            checkpoint(
                fn,
                q[:, :, qs:qe],
                k,
                v,
                req,
                (qs, qe),
                tiles,
                use_reentrant=False,
                preserve_rng_state=req.dropout_p > 0,
            )
        )
    out = torch.cat(outs, dim=2)  # (B, Hq, Lq, Dv)
    if not out.requires_grad:
        # Every query is fully masked: keep the graph connected so backward yields zero gradients.
        out = out + 0.0 * (q.sum() + k.sum() + v.sum())
    return out


def _block_output(q_blk, k, v, req, q_range, tiles) -> Tensor:
    return _query_block(q_blk, k, v, req, q_range, tiles)[0]


register_backend(
    Backend(
        "chunked",
        chunked_backend,
        always,
        "exact online-softmax (FlashAttention) in PyTorch; O(N) memory, skips empty tiles",
    )
)
