"""Knowledge-enhanced attention: read an external key-value memory of facts from hidden states.

End-to-End Memory Networks (Sukhbaatar et al., 2015, sec. 2.1), one hop:

    p_i = softmax(u^T m_i),   o = Σ_i p_i c_i,   u' = u + o

Key-Value Memory Networks (Miller et al., 2016, sec. 3.1) separate what is matched from what is read:

    p_i = softmax(A Φ_X(x) · A Φ_K(k_i)),   o = Σ_i p_i A Φ_V(v_i),   q' = R (q + o)

Here ``u = W_q h``, ``m_i = W_k k_i``, ``c_i = W_v v_i`` (several heads as in multi-head attention;
scaled by ``1/sqrt(d_head)`` unless ``scale`` says otherwise) and the read ``o`` is projected by ``W_o``.
The read is merged into the hidden state by a gate (as the knowledge gates of KBLSTM, Yang &
Mitchell 2017): ``g = σ(W_g [h; o])``, ``h' = h + g ⊙ o`` (``gate="sigmoid"``), the MemN2N sum
``h' = h + o`` (``gate="residual"``) or the read alone (``gate="none"``). Stack layers for several hops.

Memories have different sizes: pad them and pass ``memory_mask (B, M)`` (True = a real fact) or
``memory_lengths (B,)``. Padded slots get weight exactly 0; a row with no fact at all (or ``M = 0``)
reads ``o = 0`` and its weights are all zero, never NaN (the engine's fully-masked-row rule).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..attention import attend
from ..attention.backends import Backend

GATES = ("sigmoid", "residual", "none")


def memory_read(
    query: Tensor,
    keys: Tensor,
    values: Tensor,
    memory_mask: Tensor | None = None,
    *,
    scale: float | None = None,
    backend: str | Backend = "auto",
) -> tuple[Tensor, Tensor]:
    """``o = Σ_i softmax_i(scale · u·m_i) c_i`` through :func:`attnlab.attention.attend`.

    Args:
        query: ``u (B, H, Lq, D)``.
        keys: ``m (B, H, M, D)``.
        values: ``c (B, H, M, Dv)``.
        memory_mask: bool ``(B, M)``, True where a slot holds a fact; None = all slots are facts.
        scale: score multiplier (default ``1/sqrt(D)``; MemN2N uses 1).

    Returns:
        ``(o (B, H, Lq, Dv), p (B, H, Lq, M))``; an empty memory gives zeros.
    """
    if keys.dim() != 4 or values.dim() != 4 or query.dim() != 4:
        raise ValueError(
            f"query, keys, values: expected 4 dims (B, H, L, D), got {tuple(query.shape)}, "
            f"{tuple(keys.shape)}, {tuple(values.shape)}"
        )
    b, h, lq, _ = query.shape
    m = keys.shape[2]
    if memory_mask is not None and (memory_mask.dtype != torch.bool or tuple(memory_mask.shape) != (b, m)):
        raise ValueError(
            f"memory_mask: expected a bool tensor (B, M) = {(b, m)}, got {memory_mask.dtype} "
            f"{tuple(memory_mask.shape)}"
        )
    if m == 0:  # nothing to read: softmax over an empty set is undefined, the read is defined as 0
        out = query.new_zeros(b, h, lq, values.shape[-1]) + 0 * values.sum()  # keeps the graph
        return out, query.new_zeros(b, h, lq, 0)
    mask = None if memory_mask is None else memory_mask[:, None, None, :]  # (B, 1, 1, M)
    return attend(query, keys, values, mask=mask, scale=scale, backend=backend, return_weights=True)


class MemoryAttention(nn.Module):
    """Attend from hidden states over a key-value memory of facts and gate the read into them.

    Args:
        d_model: width of the hidden states (and of the read).
        num_heads: heads (``d_model`` must be divisible by it); 1 is the papers' setting.
        key_dim, value_dim: feature sizes of memory keys / values (default ``d_model``).
        gate: ``"sigmoid"`` (learned gate), ``"residual"`` (``h + o``) or ``"none"`` (``o``).
        scale: score multiplier (default ``1/sqrt(d_model / num_heads)``).
        backend: the engine backend for the attention.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int = 1,
        *,
        key_dim: int | None = None,
        value_dim: int | None = None,
        gate: str = "sigmoid",
        scale: float | None = None,
        backend: str | Backend = "auto",
    ) -> None:
        super().__init__()
        if not isinstance(num_heads, int) or num_heads < 1 or d_model % num_heads:
            raise ValueError(f"num_heads: expected an int >= 1 dividing d_model={d_model}, got {num_heads!r}")
        if gate not in GATES:
            raise ValueError(f"gate: expected one of {GATES}, got {gate!r}")
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.gate, self.scale, self.backend = gate, scale, backend
        self.key_dim, self.value_dim = key_dim or d_model, value_dim or d_model
        self.q_proj = nn.Linear(d_model, d_model)  # u = W_q h      (A Φ_X)
        self.k_proj = nn.Linear(self.key_dim, d_model)  # m_i = W_k k_i  (A Φ_K)
        self.v_proj = nn.Linear(self.value_dim, d_model)  # c_i = W_v v_i  (A Φ_V)
        self.out_proj = nn.Linear(d_model, d_model)  # W_o
        self.gate_proj = nn.Linear(2 * d_model, d_model) if gate == "sigmoid" else None  # W_g

    def _split(self, x: Tensor) -> Tensor:
        b, length, _ = x.shape
        return x.view(b, length, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, Dh)

    def forward(
        self,
        hidden: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        *,
        memory_mask: Tensor | None = None,
        memory_lengths: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Read the memory from ``hidden (B, Lq, d_model)`` (or ``(B, d_model)``).

        Args:
            keys: ``(B, M, key_dim)``; ``values`` ``(B, M, value_dim)`` default to ``keys`` (MemN2N's
                single embedding of each fact).
            memory_mask: bool ``(B, M)``, True = a real fact; or ``memory_lengths (B,)``: the first
                ``memory_lengths[b]`` slots are facts. Not both.

        Returns:
            ``(hidden' like hidden, weights (B, H, Lq, M))`` (``(B, H, M)`` for a 2-d ``hidden``):
            the attention over facts.
        """
        squeeze = hidden.dim() == 2
        if squeeze:
            hidden = hidden[:, None]  # (B, 1, d_model)
        if hidden.dim() != 3 or hidden.shape[-1] != self.d_model:
            raise ValueError(
                f"hidden: expected (B, Lq, {self.d_model}) or (B, {self.d_model}), got {tuple(hidden.shape)}"
            )
        values = keys if values is None else values
        b = hidden.shape[0]
        if keys.dim() != 3 or keys.shape[0] != b or keys.shape[-1] != self.key_dim:
            raise ValueError(f"keys: expected (B={b}, M, {self.key_dim}), got {tuple(keys.shape)}")
        if values.dim() != 3 or values.shape[:2] != keys.shape[:2] or values.shape[-1] != self.value_dim:
            raise ValueError(
                f"values: expected (B={b}, M={keys.shape[1]}, {self.value_dim}), got {tuple(values.shape)}"
            )
        mask = _memory_mask(memory_mask, memory_lengths, b, keys.shape[1], keys.device)
        u = self._split(self.q_proj(hidden))  # (B, H, Lq, Dh)
        m = self._split(self.k_proj(keys))  # (B, H, M, Dh)
        c = self._split(self.v_proj(values))  # (B, H, M, Dh)
        o, p = memory_read(u, m, c, mask, scale=self.scale, backend=self.backend)
        lq = hidden.shape[1]
        o = self.out_proj(o.transpose(1, 2).reshape(b, lq, self.d_model))  # (B, Lq, d_model)
        if self.gate_proj is not None:
            g = torch.sigmoid(self.gate_proj(torch.cat([hidden, o], dim=-1)))  # (B, Lq, d_model)
            out = hidden + g * o
        elif self.gate == "residual":
            out = hidden + o
        else:
            out = o
        if squeeze:
            return out[:, 0], p[:, :, 0]  # (B, d_model), (B, H, M)
        return out, p


def _memory_mask(mask: Tensor | None, lengths: Tensor | None, b: int, m: int, device) -> Tensor | None:
    if mask is not None and lengths is not None:
        raise ValueError("memory_mask, memory_lengths: pass at most one of them")
    if lengths is not None:
        if lengths.shape != (b,) or lengths.dtype.is_floating_point:
            raise ValueError(
                f"memory_lengths: expected integer lengths (B,) = ({b},), "
                f"got {lengths.dtype} {tuple(lengths.shape)}"
            )
        if bool((lengths < 0).any()) or bool((lengths > m).any()):
            raise ValueError(f"memory_lengths: expected values in [0, M={m}], got {lengths.tolist()}")
        return torch.arange(m, device=device)[None] < lengths.to(device)[:, None]  # (B, M)
    return mask
