"""Models built on the attention layers: RNN encoder-decoders (none / Bahdanau / Luong / local-p),
Transformer encoder, encoder-decoder, decoder-only LM, classifier and ViT; dataclass configs saved as
JSON with safetensors weights; a registry from names to builders.

Modules import only downward: ``kinds`` (config classes by kind) < configs (``transformer_config``;
the others beside their models) and ``beam`` < the models < ``registry`` (builders) < ``config``
(save/load) < this package.
"""

from ..layers.attention_config import AttentionConfig
from .beam import beam_search
from .bert import BertConfig, BertEncoder, BertOutput, find_minilm, load_bert_encoder
from .classifier import AttentionPooling, TransformerClassifier
from .config import load_config, load_model, save_config, save_model
from .han import HANConfig, HierarchicalAttentionNetwork, pad_documents
from .kinds import config_from_dict, config_to_dict, register_config
from .lm import TransformerLM, filter_logits, sample_next
from .registry import build_model, create_model, list_models
from .rnn_seq2seq import RNNSeq2Seq, RNNSeq2SeqConfig
from .transformer import (
    Embedder,
    TransformerDecoder,
    TransformerEncoder,
    TransformerSeq2Seq,
    TransformerStack,
)
from .transformer_config import POSITIONS, TransformerConfig
from .vit import PatchEmbedding, VisionTransformer

__all__ = [
    "POSITIONS",
    "AttentionConfig",
    "AttentionPooling",
    "HANConfig",
    "HierarchicalAttentionNetwork",
    "BertConfig",
    "BertEncoder",
    "BertOutput",
    "Embedder",
    "PatchEmbedding",
    "RNNSeq2Seq",
    "RNNSeq2SeqConfig",
    "TransformerClassifier",
    "TransformerConfig",
    "TransformerDecoder",
    "TransformerEncoder",
    "TransformerLM",
    "TransformerSeq2Seq",
    "TransformerStack",
    "VisionTransformer",
    "beam_search",
    "build_model",
    "config_from_dict",
    "config_to_dict",
    "create_model",
    "filter_logits",
    "find_minilm",
    "list_models",
    "load_bert_encoder",
    "load_config",
    "load_model",
    "pad_documents",
    "register_config",
    "sample_next",
    "save_config",
    "save_model",
]
