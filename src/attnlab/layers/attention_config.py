"""The options of an attention layer as one typed, JSON-friendly dataclass.

:class:`AttentionConfig` is what :class:`attnlab.layers.MultiHeadAttention` does besides its sizes
(position scheme, backend, extra mask, dropout, key/value heads, relative-position parameters). A
model config holds one for all its self-attention layers, where ``backend`` and ``attention_mask`` may
also be lists with one entry per layer; :meth:`AttentionConfig.for_layer` picks layer ``i``'s options.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from ..attention import masks
from ..attention.backends import Backend
from ..attention.masks import Mask

ATTENTION_POSITIONS = ("none", "rope", "alibi", "t5", "shaw")
PER_LAYER = ("backend", "attention_mask")  # the fields a model config may give per layer


@dataclass
class AttentionConfig:
    """Options of one attention layer (or, in a model config, of all its self-attention layers).

    Attributes:
        position: ``"none"``, ``"rope"`` (Su et al., 2021), ``"alibi"`` (Press et al., 2022), ``"t5"``
            (Raffel et al., 2020) or ``"shaw"`` (Shaw et al., 2018); the schemes that act inside
            attention (absolute positions are added to embeddings by the models).
        causal: the layer is used causally: ALiBi then takes its one-sided form and the T5 bias its
            unidirectional buckets. It adds no mask; pass ``masks.causal()`` to the layer for that.
        backend: the engine backend (``"auto"``, a name, or a :class:`Backend`); with
            ``position="shaw"`` the layer computes attention itself and the backend is unused. A model
            config may give a list with one per layer.
        attention_mask: an extra engine mask the layer always applies (and-ed with the mask given to
            ``forward``), JSON-friendly: ``{"name": "sliding_window", "window": 4}`` names a factory of
            :data:`attnlab.attention.masks.ALL_MASKS` and its arguments. A model config may give a list
            with one entry (or None) per layer.
        dropout: dropout on the attention weights (training only).
        num_kv_heads: key/value heads for grouped-query attention (Ainslie et al., 2023; 1 is MQA);
            None means as many as query heads.
        max_relative_position: Shaw's clipping distance ``k``.
        t5_num_buckets, t5_max_distance: the T5 bias buckets.
        rope_base: RoPE's frequency base.
    """

    position: str = "none"
    causal: bool = False
    backend: str | Backend | list = "auto"
    attention_mask: dict | list | None = None
    dropout: float = 0.0
    num_kv_heads: int | None = None
    max_relative_position: int = 16
    t5_num_buckets: int = 32
    t5_max_distance: int = 128
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        if self.position not in ATTENTION_POSITIONS:
            raise ValueError(
                f"position: unknown scheme {self.position!r}; expected one of {ATTENTION_POSITIONS}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected a float in [0, 1), got {self.dropout!r}")
        if self.num_kv_heads is not None and self.num_kv_heads < 1:
            raise ValueError(f"num_kv_heads: expected an int >= 1 or None, got {self.num_kv_heads!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttentionConfig:
        """An AttentionConfig from its fields (a JSON object); unknown fields are an error."""
        if not isinstance(data, dict):
            raise ValueError(f"attention: expected a JSON object of AttentionConfig fields, got {data!r}")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"attention: unknown fields {unknown} for AttentionConfig")
        return cls(**data)

    def for_layer(self, index: int, num_layers: int, **changes: Any) -> AttentionConfig:
        """Layer ``index``'s options in a stack of ``num_layers``: per-layer lists give their entry
        ``index`` (each list must have ``num_layers`` entries); ``changes`` replace fields."""
        picked = {name: per_layer(getattr(self, name), num_layers, name)[index] for name in PER_LAYER}
        return dataclasses.replace(self, **{**picked, **changes})

    def layer_mask(self) -> Mask | None:
        """The engine mask of ``attention_mask`` (one layer's: a list is a model config's)."""
        if isinstance(self.attention_mask, list):
            raise ValueError(
                "attention_mask: one layer takes one mask spec; lists (one per layer) are for model configs"
            )
        return build_mask(self.attention_mask)


def per_layer(value, num_layers: int, name: str) -> list:
    """``value`` for each of ``num_layers`` layers: a list must have one entry per layer."""
    if isinstance(value, list):
        if len(value) != num_layers:
            raise ValueError(f"{name}: expected one entry per layer ({num_layers}), got {len(value)}")
        return value
    return [value] * num_layers


def build_mask(spec: dict | None) -> Mask | None:
    """An engine mask from ``{"name": factory, **kwargs}`` (JSON-friendly), or None."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("name") not in masks.ALL_MASKS:
        raise ValueError(
            f"attention_mask: expected {{'name': one of {sorted(masks.ALL_MASKS)}, ...arguments}}, "
            f"got {spec!r}"
        )
    args = {k: v for k, v in spec.items() if k != "name"}
    return masks.ALL_MASKS[spec["name"]](**args)


def combine_masks(*parts: Mask | Tensor | None) -> Mask | Tensor | None:
    """``a & b & ...`` of the parts that are not None (a bool tensor alone is returned as it is)."""
    out = None
    for p in parts:
        if p is not None:
            out = p if out is None else (Mask.from_tensor(out) if isinstance(out, Tensor) else out) & p
    return out
