"""The attention function transformers calls for ``attn_implementation="attnlab"`` (and variants).

transformers' attention modules project and position-encode (RoPE, ...) the queries and keys, update
the KV cache, then call ``fn(module, query, key, value, attention_mask, dropout=, scaling=, **kwargs)``
with ``query (B, Hq, Lq, D)``, ``key``/``value (B, Hkv, Lk, D)`` and expect ``(out (B, Lq, Hq, Dv),
weights (B, Hq, Lq, Lk) | None)``. :func:`make_attention` returns such a function computing

    out = softmax(softcap(scale · q kᵀ) masked) v        (Vaswani et al., 2017, eq. 1)

with :func:`attnlab.attention.attend`: grouped-query attention without repeating key/value heads
(``Hq % Hkv == 0``, query head ``h`` reads key head ``h // (Hq / Hkv)``, as transformers' ``repeat_kv``),
the mask built by :func:`.masks.hf_mask` (causal, padding left or right, sliding windows, KV-cache
decoding aligned lower-right), dropout in training, Gemma-2's logit soft-capping
(``c · tanh(s / c)``) when the model passes ``softcap``, and the weights, from any backend, when
``output_attentions`` is requested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from attnlab.attention import Backend, Mask, ScoreMod, attend, masks, mods

from .masks import from_tensor

# Keyword arguments of some models that attend cannot honour (transformers' sdpa refuses them too).
UNSUPPORTED = {
    "position_bias": "T5-style position bias tensors",
    "s_aux": "attention sinks (learned per-head logits)",
}


@dataclass(frozen=True)
class Variant:
    """One registered name: the backend ``attend`` uses and what is added to every model's own mask
    and scores (``mask`` is ANDed, in the indices of the keys the layer sees, aligned lower-right)."""

    name: str
    backend: str | Backend = "auto"
    mask: Mask | None = None
    score_mod: ScoreMod | None = None


def _wants_weights(module: nn.Module, kwargs: dict) -> bool:
    """Whether this call must return its weights: ``output_attentions`` when the model passes it down,
    else whether transformers' output recorder is collecting attention maps for this forward pass
    (some models, GPT-2 among them, pop the flag before it reaches the attention function)."""
    if "output_attentions" in kwargs:
        return bool(kwargs["output_attentions"])
    try:
        from transformers.utils.output_capturing import _active_collector
    except ImportError:  # another 5.x layout: fall back to the config's default
        return bool(getattr(getattr(module, "config", None), "output_attentions", False))
    collecting = _active_collector.get() or {}
    return any(key.endswith("attentions") for key in collecting)


def _model_mask(attention_mask, module: nn.Module, is_causal: bool | None, q_len: int):
    """``(mask, bias)`` from what the model passed: our own :class:`Mask` (the usual case), a 4-D
    tensor (a user's, or a model's own), or None (a model that builds no mask: then the module's
    ``is_causal``, as transformers' sdpa does)."""
    if isinstance(attention_mask, Mask):
        return attention_mask, None
    if isinstance(attention_mask, Tensor):
        if attention_mask.dim() != 4:
            shape = tuple(attention_mask.shape)
            raise ValueError(f"attention_mask: expected a 4-D mask (B, 1|H, Lq, Lk), got shape {shape}")
        return from_tensor(attention_mask)
    if attention_mask is not None:
        raise ValueError(
            "attention_mask: expected an attnlab Mask, a 4-D tensor or None, got "
            f"{type(attention_mask).__name__} (was the model loaded with this attn_implementation?)"
        )
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    return (masks.causal() if causal and q_len > 1 else None), None


def _combine_mods(*parts: ScoreMod | None) -> ScoreMod | None:
    present = [m for m in parts if m is not None]
    return None if not present else present[0] if len(present) == 1 else mods.compose(*present)


def make_attention(variant: Variant) -> Callable:
    """transformers' attention-function protocol, computed by ``attend`` as ``variant`` says."""

    def attnlab_attention(
        module: nn.Module,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        attention_mask,
        dropout: float = 0.0,
        scaling: float | None = None,
        is_causal: bool | None = None,
        **kwargs,
    ) -> tuple[Tensor, Tensor | None]:
        for name, what in UNSUPPORTED.items():
            if kwargs.get(name) is not None:
                raise ValueError(f"attn_implementation={variant.name!r}: {name} ({what}) is not supported")
        mask, bias = _model_mask(attention_mask, module, is_causal, query.shape[2])
        if variant.mask is not None:
            mask = variant.mask if mask is None else mask & variant.mask
        softcap = kwargs.get("softcap")
        score_mod = _combine_mods(bias, mods.softcap(softcap) if softcap else None, variant.score_mod)
        want = _wants_weights(module, kwargs)
        result = attend(
            query,  # (B, Hq, Lq, D)
            key,  # (B, Hkv, Lk, D): GQA through Hq % Hkv, never repeated here
            value,  # (B, Hkv, Lk, Dv)
            mask=mask,
            score_mod=score_mod,
            scale=scaling,
            dropout_p=float(dropout) if module.training else 0.0,
            backend=variant.backend,
            return_weights=want,
        )
        out, weights = result if want else (result, None)
        return out.transpose(1, 2).contiguous(), weights  # (B, Lq, Hq, Dv), (B, Hq, Lq, Lk) | None

    attnlab_attention.__name__ = f"attnlab_attention_{variant.name.replace('-', '_')}"
    return attnlab_attention
