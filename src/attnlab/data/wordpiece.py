"""BERT's WordPiece tokenizer, read from a checkpoint's ``vocab.txt`` (no ``transformers`` needed).

Two stages (Devlin et al., 2019, sec. 3 / appendix; Wu et al., 2016, "Google's Neural Machine
Translation System", sec. 4.1 for WordPiece):

1. basic tokenisation: drop control characters, map whitespace to spaces, put spaces around every
   CJK ideograph (Chinese is tokenised one character per token), strip accents (NFD, drop the
   non-spacing marks) and lowercase, then split on whitespace and isolate every punctuation mark;
2. greedy longest-match-first WordPiece: each word becomes the longest vocabulary prefix, then the
   longest ``##``-prefixed continuation, and so on; a word with an unmatched piece (or longer than
   100 characters) becomes ``[UNK]``.

The order of the normalisation steps follows HuggingFace's fast ``BertNormalizer`` (the
``tokenizer.json`` of a checkpoint): accents are stripped before lowercasing, and lowercasing is
per character (no final-sigma rule). Special tokens written literally (``"[MASK]"``) keep their ids.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# The CJK Unified Ideographs blocks BERT splits one per token (Korean and Japanese kana are not here,
# as in the original BERT code).
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_cjk(ch: str) -> bool:
    """True for a CJK ideograph (the ranges of BERT's ``_is_chinese_char``)."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def is_punctuation(ch: str) -> bool:
    """ASCII symbols (``$``, ``^``, backquote... count as punctuation for BERT) or a Unicode P* char."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_control(ch: str) -> bool:
    # Cc/Cf/Co/Cs as the Rust normaliser of HF's tokenizer.json; unassigned code points (Cn) are
    # kept (they become [UNK]), unlike the older Python BertTokenizer which dropped them.
    return ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")


def basic_tokenize(text: str, lowercase: bool = True, strip_accents: bool | None = None) -> list[str]:
    """Stage 1: normalised words and punctuation marks (``strip_accents=None`` follows ``lowercase``)."""
    strip = lowercase if strip_accents is None else strip_accents
    chars = []
    for ch in text:
        if ch in ("\x00", "\ufffd") or _is_control(ch):
            continue
        if ch.isspace():
            chars.append(" ")
        elif is_cjk(ch):
            chars.extend((" ", ch, " "))
        else:
            chars.append(ch)
    text = "".join(chars)
    if strip:
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    if lowercase:
        text = "".join(c.lower() for c in text)  # per character, as the Rust normaliser does
    out: list[str] = []
    for word in text.split(" "):
        start = 0
        for i, ch in enumerate(word):
            if is_punctuation(ch):
                if i > start:
                    out.append(word[start:i])
                out.append(ch)
                start = i + 1
        if start < len(word):
            out.append(word[start:])
    return out


class WordPieceTokenizer:
    """BERT tokenizer: ``encode(text) -> (ids, tokens)`` with ``[CLS] ... [SEP]``.

    Args:
        vocab: the vocabulary, one token per id (the lines of ``vocab.txt``).
        lowercase: lowercase the text (uncased checkpoints).
        strip_accents: remove accents; None follows ``lowercase`` (BERT's default).
        max_chars_per_word: longer words become ``[UNK]``.
    """

    def __init__(
        self,
        vocab: Sequence[str],
        *,
        lowercase: bool = True,
        strip_accents: bool | None = None,
        max_chars_per_word: int = 100,
    ) -> None:
        self.tokens = list(vocab)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        missing = [t for t in ("[UNK]", "[CLS]", "[SEP]", "[PAD]") if t not in self.index]
        if missing:
            raise ValueError(f"vocab: missing the special tokens {missing}")
        self.lowercase, self.strip_accents = lowercase, strip_accents
        self.max_chars_per_word = max_chars_per_word
        self.specials = [t for t in SPECIAL_TOKENS if t in self.index]
        self.unk_id, self.cls_id = self.index["[UNK]"], self.index["[CLS]"]
        self.sep_id, self.pad_id = self.index["[SEP]"], self.index["[PAD]"]

    @classmethod
    def from_folder(cls, folder: str | Path) -> WordPieceTokenizer:
        """Read ``vocab.txt`` and, when present, ``tokenizer_config.json`` (``do_lower_case``,
        ``strip_accents``) from a checkpoint folder."""
        folder = Path(folder)
        vocab_file = folder / "vocab.txt"
        if not vocab_file.is_file():
            raise ValueError(f"folder: {folder} has no vocab.txt (expected a BERT checkpoint folder)")
        vocab = vocab_file.read_text(encoding="utf-8").split("\n")
        if vocab and vocab[-1] == "":
            vocab.pop()
        options: dict = {}
        config_file = folder / "tokenizer_config.json"
        if config_file.is_file():
            cfg = json.loads(config_file.read_text(encoding="utf-8"))
            if cfg.get("tokenize_chinese_chars", True) is False:
                raise ValueError("tokenizer_config.json: tokenize_chinese_chars=false is not supported")
            options = {
                "lowercase": bool(cfg.get("do_lower_case", True)),
                "strip_accents": cfg.get("strip_accents"),
            }
        return cls([t.rstrip("\r") for t in vocab], **options)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def wordpiece(self, word: str) -> list[str]:
        """Stage 2 on one word: greedy longest-match-first pieces, or ``["[UNK]"]``."""
        if len(word) > self.max_chars_per_word:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.index:
                    break
                end -= 1
            if end == start:
                return ["[UNK]"]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """Word pieces of ``text`` without ``[CLS]``/``[SEP]``; literal special tokens are kept."""
        if not isinstance(text, str):
            raise ValueError(f"text: expected a str, got {type(text).__name__}")
        out: list[str] = []
        for chunk in self._split_specials(text):
            if chunk in self.specials:
                out.append(chunk)
                continue
            for word in basic_tokenize(chunk, self.lowercase, self.strip_accents):
                out.extend(self.wordpiece(word))
        return out

    def _split_specials(self, text: str) -> list[str]:
        chunks, start, i = [], 0, 0
        while i < len(text):
            hit = next((s for s in self.specials if text.startswith(s, i)), None)
            if hit is None:
                i += 1
                continue
            chunks.extend([text[start:i], hit])
            i = start = i + len(hit)
        chunks.append(text[start:])
        return [c for c in chunks if c]

    def encode(
        self, text: str, max_length: int = 512, truncation: bool = False
    ) -> tuple[list[int], list[str]]:
        """``([CLS] pieces [SEP])`` as ``(ids, tokens)``.

        Raises:
            ValueError: when the result is longer than ``max_length`` and ``truncation`` is False
                (with ``truncation`` the pieces are cut so that ``[SEP]`` still ends the sequence).
        """
        if not isinstance(max_length, int) or max_length < 2:
            raise ValueError(
                f"max_length: expected an int >= 2 (room for [CLS] and [SEP]), got {max_length!r}"
            )
        pieces = self.tokenize(text)
        if len(pieces) + 2 > max_length:
            if not truncation:
                raise ValueError(
                    f"max_length: the text has {len(pieces) + 2} tokens with [CLS]/[SEP], more than "
                    f"max_length={max_length}; pass truncation=True to cut it"
                )
            pieces = pieces[: max_length - 2]
        tokens = ["[CLS]", *pieces, "[SEP]"]
        return [self.index.get(t, self.unk_id) for t in tokens], tokens

    def batch(
        self, texts: Sequence[str], max_length: int = 512, truncation: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Encode and right-pad with ``[PAD]``: ``(ids (B, L) long, attention_mask (B, L) long)``."""
        if isinstance(texts, str) or not texts:
            raise ValueError("texts: expected a non-empty list of strings")
        rows = [self.encode(t, max_length, truncation)[0] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, : len(r)] = 1
        return ids, mask

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        bad = [i for i in ids if not 0 <= int(i) < len(self.tokens)]
        if bad:
            raise ValueError(f"ids: {bad[:5]} outside the vocabulary [0, {len(self.tokens)})")
        return [self.tokens[int(i)] for i in ids]

    def decode(self, ids: Sequence[int] | Tensor, skip_special_tokens: bool = True) -> str:
        """Join pieces back into text (``##`` continuations glued, spaces before punctuation removed).

        Lowercasing and accent stripping cannot be undone, and CJK characters come back space-separated.
        """
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        tokens = self.convert_ids_to_tokens(ids)
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in self.specials or t == "[UNK]"]
        text = " ".join(tokens).replace(" ##", "")
        for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't")):
            text = text.replace(a, b)
        for a, b in ((" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
            text = text.replace(a, b)
        return text
