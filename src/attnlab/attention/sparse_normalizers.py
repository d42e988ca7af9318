"""Sparse normalisers: sparsemax and 1.5-entmax, exact sort-based forward and closed-form backward.

Both map a score vector ``z`` to a probability vector that can hold exact zeros.

- sparsemax (Martins & Astudillo, 2016, "From Softmax to Sparsemax", eq. 2-4): the Euclidean
  projection onto the simplex ``argmin_{p in Δ} ||p - z||²`` = ``max(z - τ, 0)``, where, with
  ``z_(1) >= z_(2) >= ...`` sorted, the support size is ``k(z) = max{k : 1 + k z_(k) > Σ_{j<=k} z_(j)}``
  and ``τ = (Σ_{j<=k(z)} z_(j) - 1) / k(z)``. Its Jacobian-vector product (eq. 14) is
  ``J^T g = s ⊙ (g - (s·g)/|S|)`` with ``s`` the support indicator.
- 1.5-entmax (Peters, Niculae & Martins, 2019, "Sparse Sequence-to-Sequence Models", eq. 9 and
  Alg. 2): ``p_i = [z_i/2 - τ]_+²`` with ``τ`` such that ``Σ p = 1``. With ``x = z/2`` sorted, for a
  support of the top ``k`` entries ``τ_k = mean_k - sqrt((1 - k·var_k)/k)`` (mean and variance of the
  top ``k``); the support is ``{k : τ_k <= x_(k)}``. Backward (Prop. 3): with ``r = sqrt(p)``,
  ``J^T g = r ⊙ g - r (r·g) / Σ r``.

Masks: entries where ``mask`` is False, or whose score is ``-inf``, get exactly 0 and no gradient; a
row with no visible entry (a fully-masked query) gives all zeros, never NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _prepare(scores: Tensor, dim: int, mask: Tensor | None) -> tuple[Tensor, Tensor, int]:
    """Validate, move ``dim`` last and return ``(shifted scores with -inf hidden, visible, dim)``."""
    if not isinstance(scores, Tensor) or not scores.is_floating_point():
        raise ValueError(f"scores: expected a floating-point tensor, got {type(scores).__name__}")
    if scores.dim() == 0:
        raise ValueError("scores: expected at least 1 dimension, got a scalar")
    if not -scores.dim() <= dim < scores.dim():
        raise ValueError(f"dim: expected an int in [{-scores.dim()}, {scores.dim()}), got {dim}")
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise ValueError(f"mask: expected a bool tensor (True = keep) or None, got {mask!r}")
        try:
            mask = torch.broadcast_to(mask, scores.shape)
        except RuntimeError:
            raise ValueError(
                f"mask: expected a shape broadcastable to scores {tuple(scores.shape)}, "
                f"got {tuple(mask.shape)}"
            ) from None
        scores = scores.masked_fill(~mask, float("-inf"))
    if torch.isnan(scores).any() or (scores == float("inf")).any():
        raise ValueError("scores: expected finite values or -inf (hidden), got NaN or +inf")
    dim = dim % scores.dim()
    z = scores.movedim(dim, -1)  # (..., n): the normalised dim last
    visible = torch.isfinite(z)
    top = z.amax(dim=-1, keepdim=True).detach()
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    return z - top, visible, dim  # both normalisers are shift-invariant; the shift keeps cumsums small


def _sorted_prefix(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Sort descending; hidden (-inf) entries go last and are replaced by 0 in the sums."""
    z_sorted, _ = torch.sort(z, dim=-1, descending=True)
    vis_sorted = torch.isfinite(z_sorted)
    z_sorted = torch.where(vis_sorted, z_sorted, torch.zeros_like(z_sorted))
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)  # (n,)
    return z_sorted, vis_sorted, k


def sparsemax_threshold(z: Tensor) -> tuple[Tensor, Tensor]:
    """``(τ, support size)`` of sparsemax along the last dim (``-inf`` = hidden); support 0 if none."""
    z_sorted, vis_sorted, k = _sorted_prefix(z)
    cumsum = z_sorted.cumsum(dim=-1)
    in_support = vis_sorted & (1 + k * z_sorted > cumsum)  # a prefix of the sorted order
    size = in_support.sum(dim=-1, keepdim=True)
    total = cumsum.gather(-1, (size - 1).clamp(min=0))
    tau = (total - 1) / size.clamp(min=1).to(z.dtype)
    return tau, size


class _Sparsemax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:
        tau, _ = sparsemax_threshold(z)
        p = torch.clamp(z - tau, min=0)  # -inf - tau -> 0
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (p,) = ctx.saved_tensors
        support = (p > 0).to(grad.dtype)
        size = support.sum(dim=-1, keepdim=True).clamp(min=1)
        mean = (grad * support).sum(dim=-1, keepdim=True) / size
        return support * (grad - mean)


def entmax15_threshold(x: Tensor) -> tuple[Tensor, Tensor]:
    """``(τ, support size)`` of 1.5-entmax along the last dim for ``x = z / 2`` (``-inf`` = hidden)."""
    x_sorted, vis_sorted, k = _sorted_prefix(x)
    mean = x_sorted.cumsum(dim=-1) / k
    mean_sq = (x_sorted**2).cumsum(dim=-1) / k
    var_k = k * (mean_sq - mean**2)  # k · variance of the top k
    delta = torch.clamp((1 - var_k) / k, min=0)
    tau = mean - torch.sqrt(delta)
    size = (vis_sorted & (tau <= x_sorted)).sum(dim=-1, keepdim=True)
    tau_star = tau.gather(-1, (size - 1).clamp(min=0))
    return tau_star, size


class _Entmax15(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:
        x = z / 2
        tau, _ = entmax15_threshold(x)
        p = torch.clamp(x - tau, min=0) ** 2
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (p,) = ctx.saved_tensors
        r = p.sqrt()  # p^(2 - alpha) with alpha = 1.5
        g = grad * r
        q = g.sum(dim=-1, keepdim=True) / r.sum(dim=-1, keepdim=True).clamp(min=torch.finfo(r.dtype).tiny)
        return g - q * r


def _finish(p: Tensor, visible: Tensor, dim: int) -> Tensor:
    # A fully-masked row has no support; its threshold is arbitrary, so zero it explicitly.
    p = torch.where(visible.any(dim=-1, keepdim=True), p, torch.zeros_like(p))
    return p.movedim(-1, dim)


def sparsemax(scores: Tensor, dim: int = -1, mask: Tensor | None = None) -> Tensor:
    """Sparsemax (Martins & Astudillo, 2016): ``argmin_{p∈Δ} ||p - z||² = max(z - τ(z), 0)``.

    Exact sort-based threshold, exact zeros, closed-form backward ``s ⊙ (g - mean_S g)``. ``mask``
    (bool, True = keep, broadcastable to ``scores``) and ``-inf`` scores hide entries (weight 0); a
    fully hidden row is all zeros.
    """
    z, visible, dim = _prepare(scores, dim, mask)
    return _finish(_Sparsemax.apply(z), visible, dim)


def entmax15(scores: Tensor, dim: int = -1, mask: Tensor | None = None) -> Tensor:
    """1.5-entmax (Peters et al., 2019): ``p_i = [z_i/2 - τ]_+²`` with ``Σ p = 1``; sparse, smoother than
    sparsemax.

    Exact sort-based threshold and the closed-form backward of Peters et al. (2019). Masks as in
    :func:`sparsemax`.
    """
    z, visible, dim = _prepare(scores, dim, mask)
    return _finish(_Entmax15.apply(z), visible, dim)
