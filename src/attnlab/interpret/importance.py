"""Importance of each input token, three ways (Jain & Wallace, 2019, sec. 3-4).

- attention: the weight ``α_t`` a token gets (one head or the mean over heads; one query or the mean
  over queries), or attention rollout (Abnar & Zuidema, 2020) through a stack of self-attention layers;
- gradient: ``‖∂ŷ/∂e_t‖₂`` or gradient × input ``|∂ŷ/∂e_t · e_t|`` (Simonyan et al., 2014;
  Shrikumar et al., 2017), where ``ŷ = p(ŷ | x)`` is the probability of the predicted class and
  ``e_t`` the token's input embedding; Jain & Wallace hold the attention weights constant
  (``detach=`` the attention modules) so the gradient measures the rest of the network;
- leave-one-out: the change of the output when token t is dropped (``x_{-t}``) or masked,
  ``TVD(ŷ(x), ŷ(x_{-t}))``, ``JSD(…)`` or ``p(ŷ | x) - p(ŷ | x_{-t})``.

All return ``(B, L)`` maps with 0 beyond each example's length. Compare two maps per example with
:func:`attnlab.interpret.faithfulness.importance_correlation` (Kendall τ).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import torch
from torch import Tensor, nn

from .faithfulness import DISTANCES, Explainee, detached_weights, override_attention
from .rollout import attention_rollout


def _real(lengths: Tensor, width: int) -> Tensor:
    return torch.arange(width, device=lengths.device)[None] < lengths[:, None]  # (B, L)


def attention_importance(
    weights: Tensor,
    lengths: Tensor | None = None,
    *,
    head: int | None = None,
    query: int | None = None,
    query_lengths: Tensor | None = None,
) -> Tensor:
    """Attention received by each key: ``weights`` is ``(B, Lk)`` (pooling), ``(B, Lq, Lk)`` or
    ``(B, H, Lq, Lk)``. ``head`` picks one head (default: mean over heads); ``query`` one query row
    (default: mean over the first ``query_lengths`` rows, all rows when None). Keys at or beyond
    ``lengths`` get 0."""
    if weights.dim() == 4:
        if head is not None and not -weights.shape[1] <= head < weights.shape[1]:
            raise ValueError(f"head: expected an index below {weights.shape[1]}, got {head}")
        weights = weights.mean(1) if head is None else weights[:, head]  # (B, Lq, Lk)
    if weights.dim() == 3:
        if query is not None:
            weights = weights[:, query]  # (B, Lk)
        elif query_lengths is not None:
            keep = _real(query_lengths, weights.shape[1]).to(weights.dtype)  # (B, Lq)
            weights = (weights * keep[:, :, None]).sum(1) / keep.sum(1, keepdim=True).clamp_min(1)
        else:
            weights = weights.mean(1)
    if weights.dim() != 2:
        raise ValueError(
            f"weights: expected (B, Lk), (B, Lq, Lk) or (B, H, Lq, Lk), got {tuple(weights.shape)}"
        )
    return weights if lengths is None else weights * _real(lengths, weights.shape[1])


def rollout_importance(layers: Sequence[Tensor], lengths: Tensor, *, query: int | None = None) -> Tensor:
    """Attention rollout through self-attention ``layers`` (each ``(B, H, L, L)``, first layer first):
    row ``query`` of the rollout matrix (default: the mean over real rows), per example."""
    if not layers:
        raise ValueError("layers: expected at least one (B, H, L, L) attention tensor")
    b, _, _, width = layers[0].shape
    out = torch.zeros(b, width, dtype=torch.float64)
    for i, n in enumerate(lengths.tolist()):
        r = attention_rollout([a[i, :, :n, :n] for a in layers])  # (n, n)
        out[i, :n] = r.mean(0) if query is None else r[query]
    return out


def _chosen(probs: Tensor, classes: Tensor) -> Tensor:
    """``p(ŷ)`` per example (mean over steps for sequence outputs)."""
    p = probs.gather(-1, classes[..., None])[..., 0]  # (N,) or (N, T)
    return p.mean(-1) if p.dim() > 1 else p


def gradient_importance(
    explainee: Explainee,
    ids: Tensor,
    lengths: Tensor,
    *,
    method: str = "grad",
    detach: nn.Module | Sequence[nn.Module] | None = None,
) -> Tensor:
    """``‖∂p(ŷ)/∂e_t‖₂`` (``method="grad"``) or ``|∂p(ŷ)/∂e_t · e_t|`` (``"grad_x_input"``) per token,
    ``ŷ`` the model's own prediction; ``detach``: attention modules whose weights are held constant."""
    if method not in ("grad", "grad_x_input"):
        raise ValueError(f"method: expected 'grad' or 'grad_x_input', got {method!r}")
    captured: list[Tensor] = []

    def hook(module, inputs, output):
        if not captured:  # the first call embeds the input tokens
            captured.append(output.detach().requires_grad_(True))
            return captured[0]
        return None

    handle = explainee.embedding.register_forward_hook(hook)
    ctx = nullcontext() if detach is None else override_attention(detach, detached_weights)
    try:
        with torch.enable_grad(), ctx:
            probs = explainee.probs(ids, lengths)
            if not captured:
                raise ValueError("explainee: its embedding module was not called by its forward")
            score = _chosen(probs, probs.detach().argmax(-1))
            (grad,) = torch.autograd.grad(score.sum(), captured[0])  # rows are independent examples
    finally:
        handle.remove()
    emb = captured[0].detach()
    imp = grad.norm(dim=-1) if method == "grad" else (grad * emb).sum(-1).abs()  # (B, L)
    return imp * _real(lengths, imp.shape[1])


@torch.no_grad()
def leave_one_out(
    explainee: Explainee,
    ids: Tensor,
    lengths: Tensor,
    *,
    mode: str = "drop",
    measure: str = "tvd",
    max_rows: int = 1024,
) -> Tensor:
    """Output change when each real token is dropped (``mode="drop"``: the sequence closes up, its
    length shrinks by one) or replaced by ``explainee.mask_id`` (``"mask"``). ``measure``: ``"tvd"``,
    ``"jsd"`` or ``"prob"`` (drop in the predicted class's probability; may be negative)."""
    if mode not in ("drop", "mask"):
        raise ValueError(f"mode: expected 'drop' or 'mask', got {mode!r}")
    if measure not in (*DISTANCES, "prob"):
        raise ValueError(f"measure: expected one of {[*DISTANCES, 'prob']}, got {measure!r}")
    if mode == "drop" and int(lengths.min()) < 2:
        raise ValueError("lengths: mode='drop' needs every example to have >= 2 tokens (use mode='mask')")
    base = explainee.probs(ids, lengths)
    width = ids.shape[1]
    out = torch.zeros(ids.shape, dtype=base.dtype)
    todo = [(i, t) for i, n in enumerate(lengths.tolist()) for t in range(n)]
    for start in range(0, len(todo), max_rows):
        rows = torch.tensor([i for i, _ in todo[start : start + max_rows]])
        pos = torch.tensor([t for _, t in todo[start : start + max_rows]])
        if mode == "mask":
            var = ids[rows].clone()  # (N, L)
            var[torch.arange(len(rows)), pos] = explainee.mask_id
            var_len = lengths[rows]
        else:
            j = torch.arange(width - 1)[None]  # (1, L - 1)
            var = ids[rows].gather(1, j + (j >= pos[:, None]).long())  # (N, L - 1), token pos removed
            var_len = lengths[rows] - 1
        p = explainee.probs(var, var_len, rows)
        if measure == "prob":
            cls = base[rows].argmax(-1)
            change = _chosen(base[rows], cls) - _chosen(p, cls)
        else:
            change = DISTANCES[measure](base[rows], p)
        out[rows, pos] = change.to(out.dtype)
    return out
