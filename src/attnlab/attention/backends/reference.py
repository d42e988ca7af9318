"""The oracle: attention exactly as written in the course, materialising every score.

``softmax(mask(score_mod(Q K^T * scale))) V`` (Vaswani et al., 2017, eq. 1) with einsum and the
masked-safe softmax. It supports every option, works in float64, and every other backend is tested
against it. Memory is O(B·H·Lq·Lk): use it to check, not to scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..normalizers import softmax
from ..request import Backend, Request, always, expand_kv, register_backend


def attention_scores(q: Tensor, k: Tensor, req: Request) -> Tensor:
    """Masked, modded, scaled scores ``(B, Hq, Lq, Lk)``; hidden entries are ``-inf``."""
    k = expand_kv(k, req.group)  # (B, Hq, Lk, D)
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) * req.scale
    if req.score_mod is not None:
        scores = req.score_mod.apply(scores, (0, req.q_len), (0, req.kv_len), req.offset)
    if req.mask is not None:
        visible = req.mask.materialize(req.batch, req.q_heads, req.q_len, req.kv_len, q.device)
        scores = scores.masked_fill(~visible, float("-inf"))
    return scores


def attention_weights(q: Tensor, k: Tensor, req: Request, normalizer=softmax) -> Tensor:
    """Softmax weights ``(B, Hq, Lq, Lk)`` (before dropout); all-zero rows for fully-masked queries.

    ``normalizer(scores, dim=-1)`` replaces softmax (e.g. sparsemax; ``attend(..., normalizer=)``)."""
    return normalizer(attention_scores(q, k, req), dim=-1)


def reference_backend(
    q: Tensor, k: Tensor, v: Tensor, req: Request, return_weights: bool = False, normalizer=softmax
):
    weights = attention_weights(q, k, req, normalizer)
    dropped = F.dropout(weights, req.dropout_p) if req.dropout_p > 0 else weights
    out = torch.einsum("bhqk,bhkd->bhqd", dropped, expand_kv(v, req.group))  # (B, Hq, Lq, Dv)
    return (out, weights) if return_weights else out


register_backend(
    Backend(
        "reference",
        reference_backend,
        always,
        "einsum + masked softmax, materialises everything; float64 oracle",
    )
)
