"""Performer attention (Choromanski et al., 2021, "Rethinking Attention with Performers"): FAVOR+.

``softmax(QKᵀ·s)V ≈ D⁻¹ (phi(Q)(phi(K)ᵀ V))`` with ``D = diag(phi(Q) phi(K)ᵀ 1)`` and phi the positive
(or trigonometric) random features of :mod:`attnlab.attention.features` applied to ``sqrt(s)·x``, so
that ``phi(q)·phi(k)`` is an unbiased estimate of ``exp(s q·k)``. Linear in N via
:func:`~attnlab.attention.backends.linear.linear_attention` (causal masks through its prefix sums).

``performer(num_features, kind, orthogonal, seed)`` returns a :class:`Backend` with a fixed projection;
call :meth:`PerformerFeatures.redraw` (or build a new backend) to redraw features, as the paper does
periodically during training. The registered ``"performer"`` backend uses ``m = d·ln d`` orthogonal
positive features (the paper's choice; 266 for d = 64) drawn with seed 0 for each head dimension d.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..features import favor_positive, favor_trig, random_projection
from ..request import Backend, register_backend
from .linear import check, make_backend_fns


class PerformerFeatures:
    """Holds the random projection ``W (m, d)`` per head dimension and maps q, k to features."""

    def __init__(
        self, num_features: int | None = None, kind: str = "positive", orthogonal: bool = True, seed: int = 0
    ):
        if kind not in ("positive", "trig"):
            raise ValueError(f"kind: expected 'positive' or 'trig', got {kind!r}")
        if num_features is not None and num_features < 1:
            raise ValueError(f"num_features: expected >= 1 or None, got {num_features}")
        self.num_features, self.kind, self.orthogonal = num_features, kind, orthogonal
        self.generator = torch.Generator().manual_seed(seed)
        self._w: dict[int, Tensor] = {}

    def features_for(self, dim: int) -> int:
        """``num_features``, or the paper's ``m = d·ln d`` (Theorem 4: m = Θ(d log d)) when None."""
        return self.num_features or max(8, round(dim * math.log(dim)))

    def projection(self, dim: int) -> Tensor:
        if dim not in self._w:
            self._w[dim] = random_projection(
                self.features_for(dim), dim, self.orthogonal, self.generator, dtype=torch.float64
            )
        return self._w[dim]

    def redraw(self) -> None:
        """Draw fresh random features (the next call of each head dimension uses new ones)."""
        self._w.clear()

    def __call__(self, q: Tensor, k: Tensor, scale: float) -> tuple[Tensor, Tensor]:
        w = self.projection(q.shape[-1]).to(dtype=q.dtype, device=q.device)
        q, k = q * scale**0.5, k * scale**0.5
        if self.kind == "trig":
            return favor_trig(q, w), favor_trig(k, w)
        return favor_positive(q, w, stabilise="row"), favor_positive(k, w, stabilise="all")


def performer(
    num_features: int | None = None,
    kind: str = "positive",
    orthogonal: bool = True,
    seed: int = 0,
    name: str = "performer",
) -> Backend:
    """A Performer backend for ``attend(..., backend=performer(...))``; ``.features`` redraws."""
    features = PerformerFeatures(num_features, kind, orthogonal, seed)
    fn, weights = make_backend_fns(features)
    backend = Backend(
        name,
        fn,
        check,
        f"Performer FAVOR+ ({num_features or 'd·ln d'} {kind} features"
        f"{', orthogonal' if orthogonal else ''}); O(N), approximates softmax",
        exact=False,
        weights=weights,
    )
    backend.features = features  # type: ignore[attr-defined]
    return backend


register_backend(performer())
