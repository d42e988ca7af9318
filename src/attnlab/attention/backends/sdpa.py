"""PyTorch's fused ``scaled_dot_product_attention``.

On CPU, torch dispatches to its flash kernel when there is no mask, a causal flag or a dense mask
and ``Dv == D``; otherwise to the math kernel. Masks are materialised as a dense bool (or, with an
additive score mod such as ALiBi or T5 bias, float) tensor. General score mods are not supported.
Fully-masked query rows are unmasked before the call and zeroed after it, so the output and the
gradients of those rows are exactly zero whatever the kernel does with an empty row.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..request import Backend, Request, register_backend


def check(req: Request) -> str | None:
    if req.score_mod is not None and not req.score_mod.additive:
        return f"score_mod {req.score_mod.name} is not a pure additive bias, which SDPA cannot apply"
    return None


def sdpa_backend(q: Tensor, k: Tensor, v: Tensor, req: Request) -> Tensor:
    mask, is_causal, dead = None, False, None
    if req.mask is not None:
        if req.mask.is_causal and req.q_len == req.kv_len and req.score_mod is None:
            is_causal = True  # SDPA's flag is upper-left aligned, equal to ours only when Lq == Lk
        elif not req.mask.is_full:
            mask = req.mask.materialize(req.batch, req.q_heads, req.q_len, req.kv_len, q.device)
            dead = ~mask.any(dim=-1, keepdim=True)  # (B|1, H|1, Lq, 1) fully-masked query rows
            if bool(dead.any()):
                mask = mask | dead
            else:
                dead = None
    if req.score_mod is not None:
        bias = req.score_mod.bias(req.batch, req.q_heads, req.q_len, req.kv_len, q.dtype, q.device)
        mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
    out = F.scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask=mask,
        dropout_p=req.dropout_p,
        is_causal=is_causal,
        scale=req.scale,
        enable_gqa=req.q_heads != req.kv_heads,
    )
    if dead is not None:
        out = out.masked_fill(dead, 0.0)
    return out


register_backend(
    Backend(
        "sdpa",
        sdpa_backend,
        check,
        "torch scaled_dot_product_attention (fused flash kernel where possible)",
    )
)
