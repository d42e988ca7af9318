"""Heatmaps render Chinese glyphs (not boxes) and reject mismatched labels."""

import pytest
import torch

from attnlab.interpret import cjk_font_path, has_glyphs, plot_attention


def test_a_cjk_font_is_found_and_has_the_glyphs():
    path = cjk_font_path()
    assert path is not None, "no CJK font: install mplfonts"
    assert has_glyphs(path, "我昨天去了一家咖啡店回家")


def test_has_glyphs_detects_missing_glyphs():
    from matplotlib import font_manager

    latin_only = font_manager.findfont("DejaVu Sans")
    assert has_glyphs(latin_only, "coffee")
    assert not has_glyphs(latin_only, "咖啡")


def test_plot_attention_writes_a_png(tmp_path):
    tokens = list("咖啡店回家")
    path = plot_attention(
        torch.softmax(torch.randn(5, 5), -1), tokens, tokens, tmp_path / "a.png", title="测试"
    )
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="weights: expected shape"):
        plot_attention(torch.ones(4, 5), tokens, tokens, tmp_path / "b.png")
