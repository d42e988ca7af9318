"""The trainer's optimiser: AdamW (Loshchilov & Hutter 2019) with decoupled weight decay on matrices.

Decaying biases and normalisation gains pulls them towards 0 for no benefit (a LayerNorm gain of 0
switches its features off), so they go into a parameter group without weight decay, as in GPT-2
and nanoGPT.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import TrainConfig


def adamw(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (biases, norms' gains and scalars are not shrunk)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay, no_decay = [p for p in params if p.dim() >= 2], [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=config.eps)
