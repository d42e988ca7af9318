"""Multi-head attention (Vaswani et al., 2017, sec. 3.2.2) on top of the engine.

    head_h = Attention(x W^Q_h, m W^K_h, m W^V_h),   MHA(x, m) = Concat(head_1..head_H) W^O

with grouped-query attention (Ainslie et al., 2023; ``num_kv_heads < num_heads``, MQA when it is 1),
any engine mask / score mod / backend, the position schemes that act inside attention (RoPE, ALiBi,
T5 bias, Shaw relative positions) and a KV cache for incremental decoding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..attention import attend, mods, positions
from ..attention.backends import Backend
from ..attention.masks import Mask
from ..attention.mods import ScoreMod, as_score_mod
from ..attention.request import expand_kv
from .attention_config import AttentionConfig, combine_masks
from .kv_cache import KVCache
from .relative import ShawRelativePositions


class MultiHeadAttention(nn.Module):
    """Self or cross multi-head attention through :func:`attnlab.attention.attend`.

    Args:
        d_model: model width (queries' feature size and the output size).
        num_heads: query heads; ``d_model`` must be divisible by it (head_dim = d_model / num_heads).
        attention: the layer's options (:class:`AttentionConfig`: position scheme, causal, backend,
            extra mask, dropout, ``num_kv_heads``, relative-position parameters); default
            ``AttentionConfig()``. ``num_kv_heads`` must divide ``num_heads``; ``position="rope"``
            needs an even head_dim.
        kdim, vdim: feature sizes of keys and values in cross attention (default ``d_model``).
        bias: biases in the projections.
        **options: :class:`AttentionConfig` fields as keywords (``num_kv_heads=2, position="rope",
            causal=True, backend="sdpa"``...), replacing those of ``attention``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        attention: AttentionConfig | None = None,
        *,
        kdim: int | None = None,
        vdim: int | None = None,
        bias: bool = True,
        **options: Any,
    ) -> None:
        super().__init__()
        if attention is not None and not isinstance(attention, AttentionConfig):
            raise TypeError(
                f"attention: expected an AttentionConfig, got {type(attention).__name__} "
                "(give num_kv_heads and the other options as keywords)"
            )
        config = dataclasses.replace(attention or AttentionConfig(), **options)
        num_kv_heads = num_heads if config.num_kv_heads is None else config.num_kv_heads
        if not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError(f"num_heads: expected an int >= 1, got {num_heads!r}")
        if d_model % num_heads:
            raise ValueError(f"d_model: {d_model} is not divisible by num_heads={num_heads}")
        if num_heads % num_kv_heads:
            raise ValueError(f"num_kv_heads: {num_kv_heads} must divide num_heads={num_heads}")
        if isinstance(config.backend, list):
            raise ValueError(
                "backend: one layer takes one backend; lists (one per layer) are for model configs"
            )
        self.config = config
        self.d_model, self.num_heads, self.num_kv_heads = d_model, num_heads, num_kv_heads
        self.head_dim = d_model // num_heads
        if config.position == "rope" and self.head_dim % 2:
            raise ValueError(
                f"position='rope' needs an even head_dim, got d_model/num_heads = {self.head_dim}"
            )
        self.extra_mask = config.layer_mask()
        kv_width = num_kv_heads * self.head_dim
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(kdim or d_model, kv_width, bias=bias)
        self.v_proj = nn.Linear(vdim or d_model, kv_width, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        causal, position = config.causal, config.position
        self.t5 = (
            mods.T5RelativeBias(num_heads, config.t5_num_buckets, config.t5_max_distance, not causal)
            if position == "t5"
            else None
        )
        self.shaw = (
            ShawRelativePositions(self.head_dim, config.max_relative_position) if position == "shaw" else None
        )
        self._alibi = mods.alibi(num_heads, symmetric=not causal) if position == "alibi" else None
        # Intervention hook (attnlab.interpret.faithfulness): ``fn(weights (B, H, Lq, Lk), visible bool
        # broadcastable to it) -> new weights``; the output is then ``new_weights @ V``.
        self.weights_override: Callable[[Tensor, Tensor], Tensor] | None = None

    # The config's fields, read where the layer used to keep them as attributes.
    position = property(lambda self: self.config.position)
    causal = property(lambda self: self.config.causal)
    dropout = property(lambda self: self.config.dropout)
    rope_base = property(lambda self: self.config.rope_base)

    @property
    def backend(self) -> str | Backend:
        return self.config.backend

    @backend.setter
    def backend(self, value: str | Backend) -> None:
        self.config = dataclasses.replace(self.config, backend=value)

    def position_mod(self) -> ScoreMod | None:
        """The score mod of this layer's position scheme (ALiBi or T5), if any."""
        if self._alibi is not None:
            return self._alibi
        return mods.t5_bias(self.t5) if self.t5 is not None else None

    def _split(self, x: Tensor, heads: int) -> Tensor:
        b, l, _ = x.shape
        return x.view(b, l, heads, self.head_dim).transpose(1, 2)  # (B, H, L, D)

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        mask: Mask | Tensor | None = None,
        score_mod=None,
        cache: KVCache | None = None,
        need_weights: bool = False,
        average_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query (B, Lq, d_model)`` to ``key``/``value (B, Lk, kdim/vdim)``.

        ``key=None`` means self-attention (``value`` defaults to ``key``). With a ``cache``,
        self-attention appends the new keys/values and attends over everything cached (RoPE uses the
        cached length as offset); cross-attention projects the memory once and reuses it.
        ``mask`` is an engine :class:`Mask` or a bool tensor (True = may attend) over ``(Lq, Lk_total)``.

        Returns ``(out (B, Lq, d_model), weights)``; weights are ``(B, H, Lq, Lk)`` (or averaged over
        heads ``(B, Lq, Lk)`` with ``average_weights``) when ``need_weights``, else None.
        """
        if query.dim() != 3 or query.shape[-1] != self.d_model:
            raise ValueError(f"query: expected (B, Lq, {self.d_model}), got {tuple(query.shape)}")
        if self.extra_mask is not None:
            mask = combine_masks(mask, self.extra_mask)
        self_attention = key is None
        key = query if key is None else key
        value = key if value is None else value
        q = self._split(self.q_proj(query), self.num_heads)  # (B, H, Lq, D)
        offset = cache.length if (cache is not None and self_attention) else 0
        if cache is not None and not self_attention and cache.length:
            k, v = cache.k, cache.v  # memory already projected at the first step
        else:
            k = self._split(self.k_proj(key), self.num_kv_heads)  # (B, Hkv, Lk, D)
            v = self._split(self.v_proj(value), self.num_kv_heads)  # (B, Hkv, Lk, D)
            if self.position == "rope":
                q = positions.rope(q, offset=offset, base=self.rope_base)
                k = positions.rope(k, offset=offset, base=self.rope_base)
            if cache is not None and self_attention:
                k, v = cache.append(k, v)
            elif cache is not None:
                cache.k, cache.v = k, v
        mod = self.position_mod()
        user_mod = as_score_mod(score_mod)
        if user_mod is not None:
            mod = user_mod if mod is None else mods.compose(mod, user_mod)
        dropout_p = self.dropout if self.training else 0.0
        if self.weights_override is not None:
            out, weights = self._override(q, k, v, mask, mod)
        elif self.shaw is not None:
            m = Mask.from_tensor(mask) if isinstance(mask, Tensor) else mask
            out, weights = self.shaw(q, k, v, mask=m, score_mod=mod, dropout_p=dropout_p)
        else:
            res = attend(
                q, k, v, mask=mask, score_mod=mod, dropout_p=dropout_p, backend=self.backend,
                return_weights=need_weights,
            )  # fmt: skip
            out, weights = res if need_weights else (res, None)
        b, _, lq, _ = out.shape
        out = self.out_proj(out.transpose(1, 2).reshape(b, lq, self.d_model))  # (B, Lq, d_model)
        if not need_weights:
            return out, None
        return out, (weights.mean(dim=1) if average_weights else weights)

    def _override(self, q: Tensor, k: Tensor, v: Tensor, mask, mod) -> tuple[Tensor, Tensor]:
        """Attention with its weights replaced by ``self.weights_override`` (eval-time interventions)."""
        if self.shaw is not None:
            raise ValueError("weights_override: not supported with position='shaw' (weights enter twice)")
        _, weights = attend(q, k, v, mask=mask, score_mod=mod, backend=self.backend, return_weights=True)
        b, h, lq, lk = weights.shape
        m = Mask.from_tensor(mask) if isinstance(mask, Tensor) else mask
        visible = torch.ones(1, 1, lq, lk, dtype=torch.bool, device=q.device)
        if m is not None:
            visible = m.materialize(b, h, lq, lk, device=q.device)  # (B|1, H|1, Lq, Lk)
        weights = self.weights_override(weights, visible)
        v = expand_kv(v, self.num_heads // self.num_kv_heads)  # (B, H, Lk, Dv)
        return weights.to(v.dtype) @ v, weights  # (B, H, Lq, Dv)

    @classmethod
    def from_torch(cls, m: nn.MultiheadAttention, backend: str | Backend = "auto") -> MultiHeadAttention:
        """Build a layer computing the same function as ``torch.nn.MultiheadAttention(batch_first=True)``.

        Projection weights and biases are copied (``in_proj_weight`` or the separate
        ``q/k/v_proj_weight`` when ``kdim``/``vdim`` differ from ``embed_dim``). Convert torch's masks
        with :func:`masks_from_torch`. ``add_bias_kv`` and ``add_zero_attn`` are not supported.
        """
        if not isinstance(m, nn.MultiheadAttention):
            raise ValueError(f"m: expected a torch.nn.MultiheadAttention, got {type(m).__name__}")
        if not m.batch_first:
            raise ValueError("m: expected batch_first=True (attnlab layers take (B, L, d_model))")
        if m.bias_k is not None or m.add_zero_attn:
            raise ValueError("m: add_bias_kv and add_zero_attn have no equivalent in MultiHeadAttention")
        has_bias = m.in_proj_bias is not None
        layer = cls(
            m.embed_dim,
            m.num_heads,
            AttentionConfig(dropout=m.dropout, backend=backend),
            kdim=m.kdim,
            vdim=m.vdim,
            bias=has_bias,
        )
        e = m.embed_dim
        with torch.no_grad():
            if m.in_proj_weight is not None:
                wq, wk, wv = m.in_proj_weight.split(e, dim=0)  # each (E, E)
            else:
                wq, wk, wv = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
            layer.q_proj.weight.copy_(wq)
            layer.k_proj.weight.copy_(wk)
            layer.v_proj.weight.copy_(wv)
            layer.out_proj.weight.copy_(m.out_proj.weight)
            if has_bias:
                bq, bk, bv = m.in_proj_bias.split(e)
                layer.q_proj.bias.copy_(bq)
                layer.k_proj.bias.copy_(bk)
                layer.v_proj.bias.copy_(bv)
                layer.out_proj.bias.copy_(m.out_proj.bias)
        return layer.to(m.out_proj.weight.dtype)


def masks_from_torch(
    attn_mask: Tensor | None = None,
    key_padding_mask: Tensor | None = None,
    num_heads: int = 1,
) -> tuple[Tensor | None, ScoreMod | None]:
    """Translate ``torch.nn.MultiheadAttention`` masks to the engine's ``(mask, score_mod)``.

    torch's bool masks mark positions that may NOT be attended (True = hidden); the engine's mark
    those that may (True = visible), so bool masks are negated. Float masks are additive and become
    an additive score mod. ``attn_mask`` is ``(Lq, Lk)`` or ``(B * num_heads, Lq, Lk)``;
    ``key_padding_mask`` is ``(B, Lk)``.
    """
    visible, bias = None, None

    def as4d(t: Tensor, name: str) -> Tensor:
        if name == "key_padding_mask":
            if t.dim() != 2:
                raise ValueError(f"key_padding_mask: expected (B, Lk), got {tuple(t.shape)}")
            return t[:, None, None, :]  # (B, 1, 1, Lk)
        if t.dim() == 2:
            return t[None, None]  # (1, 1, Lq, Lk)
        if t.dim() == 3 and t.shape[0] % num_heads == 0:
            return t.view(t.shape[0] // num_heads, num_heads, *t.shape[1:])  # (B, H, Lq, Lk)
        raise ValueError(f"attn_mask: expected (Lq, Lk) or (B * num_heads, Lq, Lk), got {tuple(t.shape)}")

    for name, t in (("attn_mask", attn_mask), ("key_padding_mask", key_padding_mask)):
        if t is None:
            continue
        t4 = as4d(t, name)
        if t4.dtype == torch.bool:
            visible = ~t4 if visible is None else visible & ~t4
        elif t4.is_floating_point():
            bias = t4 if bias is None else bias + t4
        else:
            raise ValueError(f"{name}: expected a bool or float tensor, got {t.dtype}")
    mod = None
    if bias is not None:
        table = bias

        def add_bias(s, b, h, q, kv):
            lim = [n - 1 for n in table.shape]
            idx = (b.clamp(max=lim[0]), h.clamp(max=lim[1]), q.clamp(max=lim[2]), kv.clamp(max=lim[3]))
            return s + table[idx].to(s.dtype)

        mod = mods.from_fn(add_bias, "torch float mask", additive=True)
    return visible, mod
