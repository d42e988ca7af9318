"""Kernelised attention in O(N): ``out_i = phi(q_i)ᵀ S / phi(q_i)ᵀ z`` with ``S = Σ_j phi(k_j) v_jᵀ``,
``z = Σ_j phi(k_j)`` (Katharopoulos et al., 2020, eq. 4-6). Causal attention restricts the sums to
``j <= i``, i.e. prefix sums — the same recurrence as an RNN with state ``(S, z)`` (eq. 18-20), which
:class:`LinearAttentionState` runs one token at a time for O(1)-per-token generation.

The causal form is computed chunk by chunk (the state carries across chunks, each chunk is a small
masked quadratic product), so memory is O(chunk² + F·Dv) rather than the O(N·F·Dv) of a cumsum.
This replaces softmax by another similarity: it is not exact softmax attention. ``kernel_attention``
is its oracle: the same similarity normalised explicitly in an ``N x N`` matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..features import elu_plus_one
from ..masks import Mask
from ..request import Backend, Request, expand_kv, register_backend


def split_mask(mask: Mask | None) -> tuple[bool, Tensor | None]:
    """Decompose a mask into (causal?, key lengths or None); raise if it has any other part."""
    causal, lengths = False, None
    for part in mask.conjuncts() if mask is not None else ():
        if part.is_causal:
            causal = True
        elif part.key_lengths is not None:
            lengths = part.key_lengths if lengths is None else torch.minimum(lengths, part.key_lengths)
        elif not part.is_full:
            raise ValueError(
                f"mask: linear attention supports causal and padding masks (and their &), got {part.name}"
            )
    return causal, lengths


def check(req: Request) -> str | None:
    if req.score_mod is not None:
        return "score_mod cannot be applied: linear attention never forms the scores"
    if req.dropout_p > 0:
        return "attention dropout needs the weights, which linear attention never forms"
    try:
        split_mask(req.mask)
    except ValueError as e:
        return str(e)
    return None


def _key_keep(lengths: Tensor | None, batch: int, kv_len: int, device) -> Tensor | None:
    if lengths is None:
        return None
    lengths = lengths.to(device).expand(batch) if lengths.numel() == 1 else lengths.to(device)  # (B,)
    keep = torch.arange(kv_len, device=device)[None, :] < lengths[:, None]  # (B, Lk)
    return keep[:, None, :, None]  # (B, 1, Lk, 1)


def linear_attention(
    fq: Tensor,
    fk: Tensor,
    v: Tensor,
    causal: bool = False,
    key_lengths: Tensor | None = None,
    chunk: int = 128,
) -> Tensor:
    """Normalised linear attention from features ``fq (B, H, Lq, F)``, ``fk (B, H, Lk, F)`` and
    values ``v (B, H, Lk, Dv)``.

    Causal masks align lower-right (query i sees keys j <= i + Lk - Lq). Rows with a zero normaliser
    (no visible key) return zeros.
    """
    keep = _key_keep(key_lengths, fq.shape[0], fk.shape[2], fk.device)
    if keep is not None:
        fk = fk * keep  # padded keys add nothing to S or z
    if not causal:
        # numerator and normaliser in one pass over fq: [S | z] = [phi(K)ᵀV | phi(K)ᵀ1]
        state = torch.cat([fk.transpose(-1, -2) @ v, fk.sum(dim=2).unsqueeze(-1)], dim=-1)  # (B, H, F, Dv+1)
        both = fq @ state  # (B, H, Lq, Dv+1)
        num, den = both[..., :-1], both[..., -1:]  # (B, H, Lq, Dv), (B, H, Lq, 1)
        return num / torch.where(den == 0, torch.ones_like(den), den)
    return _causal_chunks(fq, fk, v, chunk)


def _causal_chunks(fq: Tensor, fk: Tensor, v: Tensor, chunk: int) -> Tensor:
    q_len, kv_len = fq.shape[2], fk.shape[2]
    offset = kv_len - q_len
    # Keys before the first query's diagonal are visible to every query: they start the state.
    start = min(max(offset, 0), kv_len)
    state = fk[:, :, :start].transpose(-1, -2) @ v[:, :, :start]  # (B, H, F, Dv)
    norm = fk[:, :, :start].sum(dim=2)  # (B, H, F)
    outs = []
    for qs in range(0, q_len, chunk):
        qe = min(qs + chunk, q_len)
        ks, ke = max(qs + offset, 0), min(max(qe + offset, 0), kv_len)  # keys on this chunk's diagonal
        q_c = fq[:, :, qs:qe]  # (B, H, c, F)
        num = q_c @ state
        den = q_c @ norm.unsqueeze(-1)  # (B, H, c, 1)
        if ke > ks:
            k_c, v_c = fk[:, :, ks:ke], v[:, :, ks:ke]
            pos = torch.arange(qs, qe, device=fq.device)[:, None] + offset  # (c, 1) query positions
            visible = torch.arange(ks, ke, device=fq.device)[None, :] <= pos  # (c, m)
            local = (q_c @ k_c.transpose(-1, -2)) * visible  # (B, H, c, m)
            num = num + local @ v_c
            den = den + local.sum(-1, keepdim=True)
            state = state + k_c.transpose(-1, -2) @ v_c  # (B, H, F, Dv)
            norm = norm + k_c.sum(dim=2)
        outs.append(num / torch.where(den == 0, torch.ones_like(den), den))
    return torch.cat(outs, dim=2)  # (B, H, Lq, Dv)


def kernel_weights(fq: Tensor, fk: Tensor, causal: bool = False, key_lengths: Tensor | None = None) -> Tensor:
    """The oracle's weights: ``A = phi(Q) phi(K)ᵀ`` masked, each row divided by its sum ``(B, H, Lq, Lk)``."""
    a = fq @ fk.transpose(-1, -2)  # (B, H, Lq, Lk)
    q_len, kv_len = fq.shape[2], fk.shape[2]
    if causal:
        pos = torch.arange(q_len, device=a.device)[:, None] + (kv_len - q_len)  # (Lq, 1)
        a = a * (torch.arange(kv_len, device=a.device)[None, :] <= pos)  # (Lq, Lk) causal, lower-right
    keep = _key_keep(key_lengths, fq.shape[0], kv_len, a.device)
    if keep is not None:
        a = a * keep.transpose(-1, -2)  # (B, 1, 1, Lk)
    den = a.sum(-1, keepdim=True)
    return a / torch.where(den == 0, torch.ones_like(den), den)


def kernel_attention(
    fq: Tensor, fk: Tensor, v: Tensor, causal: bool = False, key_lengths: Tensor | None = None
) -> Tensor:
    """The oracle of :func:`linear_attention`: explicitly normalised kernel attention in O(N²)."""
    return kernel_weights(fq, fk, causal, key_lengths) @ v


@dataclass
class LinearAttentionState:
    """The RNN view of causal linear attention: ``S_i = S_{i-1} + phi(k_i) v_iᵀ``,
    ``z_i = z_{i-1} + phi(k_i)``,
    ``out_i = phi(q_i)ᵀ S_i / phi(q_i)ᵀ z_i``; O(F·Dv) memory and time per generated token."""

    state: Tensor | None = None  # (B, H, F, Dv)
    norm: Tensor | None = None  # (B, H, F)

    def step(self, fq: Tensor, fk: Tensor, v: Tensor) -> Tensor:
        """One token: ``fq, fk (B, H, F)``, ``v (B, H, Dv)`` -> ``out (B, H, Dv)``."""
        kv = fk.unsqueeze(-1) * v.unsqueeze(-2)  # (B, H, F, Dv)
        self.state = kv if self.state is None else self.state + kv
        self.norm = fk if self.norm is None else self.norm + fk
        num = (fq.unsqueeze(-2) @ self.state).squeeze(-2)  # (B, H, Dv)
        den = (fq * self.norm).sum(-1, keepdim=True)
        return num / torch.where(den == 0, torch.ones_like(den), den)


FeatureMap = Callable[[Tensor, Tensor, float], tuple[Tensor, Tensor]]


def make_backend_fns(feature_map: FeatureMap):
    """Backend and weights functions from ``feature_map(q, k, scale) -> (phi(q), phi(k))``."""

    def features(q: Tensor, k: Tensor, req: Request) -> tuple[Tensor, Tensor]:
        return feature_map(q, expand_kv(k, req.group), req.scale)

    def fn(q: Tensor, k: Tensor, v: Tensor, req: Request) -> Tensor:
        causal, lengths = split_mask(req.mask)
        return linear_attention(*features(q, k, req), expand_kv(v, req.group), causal, lengths)

    def weights(q: Tensor, k: Tensor, req: Request) -> Tensor:
        causal, lengths = split_mask(req.mask)
        return kernel_weights(*features(q, k, req), causal, lengths)

    return fn, weights


def _elu_features(q: Tensor, k: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    # The elu+1 kernel has no temperature: like the paper, phi is applied to q and k as they are.
    return elu_plus_one(q), elu_plus_one(k)


linear_backend, linear_weights = make_backend_fns(_elu_features)


register_backend(
    Backend(
        "linear",
        linear_backend,
        check,
        "linear attention, phi = elu+1 (Katharopoulos et al., 2020); O(N), not softmax",
        exact=False,
        weights=linear_weights,
    )
)
