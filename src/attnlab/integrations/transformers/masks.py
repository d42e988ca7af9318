"""Hugging Face masks as attnlab :class:`~attnlab.attention.masks.Mask` objects, structure kept.

transformers builds each model's mask once per forward pass through ``AttentionMaskInterface``: it
calls the function registered under ``config._attn_implementation`` with a FlexAttention-style
predicate ``mask_function(b, h, q_idx, kv_idx)`` over absolute positions (``q_idx + q_offset``,
``kv_idx + kv_offset``), the 2-D padding mask ``attention_mask`` (B, past + L) and the sizes. Without
an entry there, transformers passes ``attention_mask=None`` to the attention function (a padded batch
then silently attends to its padding); :func:`hf_mask` is that entry for attnlab.

The predicates transformers builds for the usual patterns are recognised by identity with its own
factories and become structured masks whose empty tiles fast backends skip: causal ->
``masks.causal()``, bidirectional -> ``masks.full()``, a causal sliding window of ``w`` keys (the
query and ``w - 1`` before it, Mistral's convention) -> ``masks.sliding_window(w - 1, causal=True)``,
a bidirectional window ``|i - j| <= w`` -> ``masks.sliding_window(w)``. Padding becomes
``masks.padding(lengths)`` when every row is right-padded, else a key mask with per-tile states
(:func:`visible_keys`, left padding). Anything else (packed sequences, image-token overlays, static
caches whose positions are not lower-right aligned) is materialised by transformers' own
``sdpa_mask`` and wrapped as a dense mask: always the mask eager attention would use.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from attnlab.attention import Mask, ScoreMod, masks
from attnlab.attention.masks import EMPTY, FULL, PARTIAL


def visible_keys(keep: Tensor) -> Mask:
    """Key ``j`` of example ``b`` is visible to every query iff ``keep[b, j]`` (``keep`` bool (B, Lk)).

    Tile states come from 1-D prefix sums over the keys: a key block is EMPTY when no example keeps
    any of its keys, FULL when every example keeps all of them.
    """
    if keep.dim() != 2 or keep.dtype != torch.bool:
        raise ValueError(f"keep: expected a bool tensor (B, Lk), got {keep.dtype} {tuple(keep.shape)}")
    n_batch = keep.shape[0]
    zero = torch.zeros(1, dtype=torch.int64, device=keep.device)
    some = torch.cat([zero, keep.any(0).to(torch.int64).cumsum(0)]).cpu()  # (Lk + 1,)
    every = torch.cat([zero, keep.all(0).to(torch.int64).cumsum(0)]).cpu()  # (Lk + 1,)

    def fn(b, h, q, kv, off):
        return keep.to(kv.device)[b.clamp(max=n_batch - 1), kv]  # (B|1, 1, 1, Lk) broadcast over queries

    def blocks(qs, qe, ks, ke, off):
        shape = torch.broadcast_shapes(qs.shape, ks.shape)
        states = torch.full(shape, PARTIAL, dtype=torch.int8)
        states[(some[ke] - some[ks] == 0).expand(shape)] = EMPTY
        states[(every[ke] - every[ks] == ke - ks).expand(shape)] = FULL
        return states

    return Mask(fn, f"visible_keys{tuple(keep.shape)}", blocks=blocks, uses_batch=True, kind="visible_keys")


def _closure(fn: Callable) -> dict:
    """The free variables a closure captured, by name (empty for a plain function)."""
    code, cells = getattr(fn, "__code__", None), getattr(fn, "__closure__", None) or ()
    if code is None:
        return {}
    return dict(zip(code.co_freevars, (c.cell_contents for c in cells)))


def _window_of(fn: Callable, factory: Callable) -> int | None:
    """``w`` when ``fn`` is ``factory(w)`` of transformers (an ``and_masks(overlay(w), base)``)."""
    ref = factory(1)
    if getattr(fn, "__code__", None) is not ref.__code__:
        return None
    parts, ref_parts = _closure(fn).get("mask_functions"), _closure(ref).get("mask_functions")
    if not isinstance(parts, tuple) or not isinstance(ref_parts, tuple) or len(parts) != len(ref_parts):
        return None
    if parts[1:] != ref_parts[1:] or getattr(parts[0], "__code__", None) is not ref_parts[0].__code__:
        return None
    window = _closure(parts[0]).get("sliding_window")
    return window if isinstance(window, int) and window >= 1 else None


def recognise(mask_function: Callable) -> Mask | None:
    """The attnlab mask equal to one of transformers' standard predicates (lower-right aligned
    positions), or None for anything else."""
    from transformers import masking_utils as mu

    if mask_function is mu.causal_mask_function:
        return masks.causal()
    if mask_function is mu.bidirectional_mask_function:
        return masks.full()
    if (w := _window_of(mask_function, mu.sliding_window_causal_mask_function)) is not None:
        return masks.sliding_window(w - 1, causal=True)  # kv > q - w and kv <= q: w keys
    if (w := _window_of(mask_function, mu.sliding_window_bidirectional_mask_function)) is not None:
        return masks.sliding_window(w)  # |q - kv| <= w
    return None


def padding_mask(attention_mask: Tensor | None, kv_length: int, kv_offset: int) -> Mask | None:
    """The key mask of a 2-D padding mask (B, >= kv_offset + kv_length; missing columns are padding,
    as in transformers), or None when no key is hidden."""
    if attention_mask is None:
        return None
    keep = attention_mask.to(torch.bool)
    if keep.shape[-1] < kv_offset + kv_length:  # a static cache's unwritten slots
        keep = torch.nn.functional.pad(keep, (0, kv_offset + kv_length - keep.shape[-1]))
    keep = keep[:, kv_offset : kv_offset + kv_length]  # (B, Lk)
    if bool(keep.all()):
        return None
    lengths = keep.sum(-1)  # (B,)
    if torch.equal(keep, torch.arange(kv_length, device=keep.device) < lengths[:, None]):
        return masks.padding(lengths.cpu())  # right padding: a key prefix per example
    return visible_keys(keep)


def hf_mask(
    batch_size: int,
    q_length: int,
    kv_length: int,
    q_offset: int | Tensor = 0,
    kv_offset: int = 0,
    mask_function: Callable | None = None,
    attention_mask: Tensor | None = None,
    use_vmap: bool = False,
    device: torch.device | str = "cpu",
    **kwargs,
) -> Mask:
    """transformers' mask interface for attnlab: the arguments of ``masking_utils.sdpa_mask``, an
    attnlab :class:`Mask` back (what the attention function receives as ``attention_mask``)."""
    from transformers import masking_utils as mu

    mask_function = mask_function or mu.causal_mask_function
    q_offset = int(q_offset)  # static caches pass a tensor
    aligned = q_offset - kv_offset == kv_length - q_length  # our lower-right convention holds
    pattern = recognise(mask_function) if aligned else None
    if pattern is None:  # let transformers evaluate its own predicate: the mask eager would use
        dense = mu.sdpa_mask(
            batch_size=batch_size,
            q_length=q_length,
            kv_length=kv_length,
            q_offset=q_offset,
            kv_offset=kv_offset,
            mask_function=mask_function,
            attention_mask=attention_mask,
            allow_is_causal_skip=False,
            allow_is_bidirectional_skip=False,
            use_vmap=use_vmap,
            device=device,
        )  # (B, 1, Lq, Lk) bool
        return Mask.from_tensor(dense)
    keys = padding_mask(attention_mask, kv_length, kv_offset)
    return pattern if keys is None else pattern & keys


def from_tensor(mask: Tensor) -> tuple[Mask, ScoreMod | None]:
    """A 4-D mask given as a tensor (a user's, or a model's own): bool (True = attend) as is; a float
    additive mask split into hidden entries (``-inf`` or below half the dtype's minimum, as
    transformers writes them) and a bias for the rest (None when it is all zeros)."""
    if mask.dtype == torch.bool:
        return Mask.from_tensor(mask), None
    if not mask.is_floating_point():
        raise ValueError(f"attention_mask: expected a bool or float tensor, got {mask.dtype}")
    hidden = mask <= torch.finfo(mask.dtype).min / 2  # also -inf
    bias = mask.masked_fill(hidden, 0.0)
    return Mask.from_tensor(~hidden), (dense_bias(bias) if bool(bias.any()) else None)


def dense_bias(bias: Tensor) -> ScoreMod:
    """An additive score mod from a float tensor broadcastable to ``(B, H, Lq, Lk)`` (raw indices)."""
    t = bias.reshape((1,) * (4 - bias.dim()) + tuple(bias.shape))  # (B|1, H|1, Lq|1, Lk|1)
    top = [s - 1 for s in t.shape]

    def fn(score, b, h, q, kv, off):
        return score + t[b.clamp(max=top[0]), h.clamp(max=top[1]), q.clamp(max=top[2]), kv.clamp(max=top[3])]

    batched, per_head = t.shape[0] > 1, t.shape[1] > 1
    return ScoreMod(fn, f"bias{tuple(t.shape)}", additive=True, uses_batch=batched, uses_head=per_head)
