"""German -> English example pairs from the FreeDict/Ding dictionary (Debian ``dict-freedict-deu-eng``).

The dictionary is a dictd database: ``freedict-deu-eng.dict.dz`` is dictzip-compressed, which is plain
gzip with a random-access table in the header, so Python's ``gzip`` reads it. Inside, usage examples are
lines of the form::

          "Ich habe am ursprünglichen Entwurf ein paar Änderungen vorgenommen."  - I've made one or two ...

i.e. indentation, the German text in double quotes, two spaces, ``- `` and the English text. Each
distinct (German, English) pair becomes one example (~37k pairs; ``sentences_only=True`` keeps the ~7k
whose German side is a sentence: capitalised and ending in ``.``, ``!`` or ``?``). Alternative English
translations of a sentence are separated by ``", "`` after the final punctuation; by default the first is
the target. Splits: 80/10/10 of a seeded permutation.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from ..base import DatasetUnavailable, Example, check_split
from ..cache import cached_json, source_signature
from ._common import check_limit, missing_path_message, select

NAME = "deu-eng"
DEFAULT_PATH = Path("/usr/share/dictd/freedict-deu-eng.dict.dz")
INSTALL = "sudo apt-get install dict-freedict-deu-eng"
_EXAMPLE = re.compile(r'^\s+"(?P<de>[^"].*?)"  - (?P<en>\S.*?)\s*$')
_SENTENCE = re.compile(r"^[A-ZÄÖÜ].*[.!?]$")
_ALTERNATIVES = re.compile(r"(?<=[.!?]), (?=\S)")


def available(path: str | Path | None = None) -> tuple[bool, str]:
    """Whether the dictionary file exists, and a message saying how to install it."""
    p = Path(path) if path is not None else DEFAULT_PATH
    if not p.exists():
        return False, missing_path_message("The FreeDict German-English dictionary", p, INSTALL)
    return True, f"found {p}"


def parse(path: str | Path) -> list[list[str]]:
    """All distinct ``[german, english]`` example pairs of a dictd ``.dict`` or ``.dict.dz`` file."""
    opener = gzip.open if str(path).endswith(".dz") or str(path).endswith(".gz") else open
    seen: set[tuple[str, str]] = set()
    pairs: list[list[str]] = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            m = _EXAMPLE.match(line)
            if m and (m["de"], m["en"]) not in seen:
                seen.add((m["de"], m["en"]))
                pairs.append([m["de"], m["en"]])
    return pairs


def load(
    split: str = "train",
    *,
    path: str | Path | None = None,
    seed: int = 0,
    limit: int | None = None,
    sentences_only: bool = False,
    first_translation: bool = True,
    cache: bool = True,
) -> list[Example]:
    """One split of German -> English pairs: ``Example(src=german, tgt=english)``.

    The English side of a sentence sometimes lists alternative translations ("Danger is imminent., It's
    urgent."). With ``first_translation`` the target is the first one; ``meta["alternatives"]`` keeps all.
    """
    check_split(split)
    check_limit(limit)
    ok, message = available(path)
    if not ok:
        raise DatasetUnavailable(message)
    p = Path(path) if path is not None else DEFAULT_PATH
    pairs = cached_json(NAME, {"source": source_signature(p)}, lambda: parse(p), enabled=cache)
    if sentences_only:
        pairs = [pair for pair in pairs if _SENTENCE.match(pair[0])]
    out = []
    for de, en in select(pairs, split, seed, limit):
        alternatives = _ALTERNATIVES.split(en)
        tgt = alternatives[0] if first_translation else en
        out.append(Example(de, tgt, {"lang": "de-en", "alternatives": alternatives}))
    return out


def examples(n: int, *, seed: int = 0, split: str = "train", **options) -> list[Example]:
    """The first ``n`` pairs of a split. ``options`` go to :func:`load`."""
    return load(split, seed=seed, limit=n, **options)
