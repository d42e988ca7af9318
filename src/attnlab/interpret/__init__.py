"""Seeing attention: heatmaps with Chinese and English tokens."""

from .fonts import cjk_font_path, has_glyphs
from .heatmap import plot_attention

__all__ = ["cjk_font_path", "has_glyphs", "plot_attention"]
