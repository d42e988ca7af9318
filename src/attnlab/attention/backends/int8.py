"""Int8 attention scores: queries and keys quantised to int8, ``QKᵀ`` computed on integers.

Symmetric per-token quantisation (as in LLM.int8 / SmoothQuant style KV-cache and score quantisation):
``x ≈ s_x · x_q`` with ``x_q = round(x / s_x) ∈ [-127, 127]`` and ``s_x = max|x| / 127`` per row. Then
``q·k ≈ s_q s_k (q_q · k_q)``: the integer dot products run in int8 x int8 -> int32 matrix products
(``torch._int_mm``: oneDNN/VNNI kernels on x86 CPUs that have them, 4x the float32 matmul rate measured
on this project's machine) and the softmax and ``P V`` stay in floating point. Where ``_int_mm`` is
unavailable the same integers are multiplied in float32, which holds them exactly
(``|q_q·k_q| ≤ 127²·D < 2²⁴`` for ``D ≤ 1024``). Query blocks are processed in turn, so memory is
O(block·Lk), not O(Lq·Lk). Keys are the tensor a KV cache stores, so this is also the cost model of an
int8 KV cache (4x less key memory than float32). The oracle is exact attention on the dequantised
``q`` and ``k``.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from ..normalizers import softmax
from ..request import Backend, Request, expand_kv, register_backend

# Scores held at once (elements): B·H·block·Lk stays under this (8 MiB in float32).
SCORE_BUDGET = 2**21


def quantize_int8(x: Tensor, dim: int = -1) -> tuple[Tensor, Tensor]:
    """Symmetric int8 quantisation along ``dim``: returns ``(x_q int8, scale)`` with ``x ≈ x_q * scale``."""
    scale = x.detach().abs().amax(dim=dim, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny) / 127.0
    return torch.round(x / scale).clamp(-127, 127).to(torch.int8), scale


@functools.cache
def has_int_mm(device_type: str) -> bool:
    """Whether ``torch._int_mm`` runs on this device type (probed once on a tiny product)."""
    try:
        a = torch.ones(32, 32, dtype=torch.int8, device=device_type)
        return bool(torch._int_mm(a, a)[0, 0] == 32)
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


def int_matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for int8 ``(m, k) @ (k, n)`` -> exact int32 products (float32 emulation as fallback)."""
    if has_int_mm(a.device.type):
        return torch._int_mm(a, b)
    return (a.to(torch.float32) @ b.to(torch.float32)).to(torch.int32)


def check(req: Request) -> str | None:
    if req.needs_grad:
        return "rounding to int8 has no useful gradient: use it for inference"
    if req.head_dim > 1024:
        return f"head dim {req.head_dim} > 1024: integer dot products would exceed float32's exact range"
    return None


def _quantized(q: Tensor, k: Tensor, req: Request):
    q_q, q_s = quantize_int8(q * req.scale)  # (B, Hq, Lq, D) int8, (B, Hq, Lq, 1)
    k_q, k_s = quantize_int8(k)  # (B, Hkv, Lk, D) int8, (B, Hkv, Lk, 1)
    return q_q, q_s, k_q.transpose(-1, -2), k_s.transpose(-1, -2)  # k as (B, Hkv, D, Lk), (B, Hkv, 1, Lk)


def _block_weights(quant, req: Request, q_range: tuple[int, int], dtype) -> Tensor:
    """Softmax weights of queries ``q_range`` against all keys: ``(B, Hq, n, Lk)``.

    Each head's integer tile is converted and scaled in place while it is still in cache."""
    q_q, q_s, k_qt, k_st = quant
    lo, hi = q_range
    scores = torch.empty(req.batch, req.q_heads, hi - lo, req.kv_len, dtype=torch.float32, device=q_q.device)
    for b in range(req.batch):
        for h in range(req.q_heads):
            kv_head = h // req.group
            tile = scores[b, h].copy_(int_matmul(q_q[b, h, lo:hi], k_qt[b, kv_head]))  # (n, Lk) exact ints
            tile.mul_(k_st[b, kv_head].to(torch.float32)).mul_(q_s[b, h, lo:hi].to(torch.float32))
    scores = scores.to(dtype)
    if req.score_mod is not None:
        scores = req.score_mod.apply(scores, q_range, (0, req.kv_len), req.offset)
    if req.mask is None:
        return torch.softmax(scores, dim=-1)
    visible = req.mask.tile(req.batch, req.q_heads, q_range, (0, req.kv_len), req.offset, scores.device)
    return softmax(scores.masked_fill_(~visible, float("-inf")), dim=-1)


def _block_rows(req: Request) -> int:
    return max(1, min(256, SCORE_BUDGET // max(1, req.batch * req.q_heads * req.kv_len)))


def int8_weights(q: Tensor, k: Tensor, req: Request) -> Tensor:
    """The weights the backend uses ``(B, Hq, Lq, Lk)`` (for ``return_weights``)."""
    return _block_weights(_quantized(q, k, req), req, (0, req.q_len), q.dtype)


def int8_backend(q: Tensor, k: Tensor, v: Tensor, req: Request) -> Tensor:
    quant = _quantized(q, k, req)
    v = expand_kv(v, req.group)  # (B, Hq, Lk, Dv)
    out = q.new_empty(req.batch, req.q_heads, req.q_len, req.value_dim)
    rows = _block_rows(req)
    for lo in range(0, req.q_len, rows):
        hi = min(lo + rows, req.q_len)
        w = _block_weights(quant, req, (lo, hi), q.dtype)  # (B, Hq, n, Lk)
        if req.dropout_p > 0:
            w = F.dropout(w, req.dropout_p)
        out[:, :, lo:hi] = w @ v
    return out


register_backend(
    Backend(
        "int8",
        int8_backend,
        check,
        "int8 queries and keys, integer QK^T (torch._int_mm), float softmax and PV; inference only",
        exact=False,
        trains=False,
        weights=int8_weights,
    )
)
