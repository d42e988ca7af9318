"""Seeing attention: heatmaps with Chinese and English tokens, rollout and flow."""

from .fonts import cjk_font_path, has_glyphs
from .heatmap import plot_attention
from .inspect import Inspection, inspect_text, list_models
from .rollout import attention_flow, attention_rollout

__all__ = [
    "Inspection",
    "attention_flow",
    "attention_rollout",
    "cjk_font_path",
    "has_glyphs",
    "inspect_text",
    "list_models",
    "plot_attention",
]
