"""Model registry: a name (the config's ``kind``) -> builder, so a CLI can say ``--model transformer-lm``.

Above the model modules and below saving/loading (:mod:`attnlab.models.config`): it imports every
model and its config, and nothing imports it but ``config`` and the package.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .classifier import TransformerClassifier
from .han import HierarchicalAttentionNetwork
from .kinds import CONFIG_CLASSES, ModelConfig, config_from_dict
from .lm import TransformerLM
from .rnn_seq2seq import RNNSeq2Seq
from .transformer import TransformerEncoder, TransformerSeq2Seq
from .vit import VisionTransformer

BUILDERS: dict[str, Callable[[ModelConfig], nn.Module]] = {
    "transformer-encoder": TransformerEncoder,
    "transformer-seq2seq": TransformerSeq2Seq,
    "transformer-lm": TransformerLM,
    "transformer-classifier": TransformerClassifier,
    "vit": VisionTransformer,
    "rnn-seq2seq": RNNSeq2Seq,
    "han": HierarchicalAttentionNetwork,
}

MODEL_DESCRIPTIONS = {
    "transformer-encoder": "bidirectional Transformer encoder (hidden states)",
    "transformer-seq2seq": "Transformer encoder-decoder (translation, summarisation)",
    "transformer-lm": "decoder-only LM with KV-cache generation",
    "transformer-classifier": "encoder classifier ([CLS], mean or attention pooling)",
    "vit": "Vision Transformer (patch embedding, [CLS])",
    "rnn-seq2seq": "GRU/LSTM encoder-decoder: none, Bahdanau, Luong global or local-p attention",
    "han": "hierarchical attention network (word + sentence attention) or its flat baseline",
}


def list_models() -> dict[str, str]:
    """Model names and one-line descriptions."""
    return dict(MODEL_DESCRIPTIONS)


def build_model(config: ModelConfig | dict) -> nn.Module:
    """Build the model of ``config.kind`` (a config dataclass or its dict)."""
    if isinstance(config, dict):
        config = config_from_dict(config)
    kind = getattr(config, "kind", None)
    if kind not in BUILDERS:
        raise ValueError(f"config.kind: unknown model {kind!r}; expected one of {sorted(BUILDERS)}")
    return BUILDERS[kind](config)


def create_model(name: str, **overrides) -> nn.Module:
    """Build model ``name`` from its default config with ``overrides`` (e.g. ``d_model=32``).

    The overrides are config fields; a Transformer's attention options also work flat, as in config
    files written before :class:`attnlab.layers.AttentionConfig` (``backend="sdpa"``, ``num_kv_heads=2``).
    """
    if name not in CONFIG_CLASSES:
        raise ValueError(f"name: unknown model {name!r}; expected one of {sorted(CONFIG_CLASSES)}")
    return build_model(config_from_dict({"kind": name, **overrides}))
