"""Feature maps phi for kernelised (linear-complexity) attention: ``sim(q, k) ≈ phi(q)·phi(k)``.

- ``elu_plus_one``: Katharopoulos et al., 2020 ("Transformers are RNNs"), ``phi(x) = elu(x) + 1``.
- ``favor_positive`` / ``favor_trig``: Performer's FAVOR+ (Choromanski et al., 2021), unbiased random
  feature estimators of the softmax kernel ``SM(x, y) = exp(x·y)``:
  positive ``phi(x) = exp(Wx - |x|²/2) / sqrt(m)``, trigonometric
  ``phi(x) = exp(|x|²/2) [sin(Wx), cos(Wx)] / sqrt(m)``, rows of ``W`` drawn from N(0, I_d), i.i.d. or
  block-orthogonal (Lemma 2 gives their mean squared errors; orthogonal rows lower them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def elu_plus_one(x: Tensor) -> Tensor:
    """``elu(x) + 1``: positive, so every normaliser is > 0."""
    return F.elu(x) + 1.0


def random_projection(
    num_features: int, dim: int, orthogonal: bool = True, generator=None, dtype=torch.float32, device=None
) -> Tensor:
    """``W (num_features, dim)`` with rows marginally N(0, I_dim).

    Orthogonal: stacked blocks of ``dim`` mutually orthogonal rows (QR of a Gaussian matrix), each row
    rescaled to the norm of an independent Gaussian vector, so marginals stay Gaussian (Performer,
    sec. 2.4, "ORFs").
    """
    if num_features < 1 or dim < 1:
        raise ValueError(f"random_projection: need num_features >= 1 and dim >= 1, got {num_features}, {dim}")
    if not orthogonal:
        return torch.randn(num_features, dim, generator=generator, dtype=torch.float64).to(
            dtype=dtype, device=device
        )
    blocks = []
    for _ in range(math.ceil(num_features / dim)):
        g = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
        q, r = torch.linalg.qr(g)
        q = q * torch.sign(torch.diagonal(r))  # a Haar-distributed orthogonal matrix
        blocks.append(q.T)  # rows orthonormal
    w = torch.cat(blocks)[:num_features]  # (m, d)
    norms = torch.randn(num_features, dim, generator=generator, dtype=torch.float64).norm(dim=1, keepdim=True)
    return (w * norms).to(dtype=dtype, device=device)


def favor_positive(x: Tensor, w: Tensor, stabilise: str | None = None) -> Tensor:
    """Positive random features ``exp(Wx - |x|²/2) / sqrt(m)``, ``x (..., L, d)`` -> ``(..., L, m)``.

    ``stabilise="row"`` subtracts each row's max exponent (fine for queries: it cancels in the
    normaliser), ``"all"`` one max over the last two dims (needed for keys, which share a normaliser).
    The exact estimator is recovered up to that constant factor.
    """
    if stabilise not in (None, "row", "all"):
        raise ValueError(f"stabilise: expected None, 'row' or 'all', got {stabilise!r}")
    # One (..., L, m) buffer, updated in place: each pass over it costs as much as the projection's
    # matmul, and autograd needs neither the matmul's output nor the shifted exponent (exp keeps its
    # result). 1/sqrt(m) enters the exponent as -ln(m)/2.
    proj = x @ w.T  # (..., L, m)
    proj.sub_(0.5 * (x * x).sum(-1, keepdim=True))
    with torch.no_grad():
        shift = 0.5 * math.log(w.shape[0])
        if stabilise is not None:
            dims = -1 if stabilise == "row" else (-2, -1)
            shift = proj.amax(dim=dims, keepdim=True) + shift
    return proj.sub_(shift).exp_()


def favor_trig(x: Tensor, w: Tensor) -> Tensor:
    """Trigonometric random features ``exp(|x|²/2) [sin(Wx), cos(Wx)] / sqrt(m)`` -> ``(..., L, 2m)``."""
    proj = x @ w.T  # (..., L, m)
    scale = torch.exp(0.5 * (x * x).sum(-1, keepdim=True)) / math.sqrt(w.shape[0])
    return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1) * scale  # (..., L, 2m)


def softmax_kernel_mse(x: Tensor, y: Tensor, num_features: int, kind: str) -> Tensor:
    """Closed-form MSE of the i.i.d. estimators of ``exp(x·y)`` (Performer, Lemma 2).

    positive: ``(1/m) exp(|x+y|²) SM²(x,y) (1 - exp(-|x+y|²))``;
    trig: ``(1/(2m)) exp(|x+y|²) SM^{-2}(x,y) (1 - exp(-|x-y|²))²``.
    """
    sm = torch.exp((x * y).sum(-1))
    s, d = ((x + y) ** 2).sum(-1), ((x - y) ** 2).sum(-1)
    if kind == "positive":
        return torch.exp(s) * sm**2 * (1 - torch.exp(-s)) / num_features
    if kind == "trig":
        return torch.exp(s) * sm**-2 * (1 - torch.exp(-d)) ** 2 / (2 * num_features)
    raise ValueError(f"kind: expected 'positive' or 'trig', got {kind!r}")
