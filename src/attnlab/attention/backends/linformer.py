"""Linformer attention (Wang et al., 2020, "Linformer: Self-Attention with Linear Complexity", eq. 7):

    head = softmax(Q (E K)ᵀ · s) · (F V),      E, F ∈ R^{k×N}

The keys and values are projected along the sequence from N to ``k`` rows, so the score matrix is
N x k and the cost O(N·k). The paper learns E and F; :class:`LinformerProjection` holds learned
ones (``linformer(projection=module)`` reads them, like a T5 bias module is read by its mod).

Without training, the backend uses segment means for both E and F (the pooling projection of the
paper's ablations), plus ``log(segment size)`` added to each pooled score: if the keys and values are
constant within each segment, ``Σ_j exp(q·k_j) v_j = Σ_seg n_seg exp(q·k̄_seg) v̄_seg`` and the
result is exact; with one segment per token (k = N) it is exactly softmax attention. A random
Gaussian E (Theorem 1's Johnson-Lindenstrauss argument) is not used: it bounds P·EᵀE·V, not
softmax(Q(EK)ᵀ), and measured here gave errors larger than the output itself. Non-causal and
unmasked: a projected row mixes positions, so no mask can be honoured.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..request import Backend, Request, expand_kv, register_backend, unmasked_only

check = unmasked_only("Linformer projects positions together", "projected scores")


def mean_pooling(k: int, n: int, dtype=torch.float32, device=None) -> Tensor:
    """``(k, n)``: row r averages the r-th of ``k`` contiguous, nearly equal segments of ``n`` positions."""
    bounds = torch.linspace(0, n, k + 1).round().long()
    pos = torch.arange(n)
    inside = (pos[None, :] >= bounds[:-1, None]) & (pos[None, :] < bounds[1:, None])  # (k, n)
    inside = inside.to(torch.float64)
    return (inside / inside.sum(1, keepdim=True)).to(dtype=dtype, device=device)


def linformer_attention(
    q: Tensor, k: Tensor, v: Tensor, e: Tensor, f: Tensor, scale: float, bias: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Attention over projected keys and values.

    q ``(B, H, Lq, D)``, k ``(B, H, Lk, D)``, v ``(B, H, Lk, Dv)``; ``e``, ``f`` ``(k, Lk)``; ``bias``
    ``(k,)`` added to the scores of each projected row. Returns the output ``(B, H, Lq, Dv)`` and
    the weights over the projected rows ``(B, H, Lq, k)``.
    """
    weights = projected_weights(q, k, e, scale, bias)  # (B, H, Lq, k)
    return weights @ (f @ v), weights  # F V: (B, H, k, Dv)


def projected_weights(q: Tensor, k: Tensor, e: Tensor, scale: float, bias: Tensor | None = None) -> Tensor:
    """``softmax(Q (E K)ᵀ · s + bias)``, ``(B, H, Lq, k)``."""
    scores = q @ (e @ k).transpose(-1, -2) * scale  # E K: (B, H, k, D)
    return torch.softmax(scores if bias is None else scores + bias, dim=-1)


class LinformerProjection(nn.Module):
    """Learned Linformer projections E, F ``(k, max_len)``, initialised as segment means.

    Sequences shorter than ``max_len`` use the first Lk columns (the paper fixes N; slicing keeps
    shorter inputs usable).
    """

    def __init__(self, max_len: int, proj_dim: int, share: bool = False) -> None:
        super().__init__()
        if not 1 <= proj_dim <= max_len:
            raise ValueError(f"proj_dim: expected 1 <= proj_dim <= max_len={max_len}, got {proj_dim}")
        self.max_len = max_len
        self.e = nn.Parameter(mean_pooling(proj_dim, max_len))
        self.f = self.e if share else nn.Parameter(mean_pooling(proj_dim, max_len))

    def forward(self, kv_len: int) -> tuple[Tensor, Tensor]:
        if kv_len > self.max_len:
            raise ValueError(f"k: sequence length {kv_len} exceeds the projection's max_len={self.max_len}")
        return self.e[:, :kv_len], self.f[:, :kv_len]


def linformer(
    proj_dim: int = 256, projection: LinformerProjection | None = None, name: str = "linformer"
) -> Backend:
    """A Linformer backend: mean-pooling projections to ``proj_dim`` rows (capped at Lk), or learned ones."""
    if proj_dim < 1:
        raise ValueError(f"proj_dim: expected >= 1, got {proj_dim}")

    def parts(q: Tensor, k: Tensor, req: Request) -> tuple[Tensor, Tensor, Tensor | None]:
        if projection is not None:
            e, f = projection(req.kv_len)
            return e.to(q.dtype), f.to(q.dtype), None
        e = mean_pooling(min(proj_dim, req.kv_len), req.kv_len, q.dtype, q.device)
        counts = (e > 0).sum(1).to(q.dtype)
        return e, e, torch.log(counts)  # log n_seg: a segment stands for n_seg keys

    def fn(q: Tensor, k: Tensor, v: Tensor, req: Request) -> Tensor:
        e, f, bias = parts(q, k, req)
        return linformer_attention(
            q, expand_kv(k, req.group), expand_kv(v, req.group), e, f, req.scale, bias
        )[0]

    def weights(q: Tensor, k: Tensor, req: Request) -> Tensor:
        # Token-level weights the approximation applies to V: softmax(Q (EK)ᵀ s) · F, (B, H, Lq, Lk).
        e, f, bias = parts(q, k, req)
        return projected_weights(q, expand_kv(k, req.group), e, req.scale, bias) @ f

    what = "learned projection" if projection is not None else f"mean pooling to {proj_dim} rows"
    return Backend(
        name,
        fn,
        check,
        f"Linformer, {what} (Wang et al., 2020); O(N·k), approximates softmax, no masks",
        exact=False,
        weights=weights,
    )


register_backend(linformer())
