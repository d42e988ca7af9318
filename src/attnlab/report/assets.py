"""What a report page carries with it: its figures (copied next to it) and a subset of a CJK font.

Every link on the page is relative to the report folder, so the folder can be moved, zipped or opened
on another machine. The Chinese text is drawn with a subset of the CJK font found by
:func:`attnlab.interpret.fonts.cjk_font_path` (the ``fonts`` extra installs one), embedded as a base64
``@font-face``: the page renders Chinese on a machine without CJK fonts, with no network.
"""

from __future__ import annotations

import base64
import io
import warnings
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from .labels import FONT_FAMILY
from .sources import Folder

FONT_HINT = "pip install 'attnlab[fonts]'"


class Figures:
    """Places figures for the pages of one report folder and returns their relative links."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self._out_resolved = self.out.resolve()

    def place(self, source: Folder, figure: str, dest: str) -> str | None:
        """Link to ``source/figure`` from the report folder, or None when the figure is missing.

        A figure already inside the report folder is linked where it is; any other is copied to
        ``OUT/dest/figure`` (the same bytes, so a rebuilt report overwrites it).
        """
        rel = PurePosixPath(figure)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            return None
        src = source.joinpath(*rel.parts)
        if not src.is_file():
            return None
        if isinstance(src, Path):
            resolved = src.resolve()
            if resolved.is_relative_to(self._out_resolved):
                return _url(resolved.relative_to(self._out_resolved).as_posix())
        target = self.out.joinpath(*PurePosixPath(dest).parts, *rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = src.read_bytes()
        if not (target.is_file() and target.read_bytes() == data):
            target.write_bytes(data)
        return _url(target.relative_to(self.out).as_posix())


def _url(posix_path: str) -> str:
    return quote(posix_path, safe="/")


class _Text(HTMLParser):
    """The text a reader sees: character data outside <style> and <script>."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def page_characters(page: str) -> str:
    """The characters beyond ASCII that the page shows (ASCII is in every font), sorted, each once."""
    parser = _Text()
    parser.feed(page)
    parser.close()
    return "".join(sorted({ch for ch in "".join(parser.parts) if ord(ch) > 0x7F and not ch.isspace()}))


def find_cjk_font() -> str | None:
    """Path of a font with Chinese glyphs, or None (quietly: the report says so in one line)."""
    from attnlab.interpret.fonts import cjk_font_path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cjk_font_path()


def subset_font(path: str, characters: str) -> bytes:
    """A WOFF font holding only the glyphs of ``characters`` (those the font has)."""
    from fontTools import subset

    options = subset.Options()
    options.flavor = "woff"
    options.hinting = False
    options.notdef_outline = True
    if Path(path).suffix.lower() in (".ttc", ".otc"):
        options.font_number = 0
    font = subset.load_font(path, options, dontLoadGlyphNames=True)
    font.recalcTimestamp = False  # the same page text gives the same bytes
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(ch) for ch in characters])
    subsetter.subset(font)
    buffer = io.BytesIO()
    subset.save_font(font, buffer, options)
    font.close()
    return buffer.getvalue()


# Chinese characters and punctuation (CJK blocks, fullwidth forms, the em dash and ellipsis of
# "——" and "……"): the embedded font serves only these, so Latin text keeps the system font.
CJK_RANGE = (
    "U+2014,U+2026,U+2E80-2FDF,U+3000-303F,U+3400-4DBF,U+4E00-9FFF,U+F900-FAFF,U+FE30-FE4F,U+FF00-FFEF"
)


def font_face(path: str, characters: str) -> str:
    """An ``@font-face`` rule embedding the subset of ``path`` for ``characters`` as a data URI, for the
    Chinese ranges only (``unicode-range``). The page's font stack names it first: a system font listed
    before it may claim Chinese glyphs it draws as boxes (Chromium on Linux without CJK fonts did, for
    bold text, with ``system-ui`` first)."""
    data = base64.b64encode(subset_font(path, characters)).decode("ascii")
    return (
        f'@font-face{{font-family:"{FONT_FAMILY}";font-style:normal;font-weight:400;font-display:swap;'
        f'unicode-range:{CJK_RANGE};src:url(data:font/woff;base64,{data}) format("woff")}}'
    )
