"""PyTorch FlexAttention (``torch.nn.attention.flex_attention``), compiled.

Masks become a ``BlockMask`` (their predicate is the ``mask_mod``) and score mods are passed as
``score_mod``, so every engine mask and mod runs here. On CUDA this is the fast path for structured
masks and general score mods. On CPU, torch 2.13 compiles the forward only (the first call of each
shape takes tens of seconds) and refuses compiled backward, and eager FlexAttention is far too slow,
so on CPU this backend serves inference only and ``auto`` never chooses it there.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ..request import Backend, Request, register_backend


@functools.cache
def _flex():
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    except ImportError:  # pragma: no cover - depends on the torch build
        return None
    return torch.compile(flex_attention, dynamic=False), create_block_mask


def available(device: torch.device) -> str | None:
    """Why FlexAttention cannot run on ``device`` (None when it can)."""
    if _flex() is None:
        return "this torch build has no torch.nn.attention.flex_attention"
    if device.type not in ("cpu", "cuda"):
        return f"FlexAttention does not run on device type {device.type!r}"
    return None


def check(req: Request) -> str | None:
    reason = available(req.device)
    if reason:
        return reason
    if req.dropout_p > 0:
        return "FlexAttention has no attention dropout (use backend='chunked' or 'sdpa')"
    if req.device.type == "cpu" and req.needs_grad:
        return "torch.compile cannot build FlexAttention's backward on CPU (use backend='chunked')"
    if req.device.type == "cpu" and req.dtype not in (torch.float32, torch.float64):
        return f"FlexAttention on CPU supports float32/float64, got {req.dtype}"
    return None


def flex_backend(q: Tensor, k: Tensor, v: Tensor, req: Request) -> Tensor:
    compiled, create_block_mask = _flex()
    block_mask = None
    if req.mask is not None:
        block_mask = create_block_mask(
            req.mask.bind(req.q_len, req.kv_len),
            req.batch if req.mask.uses_batch else None,
            req.q_heads if req.mask.uses_head else None,
            req.q_len,
            req.kv_len,
            device=q.device,
        )
    score_mod = req.score_mod.bind(req.q_len, req.kv_len) if req.score_mod is not None else None
    return compiled(
        q,
        k,
        v,
        score_mod=score_mod,
        block_mask=block_mask,
        scale=req.scale,
        enable_gqa=req.q_heads != req.kv_heads,
    )


register_backend(
    Backend(
        "flex",
        flex_backend,
        check,
        "torch FlexAttention (compiled); GPU first, CPU inference only",
    )
)
