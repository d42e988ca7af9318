"""Normalisers that turn attention scores into weights.

``softmax`` here is the masked-safe softmax every backend agrees with: entries at ``-inf`` get weight 0
and a row whose entries are all ``-inf`` (a fully-masked query) gets all-zero weights instead of NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor


def softmax(scores: Tensor, dim: int = -1) -> Tensor:
    """Softmax ``exp(s_j - max s) / sum_k exp(s_k - max s)`` that returns zeros for all ``-inf`` rows.

    Gradients stay finite for such rows (they are zero), unlike ``torch.softmax`` which yields NaN.
    """
    row_max = scores.amax(dim=dim, keepdim=True).detach()
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    e = torch.exp(scores - row_max)
    denom = e.sum(dim=dim, keepdim=True)
    return e / torch.where(denom > 0, denom, torch.ones_like(denom))


ALL_NORMALIZERS = {"softmax": softmax}
