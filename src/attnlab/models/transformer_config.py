"""The config of the Transformer family (Vaswani et al., 2017): encoder, encoder-decoder, decoder-only
LM, classifier and ViT, one dataclass whose ``kind`` selects the model.

Its self-attention options are one :class:`attnlab.layers.AttentionConfig` (``attention``). Config
files written before that field existed keep those options flat (``num_kv_heads``, ``backend``,
``attention_mask``, ``max_relative_position``, ``t5_num_buckets``, ``t5_max_distance``);
:meth:`TransformerConfig.from_dict` reads both layouts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..layers.attention_config import AttentionConfig
from .kinds import config_from_fields, register_config

POSITIONS = ("sinusoidal", "learned", "rope", "alibi", "t5", "shaw", "none")
ABSOLUTE = ("sinusoidal", "learned")  # added to the embeddings; the others act inside attention
TRANSFORMER_KINDS = (
    "transformer-encoder",
    "transformer-seq2seq",
    "transformer-lm",
    "transformer-classifier",
    "vit",
)
# AttentionConfig fields that were TransformerConfig fields before `attention` grouped them.
FLAT_ATTENTION_FIELDS = (
    "num_kv_heads",
    "max_relative_position",
    "t5_num_buckets",
    "t5_max_distance",
    "attention_mask",
    "backend",
)
# AttentionConfig fields a Transformer sets for each layer: from `position`, `dropout` and the stack.
SET_BY_MODEL = {"position": "position", "dropout": "dropout", "causal": "kind"}


@register_config(*TRANSFORMER_KINDS)
@dataclass
class TransformerConfig:
    """One config for the Transformer family; ``kind`` selects the model.

    ``kind``: ``"transformer-encoder"``, ``"transformer-seq2seq"`` (encoder-decoder),
    ``"transformer-lm"`` (decoder-only), ``"transformer-classifier"`` or ``"vit"``.
    ``position``: one of :data:`POSITIONS` (sinusoidal/learned are added to the embeddings; rope,
    alibi, t5 and shaw act inside every self-attention layer). ``attention``: the self-attention
    layers' :class:`AttentionConfig` (``num_kv_heads``, ``backend``, ``attention_mask``,
    ``max_relative_position``, ``t5_num_buckets``, ``t5_max_distance``, ``rope_base``); its
    ``backend`` may be a list with one per layer and its ``attention_mask`` (an extra engine mask as
    ``{"name": "sliding_window", "window": 4}``) a list with one entry (or None) per layer. Its
    ``position``, ``dropout`` and ``causal`` are set for each layer from ``position``, ``dropout`` and
    the kind, so they stay at their defaults here. A dict of its fields is accepted too.
    """

    kind: str = "transformer-lm"
    vocab_size: int = 32
    tgt_vocab_size: int | None = None  # enc-dec: target vocabulary (default vocab_size)
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    num_decoder_layers: int | None = None  # enc-dec: default num_layers
    d_ff: int | None = None
    activation: str = "gelu"
    dropout: float = 0.0
    norm_first: bool = True
    max_len: int = 256
    position: str = "sinusoidal"
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    tie_embeddings: bool = True
    attention_only: bool = False  # transformer-lm: no feed-forward sublayers (Elhage et al., 2021)
    pad_id: int = 0
    bos_id: int = 2
    eos_id: int = 3
    # classifier / ViT
    num_classes: int = 2
    pooling: str = "cls"  # "cls" | "attention" | "mean"
    image_size: int = 8
    patch_size: int = 2
    channels: int = 1

    def __post_init__(self) -> None:
        if self.kind not in TRANSFORMER_KINDS:
            raise ValueError(
                f"kind: unknown Transformer kind {self.kind!r}; expected one of {TRANSFORMER_KINDS}"
            )
        if self.position not in POSITIONS:
            raise ValueError(f"position: unknown scheme {self.position!r}; expected one of {POSITIONS}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model: {self.d_model} is not divisible by num_heads={self.num_heads}")
        if self.pooling not in ("cls", "attention", "mean"):
            raise ValueError(f"pooling: expected 'cls', 'attention' or 'mean', got {self.pooling!r}")
        if self.attention_only and self.kind != "transformer-lm":
            raise ValueError(f"attention_only: only 'transformer-lm' supports it, not kind {self.kind!r}")
        if self.kind == "vit" and self.image_size % self.patch_size:
            raise ValueError(f"patch_size: {self.patch_size} does not divide image_size={self.image_size}")
        self._check_attention()

    def _check_attention(self) -> None:
        if isinstance(self.attention, dict):
            self.attention = AttentionConfig.from_dict(self.attention)
        if not isinstance(self.attention, AttentionConfig):
            raise ValueError(
                f"attention: expected an AttentionConfig or a dict of its fields, got {self.attention!r}"
            )
        default = AttentionConfig()
        for name, source in SET_BY_MODEL.items():
            if getattr(self.attention, name) != getattr(default, name):
                raise ValueError(
                    f"attention.{name}: a Transformer sets it for each layer from `{source}`; "
                    f"leave it at {getattr(default, name)!r}"
                )

    def layer_attention(self, index: int, num_layers: int, causal: bool) -> AttentionConfig:
        """The self-attention options of layer ``index`` in a stack of ``num_layers``."""
        position = "none" if self.position in ABSOLUTE else self.position
        return self.attention.for_layer(
            index, num_layers, position=position, causal=causal, dropout=self.dropout
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-compatible dict (``attention`` without the fields the model sets)."""
        data = dataclasses.asdict(self)
        for name in SET_BY_MODEL:
            del data["attention"][name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransformerConfig:
        """A config from :meth:`to_dict`'s dict, or from the flat layout of files written before
        ``attention`` (its options then sit beside the other fields)."""
        flat = {k: data[k] for k in FLAT_ATTENTION_FIELDS if k in data}
        if flat:
            if "attention" in data:
                raise ValueError(
                    f"config: {sorted(flat)} are AttentionConfig fields; give them inside 'attention'"
                )
            data = {k: v for k, v in data.items() if k not in flat} | {"attention": flat}
        return config_from_fields(cls, data)
