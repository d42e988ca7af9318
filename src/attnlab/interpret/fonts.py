"""Find a font that renders Chinese: without one, matplotlib draws 咖啡店 as empty boxes.

Looked up in order: ``$ATTNLAB_CJK_FONT``, the Noto Sans CJK font shipped by the PyPI package
``mplfonts`` (installed by ``make``), then system fonts (Debian ``fonts-noto-cjk``,
``fonts-wqy-microhei``...).
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

PROBE = "咖啡店回家"
INSTALL_HINT = "pip install mplfonts  (or: apt-get install fonts-noto-cjk)"
SYSTEM_NAMES = (
    "Noto Sans CJK",
    "Noto Sans SC",
    "Source Han Sans",
    "WenQuanYi",
    "SimHei",
    "Droid Sans Fallback",
)


def has_glyphs(path: str | os.PathLike, text: str = PROBE) -> bool:
    """True when the font file has a glyph for every character of ``text``."""
    try:
        font = FT2Font(str(path))
    except (OSError, RuntimeError):
        return False
    return all(font.get_char_index(ord(ch)) != 0 for ch in text if not ch.isspace())


def _candidates():
    env = os.environ.get("ATTNLAB_CJK_FONT")
    if env:
        yield Path(env)
    try:
        import mplfonts

        folder = Path(mplfonts.__file__).parent / "fonts"
        yield folder / "NotoSansCJKsc-Regular.otf"
        yield from sorted(folder.glob("*"))
    except ImportError:
        pass
    for entry in font_manager.fontManager.ttflist:
        if any(name in entry.name for name in SYSTEM_NAMES):
            yield Path(entry.fname)


@functools.cache
def cjk_font_path() -> str | None:
    """Path of a font with Chinese glyphs, or None (with a warning saying how to install one)."""
    for path in _candidates():
        if path.is_file() and has_glyphs(path):
            return str(path)
    warnings.warn(
        f"no font with Chinese glyphs found; Chinese tokens will show as boxes. Install one: {INSTALL_HINT}",
        stacklevel=2,
    )
    return None


@functools.cache
def cjk_font_family() -> str | None:
    """Register the CJK font with matplotlib and return its family name."""
    path = cjk_font_path()
    if path is None:
        return None
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()
