"""Int8 attention scores: queries and keys quantised to int8, ``QKᵀ`` computed on integers.

Symmetric per-token quantisation (as in LLM.int8 / SmoothQuant style KV-cache and score quantisation):
``x ≈ s_x · x_q`` with ``x_q = round(x / s_x) ∈ [-127, 127]`` and ``s_x = max|x| / 127`` per row. Then
``q·k ≈ s_q s_k (q_q · k_q)``; the integer dot products are exact (|q_q·k_q| ≤ 127²·D < 2²⁴ for
D ≤ 1024, so float32 holds them exactly) and the softmax and ``P V`` stay in floating point. Keys are
the tensor a KV cache stores, so this is also the cost model of an int8 KV cache (4x less key memory
than float32). The oracle is exact attention on the dequantised ``q`` and ``k``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..normalizers import softmax
from ..request import Backend, Request, expand_kv, register_backend


def quantize_int8(x: Tensor, dim: int = -1) -> tuple[Tensor, Tensor]:
    """Symmetric int8 quantisation along ``dim``: returns ``(x_q int8, scale)`` with ``x ≈ x_q * scale``."""
    scale = x.detach().abs().amax(dim=dim, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny) / 127.0
    return torch.round(x / scale).clamp(-127, 127).to(torch.int8), scale


def check(req: Request) -> str | None:
    if req.needs_grad:
        return "rounding to int8 has no useful gradient: use it for inference"
    if req.head_dim > 1024:
        return f"head dim {req.head_dim} > 1024: integer dot products would exceed float32's exact range"
    return None


def int8_weights(q: Tensor, k: Tensor, req: Request) -> Tensor:
    q_q, q_s = quantize_int8(q * req.scale)  # (B, H, Lq, D) int8, (B, H, Lq, 1)
    k_q, k_s = quantize_int8(expand_kv(k, req.group))  # (B, H, Lk, D) int8, (B, H, Lk, 1)
    ints = q_q.to(torch.float32) @ k_q.to(torch.float32).transpose(-1, -2)  # exact integer values
    scores = (ints * (q_s * k_s.transpose(-1, -2)).to(torch.float32)).to(q.dtype)  # (B, H, Lq, Lk)
    if req.score_mod is not None:
        scores = req.score_mod.apply(scores, (0, req.q_len), (0, req.kv_len), req.offset)
    if req.mask is not None:
        visible = req.mask.materialize(req.batch, req.q_heads, req.q_len, req.kv_len, q.device)
        scores = scores.masked_fill(~visible, float("-inf"))
    return softmax(scores, dim=-1)


def int8_backend(q: Tensor, k: Tensor, v: Tensor, req: Request) -> Tensor:
    w = int8_weights(q, k, req)
    if req.dropout_p > 0:
        w = F.dropout(w, req.dropout_p)
    return w @ expand_kv(v, req.group)


register_backend(
    Backend(
        "int8",
        int8_backend,
        check,
        "int8 queries and keys, integer QK^T, float softmax; inference only, approximate",
        exact=False,
        trains=False,
        weights=int8_weights,
    )
)
