"""Attention rollout and attention flow (Abnar & Zuidema, 2020, "Quantifying Attention Flow").

Both treat a stack of self-attention layers as a graph whose layer-l edges from position i (above) to
j (below) carry ``Ã_l[i, j]``, where ``Ã_l = 0.5·A_l + 0.5·I`` accounts for the residual connection
(rows renormalised) and ``A_l`` is the layer's attention averaged over heads.

- rollout: ``R = Ã_L · … · Ã_1`` — the product of the edge weights summed over all paths.
- flow: the maximum flow from an output position to each input position with the edge weights as
  capacities — paths compete for capacity instead of multiplying.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import torch
from torch import Tensor


def _layers(attentions: Sequence[Tensor] | Tensor, residual: bool) -> list[Tensor]:
    """Each layer's ``(L, L)`` matrix: head-averaged, with the residual identity mixed in."""
    out = []
    for a in attentions:
        a = torch.as_tensor(a, dtype=torch.float64)
        if a.dim() == 3:  # (H, L, L)
            a = a.mean(0)
        if a.dim() != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(
                f"attentions: expected (L, L) or (H, L, L) self-attention per layer, got {tuple(a.shape)}"
            )
        if residual:
            a = 0.5 * a + 0.5 * torch.eye(a.shape[0], dtype=a.dtype)
            a = a / a.sum(-1, keepdim=True).clamp_min(1e-300)
        out.append(a)
    if not out:
        raise ValueError("attentions: expected at least one layer")
    return out


def attention_rollout(attentions: Sequence[Tensor], residual: bool = True) -> Tensor:
    """``(L, L)`` rollout: row i is how much output position i draws from each input position."""
    result = None
    for a in _layers(attentions, residual):  # first layer first
        result = a if result is None else a @ result
    return result


def _max_flow(capacity: Tensor, source: int, sink: int) -> float:
    """Edmonds–Karp on a dense capacity matrix (float64)."""
    residual = capacity.clone()
    n, total = residual.shape[0], 0.0
    while True:
        parent = [-1] * n
        parent[source] = source
        queue = deque([source])
        while queue and parent[sink] == -1:
            u = queue.popleft()
            for v in torch.nonzero(residual[u] > 1e-12).flatten().tolist():
                if parent[v] == -1:
                    parent[v] = u
                    queue.append(v)
        if parent[sink] == -1:
            return total
        bottleneck, v = float("inf"), sink
        while v != source:
            bottleneck = min(bottleneck, residual[parent[v], v].item())
            v = parent[v]
        v = sink
        while v != source:
            residual[parent[v], v] -= bottleneck
            residual[v, parent[v]] += bottleneck
            v = parent[v]
        total += bottleneck


def attention_flow(attentions: Sequence[Tensor], output_position: int, residual: bool = True) -> Tensor:
    """``(L,)`` max flow from ``output_position`` at the top layer to each input token."""
    layers = _layers(attentions, residual)
    length, depth = layers[0].shape[0], len(layers)
    if not 0 <= output_position < length:
        raise ValueError(f"output_position: expected 0 <= position < {length}, got {output_position}")
    # Node (level, pos) -> level * L + pos; level 0 = inputs, level depth = outputs; edges point down.
    size = (depth + 1) * length
    capacity = torch.zeros(size, size, dtype=torch.float64)
    for level, a in enumerate(layers, start=1):
        rows = slice(level * length, (level + 1) * length)
        cols = slice((level - 1) * length, level * length)
        capacity[rows, cols] = a
    source = depth * length + output_position
    return torch.tensor([_max_flow(capacity, source, j) for j in range(length)], dtype=torch.float64)
