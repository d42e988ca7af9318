"""Seeing attention: heatmaps with Chinese and English tokens, rollout and flow."""

from .fonts import cjk_font_path, has_glyphs
from .heatmap import plot_attention
from .rollout import attention_flow, attention_rollout

__all__ = ["attention_flow", "attention_rollout", "cjk_font_path", "has_glyphs", "plot_attention"]
