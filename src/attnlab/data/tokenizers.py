"""Character and word tokenizers for Chinese and English, with special tokens and JSON save/load.

Both share one vocabulary scheme: the special tokens come first (``<pad>`` = 0, ``<unk>`` = 1,
``<bos>`` = 2, ``<eos>`` = 3, then any extra ones), then the learned tokens by decreasing frequency
(ties broken by the token text, so fitting is deterministic). Special tokens written literally in the
text (e.g. ``"a<sep>b"``) encode to their ids.

* :class:`CharTokenizer`: one token per Unicode character (spaces included): ``decode(encode(t)) == t``
  for any text whose characters are in the vocabulary.
* :class:`WordTokenizer`: Latin-script words (with inner ``'``/``-``, e.g. "don't", "well-known"), numbers
  (with inner ``.``/``,``/``:``, e.g. "3.14"), single
  CJK characters (Chinese has no spaces; a word segmenter is out of scope) and single punctuation marks.
  Decoding puts spaces back by rule (none before closing punctuation, after opening punctuation or between
  CJK characters), so it reproduces normally spaced text exactly and always re-tokenizes to the same tokens.

``tokenize_with_offsets`` gives each token's ``[start, end)`` character span, which maps the character
evidence spans of the tasks to token positions (see :func:`attnlab.data.batching.span_mask`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from attnlab._io import atomic_write_json

SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
# CJK radicals, punctuation, kana, bopomofo, ideographs, compatibility ideographs and full-width forms.
_CJK = (
    r"\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    r"\uff00-\uffef"
)
_CJK_RE = re.compile(f"[{_CJK}]")
_WORD = rf"(?:(?![{_CJK}])\w)+"
_ELLIPSIS = "…+|\\.{3,}"  # "……" (the Chinese ellipsis), "…", "...": one token each
_WORD_RE = re.compile(rf"\d+(?:[.,:]\d+)+|{_WORD}(?:['’\-]{_WORD})*|[{_CJK}]|{_ELLIPSIS}|\S")
_CHAR_RE = re.compile(rf"{_ELLIPSIS}|.", re.DOTALL)
_NO_SPACE_BEFORE = set(",.!?;:%)]}…")
_NO_SPACE_AFTER = set("([{$")


class Tokenizer:
    """Common vocabulary logic; subclasses define :meth:`_split`."""

    kind = "base"

    def __init__(self, tokens: Iterable[str], specials: Iterable[str] = SPECIALS) -> None:
        self.specials = list(specials)
        if self.specials[: len(SPECIALS)] != list(SPECIALS):
            raise ValueError(f"specials must start with {SPECIALS}, got {self.specials!r}")
        self.tokens = self.specials + [t for t in tokens if t not in self.specials]
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("tokens must be distinct")
        longest_first = sorted(self.specials, key=len, reverse=True)
        self._special_re = re.compile("(" + "|".join(map(re.escape, longest_first)) + ")")

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def vocab_size(self) -> int:
        """Number of ids (specials included)."""
        return len(self.tokens)

    # -- splitting --------------------------------------------------------------------------------
    def _split(self, text: str, start: int) -> list[tuple[str, int, int]]:
        raise NotImplementedError

    def tokenize_with_offsets(self, text: str) -> list[tuple[str, int, int]]:
        """``(token, start, end)`` for every token, spans in characters of ``text``."""
        out: list[tuple[str, int, int]] = []
        pos = 0
        for piece in self._special_re.split(text):
            if piece in self.index and piece in self.specials:
                out.append((piece, pos, pos + len(piece)))
            elif piece:
                out += self._split(piece, pos)
            pos += len(piece)
        return out

    def tokenize(self, text: str) -> list[str]:
        """The token strings of ``text``."""
        return [t for t, _, _ in self.tokenize_with_offsets(text)]

    # -- ids --------------------------------------------------------------------------------------
    def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Token ids of ``text`` (unknown tokens -> ``<unk>``), optionally framed by ``<bos>``/``<eos>``."""
        ids = [self.index.get(t, self.unk_id) for t in self.tokenize(text)]
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def decode(self, ids: Iterable[int], *, skip_special: bool = True) -> str:
        """Text of ``ids``; ``skip_special`` drops ``<pad>``/``<bos>`` and stops at the first ``<eos>``."""
        tokens = []
        for i in (int(i) for i in ids):
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"id {i} is outside the vocabulary of size {len(self.tokens)}")
            if skip_special and i == self.eos_id:
                break
            if skip_special and i in (self.pad_id, self.bos_id):
                continue
            tokens.append(self.tokens[i])
        return self._join(tokens)

    def _join(self, tokens: list[str]) -> str:
        return "".join(tokens)

    # -- building and persistence -----------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        extra_specials: Iterable[str] = (),
    ):
        """Learn a vocabulary from ``texts``: tokens seen at least ``min_freq`` times, the most frequent
        first, at most ``max_size`` ids in total (specials included)."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        specials = list(SPECIALS) + [s for s in extra_specials if s not in SPECIALS]
        probe = cls([], specials)
        counts = Counter(t for text in texts for t in probe.tokenize(text) if t not in specials)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            if max_size < len(specials):
                raise ValueError(f"max_size must be >= {len(specials)} (the special tokens), got {max_size}")
            ranked = ranked[: max_size - len(specials)]
        return cls(ranked, specials)

    def to_dict(self) -> dict:
        """A JSON-serialisable description (what :meth:`save` writes)."""
        return {
            "format": "attnlab-tokenizer",
            "version": 1,
            "type": self.kind,
            "specials": self.specials,
            "tokens": self.tokens[len(self.specials) :],
        }

    def save(self, path: str | Path) -> None:
        """Write the tokenizer as UTF-8 JSON (atomically)."""
        atomic_write_json(path, self.to_dict(), indent=1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={len(self)})"


class CharTokenizer(Tokenizer):
    """One token per character, except that an ellipsis ("……", "…", "...") is one token; works for
    any script (Chinese, English, mixed)."""

    kind = "char"

    def _split(self, text: str, start: int) -> list[tuple[str, int, int]]:
        return [(m.group(), start + m.start(), start + m.end()) for m in _CHAR_RE.finditer(text)]


class WordTokenizer(Tokenizer):
    """Words for Latin script, single characters for CJK, single punctuation marks; spaces dropped."""

    kind = "word"

    def _split(self, text: str, start: int) -> list[tuple[str, int, int]]:
        return [(m.group(), start + m.start(), start + m.end()) for m in _WORD_RE.finditer(text)]

    def _join(self, tokens: list[str]) -> str:
        out: list[str] = []
        for i, tok in enumerate(tokens):
            if i and not _glue(tokens[i - 1], tok):
                out.append(" ")
            out.append(tok)
        return "".join(out)


def _glue(prev: str, tok: str) -> bool:
    """Whether ``tok`` follows ``prev`` without a space (never when that would merge two words)."""
    if prev[-1] in ".…" and tok[0] in ".…":  # gluing would make (or grow) an ellipsis token
        return False
    if tok[:1] in _NO_SPACE_BEFORE or prev in _NO_SPACE_AFTER:
        return True
    return bool(_CJK_RE.fullmatch(prev[-1]) and _CJK_RE.fullmatch(tok[0]))


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a tokenizer written by :meth:`Tokenizer.save`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return tokenizer_from_dict(data)


def tokenizer_from_dict(data: dict) -> Tokenizer:
    """Rebuild a tokenizer from :meth:`Tokenizer.to_dict` output."""
    if data.get("format") != "attnlab-tokenizer":
        raise ValueError("not an attnlab tokenizer file (missing format: attnlab-tokenizer)")
    classes = {"char": CharTokenizer, "word": WordTokenizer}
    if data.get("type") not in classes:
        raise ValueError(f"tokenizer type must be one of {tuple(classes)}, got {data.get('type')!r}")
    return classes[data["type"]](data["tokens"], data["specials"])
