"""Attention heatmaps: rows are queries, columns keys, each cell a softmax weight."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from attnlab.figures import plt

from .fonts import cjk_font_family


def plot_attention(
    weights,
    query_tokens: Sequence[str],
    key_tokens: Sequence[str],
    path: str | os.PathLike,
    title: str = "",
    highlight: Sequence[int] = (),
    cmap: str = "viridis",
) -> str:
    """Save a heatmap of ``weights (Lq, Lk)`` labelled with the tokens; returns the path.

    ``highlight`` lists key indices whose labels are drawn in red (e.g. the evidence tokens).
    """
    w = weights.detach().float().cpu().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights)
    if w.ndim != 2 or w.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(
            f"weights: expected shape (len(query_tokens), len(key_tokens)) = "
            f"{(len(query_tokens), len(key_tokens))}, got {w.shape}"
        )
    family = cjk_font_family()
    rc = {"font.family": [family, "DejaVu Sans"]} if family else {}
    size = (max(4.0, 0.32 * len(key_tokens) + 1.5), max(3.5, 0.32 * len(query_tokens) + 1.2))
    with plt.rc_context(rc):
        fig, ax = plt.subplots(figsize=size, dpi=110)
        im = ax.imshow(w, cmap=cmap, aspect="auto", vmin=0.0)
        ax.set_xticks(range(len(key_tokens)), labels=list(key_tokens), fontsize=9)
        ax.set_yticks(range(len(query_tokens)), labels=list(query_tokens), fontsize=9)
        for i in highlight:
            ax.get_xticklabels()[i].set_color("crimson")
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        if title:
            ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
        fig.tight_layout()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path)
        plt.close(fig)
    return str(path)
