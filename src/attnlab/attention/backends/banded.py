"""Banded attention: local windows and block-sparse bands as a few batched fused-kernel calls.

When every key a query may see lies in a window ``[q_pos - left, q_pos + right]`` (sliding windows,
causal or not; block-sparse layouts whose blocks form a band; either composed with padding, strides or
any other predicate), blocks of ``bs`` queries need only the ``bs + left + right`` keys of one window.
Local attention (Image Transformer, Parmar et al., 2018; Longformer, Beltagy et al., 2020) is then

    out[blk] = softmax(Q_blk K_winᵀ · scale + M_blk) V_win          (one window per query block)

and all blocks go through **one** call of PyTorch's fused attention kernel: the query blocks are a view
``(H, n, bs, D)`` of ``q`` and the key/value windows an overlapping view ``(H, n, bs + left + right, D)``
of ``k``/``v`` (``unfold``, no copy), with the blocks in the kernel's "heads" dimension and a small
per-block mask ``M_blk``. For a band (and a key prefix) the mask is the same for every block, so one
``(bs, window)`` pattern is broadcast; other predicates are evaluated on the ``(n, bs, window)`` grid.
Blocks whose window would leave ``[0, Lk)`` (the first and last ones) and a last partial block go
through a second call, their windows gathered with the start clamped into range.

Gradients: autograd through the kernel's own backward, which is FlashAttention's (it recomputes the
probabilities from the saved log-sum-exp, Dao 2023, Alg. 2) and through ``unfold`` (a sum over the
overlapping windows): no ``Lq x Lk`` tensor in either pass; memory O(N·(bs + left + right)).
Fully-masked query rows are unmasked for the kernel and zeroed after it (zero output and gradients).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..masks.bands import band_bound
from ..request import Backend, Request, expand_kv, register_backend
from .band_blocks import Windows, block_groups, block_mask, make_windows, take_blocks, take_windows
from .banded_grad import banded_grads


def check(req: Request) -> str | None:
    mod = req.score_mod
    if mod is not None and (not mod.additive or mod.trainable):
        return f"score_mod {mod.name} is not a fixed additive bias (use backend='chunked')"
    if req.mask is None or band_bound(req.mask) is None:
        return "mask: needs a finite band (a sliding window, or a block layout whose blocks form a band)"
    return None


def banded_backend(q: Tensor, k: Tensor, v: Tensor, req: Request, block: int | None = None) -> Tensor:
    geo = make_windows(req, block)
    if geo is None:  # an empty sequence: nothing to attend to
        return q.new_zeros(req.batch, req.q_heads, req.q_len, req.value_dim) + 0.0 * (q.sum() + k.sum())
    k, v = expand_kv(k, req.group), expand_kv(v, req.group)  # (B, Hq, Lk, D)
    if req.needs_grad and req.dropout_p == 0:
        return _BandedAttention.apply(q, k, v, req, geo)
    return banded_forward(q, k, v, req, geo)


class _BandedAttention(torch.autograd.Function):
    """Forward through the fused kernel; backward recomputes each block's probabilities."""

    @staticmethod
    def forward(ctx, q, k, v, req, geo):
        with torch.no_grad():
            out = banded_forward(q, k, v, req, geo)
        ctx.save_for_backward(q, k, v, out)
        ctx.req, ctx.geo = req, geo
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, out = ctx.saved_tensors
        dq, dk, dv = banded_grads(q, k, v, out, dout, ctx.req, ctx.geo)
        return dq, dk, dv, None, None


def banded_forward(q: Tensor, k: Tensor, v: Tensor, req: Request, geo: Windows) -> Tensor:
    """q ``(B, Hq, Lq, D)``, k/v ``(B, Hq, Lk, D|Dv)`` (heads already expanded) -> ``(B, Hq, Lq, Dv)``."""
    rows = []
    for b in range(req.batch):
        parts = {}  # block group -> (Hq, n·bs, Dv)
        for group in block_groups(geo):
            qb, kw, vw = (
                take_blocks(q[b], geo, group),
                take_windows(k[b], geo, group),
                take_windows(v[b], geo, group),
            )
            mask, dead = block_mask(req, b, geo, group, float_mask=False)
            out = F.scaled_dot_product_attention(
                qb, kw, vw, attn_mask=mask, dropout_p=req.dropout_p, scale=req.scale
            )  # (Hq, n, bs, Dv)
            parts[group.kind] = (out.masked_fill(dead, 0.0) if dead is not None else out).flatten(1, 2)
        if "edge" in parts and "inner" in parts:
            head = geo.first * geo.block
            edge = parts["edge"]
            joined = torch.cat([edge[:, :head], parts["inner"], edge[:, head:]], dim=1)
        else:
            joined = parts.get("inner", parts.get("edge"))
        rows.append(joined[:, : req.q_len])  # (Hq, Lq, Dv)
    return rows[0][None] if req.batch == 1 else torch.stack(rows)  # (B, Hq, Lq, Dv)


register_backend(
    Backend(
        "banded",
        banded_backend,
        check,
        "banded masks (windows, block bands) as one fused SDPA call over query blocks; O(N·w)",
    )
)
