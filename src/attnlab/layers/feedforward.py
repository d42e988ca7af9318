"""Position-wise feed-forward networks (Vaswani et al., 2017, eq. 2) and the gated variants.

FFN(x)    = act(x W_1 + b_1) W_2 + b_2             (relu: the paper; gelu: BERT / GPT-2)
SwiGLU(x) = (swish(x W) ⊙ x V) W_2                 (Shazeer, 2020, "GLU Variants Improve Transformer")
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS = ("relu", "gelu", "swiglu")


class FeedForward(nn.Module):
    """Two-layer MLP applied to each position independently.

    Args:
        d_model: input and output width.
        d_ff: hidden width (default ``4 * d_model``).
        activation: ``"relu"``, ``"gelu"`` or ``"swiglu"``.
        dropout: dropout on the hidden activations.
    """

    def __init__(
        self, d_model: int, d_ff: int | None = None, activation: str = "gelu", dropout: float = 0.0
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: unknown {activation!r}; expected one of {ACTIVATIONS}")
        d_ff = d_ff or 4 * d_model
        self.activation = activation
        self.up = nn.Linear(d_model, 2 * d_ff if activation == "swiglu" else d_ff)
        self.down = nn.Linear(d_ff, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.up(x)
        if self.activation == "swiglu":
            gate, value = h.chunk(2, dim=-1)
            h = F.silu(gate) * value
        else:
            h = F.relu(h) if self.activation == "relu" else F.gelu(h)
        return self.down(self.drop(h))
