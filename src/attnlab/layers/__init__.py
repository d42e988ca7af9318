"""Attention layers built on the engine: multi-head attention (GQA, RoPE/ALiBi/T5/Shaw positions, KV
cache), the alignment functions of RNN attention, feed-forward networks and residual blocks."""

from .adaptive_span import AdaptiveSpan, AdaptiveSpanAttention
from .alignment import (
    SCORES,
    AdditiveScore,
    ConcatScore,
    CosineScore,
    DotScore,
    GeneralScore,
    LocationScore,
    ScaledDotScore,
    align,
    make_score,
)
from .attention_config import ATTENTION_POSITIONS, AttentionConfig
from .blocks import Residual, TransformerBlock
from .cross_modal import CoAttentionLayer, CrossModalAttention, ParallelCoAttention
from .feedforward import FeedForward
from .hard_attention import (
    HARD_NORMALIZERS,
    HardAttention,
    HardAttentionOutput,
    MovingAverageBaseline,
    reinforce_loss,
)
from .kv_cache import KVCache, LayerCache, new_caches, reorder_caches
from .memory_attention import MemoryAttention, memory_read
from .multihead import MultiHeadAttention, masks_from_torch
from .relative import ShawRelativePositions

__all__ = [
    "AdaptiveSpan",
    "AdaptiveSpanAttention",
    "CoAttentionLayer",
    "CrossModalAttention",
    "MemoryAttention",
    "ParallelCoAttention",
    "memory_read",
    "ATTENTION_POSITIONS",
    "HARD_NORMALIZERS",
    "SCORES",
    "AdditiveScore",
    "AttentionConfig",
    "ConcatScore",
    "CosineScore",
    "DotScore",
    "FeedForward",
    "GeneralScore",
    "HardAttention",
    "HardAttentionOutput",
    "KVCache",
    "LayerCache",
    "LocationScore",
    "MovingAverageBaseline",
    "MultiHeadAttention",
    "Residual",
    "ScaledDotScore",
    "ShawRelativePositions",
    "TransformerBlock",
    "align",
    "make_score",
    "masks_from_torch",
    "new_caches",
    "reinforce_loss",
    "reorder_caches",
]
