"""The config of the Transformer family (Vaswani et al., 2017): encoder, encoder-decoder, decoder-only
LM, classifier and ViT, one dataclass whose ``kind`` selects the model."""

from __future__ import annotations

from dataclasses import dataclass

from .kinds import register_config

POSITIONS = ("sinusoidal", "learned", "rope", "alibi", "t5", "shaw", "none")
ABSOLUTE = ("sinusoidal", "learned")  # added to the embeddings; the others act inside attention
TRANSFORMER_KINDS = (
    "transformer-encoder",
    "transformer-seq2seq",
    "transformer-lm",
    "transformer-classifier",
    "vit",
)


@register_config(*TRANSFORMER_KINDS)
@dataclass
class TransformerConfig:
    """One config for the Transformer family (Vaswani et al., 2017); ``kind`` selects the model.

    ``kind``: ``"transformer-encoder"``, ``"transformer-seq2seq"`` (encoder-decoder),
    ``"transformer-lm"`` (decoder-only), ``"transformer-classifier"`` or ``"vit"``.
    ``position``: one of :data:`POSITIONS` (sinusoidal/learned are added to the embeddings; rope,
    alibi, t5 and shaw act inside every self-attention layer). ``attention_mask`` is an extra engine
    mask for the self-attention layers, as ``{"name": "sliding_window", "window": 4}`` (a factory of
    ``attnlab.attention.masks.ALL_MASKS`` and its arguments), or a list with one entry (or None) per
    layer; ``backend`` is a backend name or a list with one per layer.
    """

    kind: str = "transformer-lm"
    vocab_size: int = 32
    tgt_vocab_size: int | None = None  # enc-dec: target vocabulary (default vocab_size)
    d_model: int = 64
    num_heads: int = 4
    num_kv_heads: int | None = None
    num_layers: int = 2
    num_decoder_layers: int | None = None  # enc-dec: default num_layers
    d_ff: int | None = None
    activation: str = "gelu"
    dropout: float = 0.0
    norm_first: bool = True
    max_len: int = 256
    position: str = "sinusoidal"
    max_relative_position: int = 16
    t5_num_buckets: int = 32
    t5_max_distance: int = 128
    attention_mask: dict | list | None = None
    backend: str | list = "auto"
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
