"""Model configurations (dataclasses with a ``kind``), JSON round trips, and safetensors save/load.

A saved model is a folder with ``config.json`` (the config's fields, ``kind`` first) and
``model.safetensors`` (the weights). Nothing is pickled: loading builds the model from the JSON config
through the registry, then copies tensors in with safetensors, so a model folder from a stranger can
neither run code nor smuggle objects.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from attnlab._io import atomic_write, atomic_write_json

POSITIONS = ("sinusoidal", "learned", "rope", "alibi", "t5", "shaw", "none")
TRANSFORMER_KINDS = (
    "transformer-encoder",
    "transformer-seq2seq",
    "transformer-lm",
    "transformer-classifier",
    "vit",
)
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


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


@dataclass
class RNNSeq2SeqConfig:
    """RNN encoder-decoder. ``attention``: ``"none"`` (Cho et al., 2014: a fixed context vector),
    ``"bahdanau"`` (Bahdanau et al., 2015), ``"luong"`` (global) or ``"local-p"`` (Luong et al., 2015);
    ``score`` is the alignment function of Luong attention (``attnlab.layers.SCORES``); Bahdanau
    attention always uses its additive score."""

    kind: str = "rnn-seq2seq"
    src_vocab_size: int = 32
    tgt_vocab_size: int = 32
    embed_dim: int = 32
    hidden_size: int = 64
    num_layers: int = 1
    cell: str = "gru"  # "gru" | "lstm"
    bidirectional: bool = True
    attention: str = "bahdanau"
    score: str = "general"
    local_window: int = 2  # D of local-p attention (window [p_t - D, p_t + D], sigma = D / 2)
    max_src_len: int = 128  # location score: one weight row per source position
    dropout: float = 0.0
    pad_id: int = 0
    bos_id: int = 2
    eos_id: int = 3

    def __post_init__(self) -> None:
        from ..layers.alignment import SCORES

        if self.kind != "rnn-seq2seq":
            raise ValueError(f"kind: expected 'rnn-seq2seq', got {self.kind!r}")
        if self.cell not in ("gru", "lstm"):
            raise ValueError(f"cell: expected 'gru' or 'lstm', got {self.cell!r}")
        if self.attention not in ("none", "bahdanau", "luong", "local-p"):
            raise ValueError(
                f"attention: expected 'none', 'bahdanau', 'luong' or 'local-p', got {self.attention!r}"
            )
        if self.score not in SCORES:
            raise ValueError(f"score: unknown alignment function {self.score!r}; expected one of {SCORES}")


CONFIG_CLASSES: dict[str, type] = {k: TransformerConfig for k in TRANSFORMER_KINDS}
CONFIG_CLASSES["rnn-seq2seq"] = RNNSeq2SeqConfig
ModelConfig = TransformerConfig | RNNSeq2SeqConfig


def config_to_dict(config: ModelConfig) -> dict:
    """The config's fields as a JSON-compatible dict."""
    return dataclasses.asdict(config)


def config_from_dict(data: dict) -> ModelConfig:
    """Build the config dataclass named by ``data["kind"]``; unknown fields are an error."""
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError("config: expected a JSON object with a 'kind' field")
    cls = CONFIG_CLASSES.get(data["kind"])
    if cls is None:
        raise ValueError(f"config: unknown kind {data['kind']!r}; expected one of {sorted(CONFIG_CLASSES)}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"config: unknown fields {unknown} for kind {data['kind']!r}")
    return cls(**data)


def save_config(config: ModelConfig, path: str | os.PathLike) -> None:
    atomic_write_json(path, config_to_dict(config), indent=2, ensure_ascii=True)


def load_config(path: str | os.PathLike) -> ModelConfig:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config: {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"config: {path} is not valid JSON ({e})") from e
    return config_from_dict(data)


def save_model(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write ``config.json`` and ``model.safetensors`` for a model that has a ``config`` attribute."""
    from safetensors.torch import save_model as st_save

    config = getattr(model, "config", None)
    if config is None or type(config) not in CONFIG_CLASSES.values():
        raise ValueError("model: expected an attnlab model with a dataclass `config` attribute")
    directory = Path(directory)
    # Tied weights (embedding = output projection) are stored once; safetensors' save_model handles it.
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: st_save(model, tmp, metadata={"kind": config.kind}))
    save_config(config, directory / CONFIG_FILE)
    return directory


def load_model(directory: str | os.PathLike, device: str = "cpu") -> nn.Module:
    """Build a model from ``config.json`` and load ``model.safetensors`` (strict: names and shapes)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model as st_load

    from .registry import build_model

    directory = Path(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"load_model: {weights} does not exist")
    model = build_model(load_config(directory / CONFIG_FILE))
    try:
        st_load(model, weights, strict=True, device=device)
    except SafetensorError as e:
        raise ValueError(f"load_model: {weights} is not a valid safetensors file ({e})") from e
    except RuntimeError as e:
        raise ValueError(f"load_model: weights in {weights} do not match config.json: {e}") from e
    return model.to(device).eval()
