"""Batched beam search for any autoregressive decoder (Sutskever et al., 2014; Wu et al., 2016).

At each step every live hypothesis is extended by every token; the ``beam_size`` best partial
sequences (by summed log-probability) of each batch element survive. A hypothesis that emitted EOS
is frozen (its score no longer changes). Finished hypotheses are ranked with GNMT's length penalty
``score / ((5 + |Y|) / 6)^α`` (Wu et al., 2016, eq. 14), so that short outputs are not favoured merely
for having fewer negative terms.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..layers.kv_cache import map_tensors


def default_reorder(state, index: Tensor):
    """Select batch rows ``index`` of every tensor in a nested state."""
    return map_tensors(state, lambda t: t.index_select(0, index))


def beam_search(
    step: Callable[[Tensor, object], tuple[Tensor, object]],
    state,
    *,
    batch_size: int,
    beam_size: int,
    bos_id: int,
    eos_id: int,
    pad_id: int = 0,
    max_len: int = 32,
    length_penalty: float = 1.0,
    reorder: Callable[[object, Tensor], object] = default_reorder,
) -> tuple[Tensor, Tensor]:
    """Search for the most probable sequences.

    Args:
        step: ``step(last_tokens (B*K,), state) -> (log_probs (B*K, V), state)``; ``state`` rows are
            laid out batch-major (hypothesis k of example b is row ``b * K + k``).
        state: the decoder state with ``B*K`` rows (repeat the encoder outputs ``K`` times).
        reorder: ``reorder(state, index) -> state`` keeping rows ``index`` (default: index every tensor).
        length_penalty: GNMT's α (0 ranks by raw log-probability).

    Returns:
        ``tokens (B, T)`` of the best hypothesis per example (without BOS, ``pad_id`` after EOS) and
        their length-normalised ``scores (B,)``.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size: expected >= 1, got {beam_size}")
    if max_len < 1:
        raise ValueError(f"max_len: expected >= 1, got {max_len}")
    b, k = batch_size, beam_size
    device = None
    scores = torch.zeros(b, k)
    scores[:, 1:] = float("-inf")  # all beams start identical: keep only one alive at first
    last = torch.full((b * k,), bos_id, dtype=torch.long)
    tokens = torch.zeros(b * k, 0, dtype=torch.long)
    done = torch.zeros(b * k, dtype=torch.bool)
    lengths = torch.zeros(b * k)
    for _ in range(max_len):
        log_probs, state = step(last if device is None else last.to(device), state)
        device = log_probs.device
        log_probs = log_probs.detach().float().cpu().clone()  # (B*K, V)
        vocab = log_probs.shape[-1]
        if bool(done.any()):
            log_probs[done] = float("-inf")
            log_probs[done, eos_id] = 0.0  # a finished hypothesis has exactly one continuation
        cand = (scores.view(-1, 1) + log_probs).view(b, k * vocab)
        scores, flat = cand.topk(k, dim=1)  # (B, K)
        index = (torch.arange(b)[:, None] * k + flat // vocab).view(-1)  # source row of each survivor
        tok = (flat % vocab).view(-1)
        was_done = done[index]
        tok = tok.masked_fill(was_done, pad_id)
        tokens = torch.cat([tokens[index], tok[:, None]], dim=1)
        lengths = lengths[index] + (~was_done).float()
        done = was_done | (tok == eos_id)
        state = reorder(state, index.to(device))
        last = tok
        if bool(done.all()):
            break
    penalty = ((5.0 + lengths.view(b, k)) / 6.0) ** length_penalty
    normalised = scores / penalty
    best = normalised.argmax(dim=1)  # (B,)
    rows = torch.arange(b) * k + best
    return tokens[rows].to(device), normalised[torch.arange(b), best]
