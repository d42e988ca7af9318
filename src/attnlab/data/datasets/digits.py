"""scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), read from the CSV the package ships.

The file ``sklearn/datasets/data/digits.csv.gz`` holds one image per row: 64 pixel values 0-16 and the
label. It is parsed directly (scikit-learn is not imported). Splits: 80/10/10 of a seeded permutation.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from ..base import DatasetUnavailable, Example, check_split
from ..cache import cached_tensors, source_signature
from ._common import ImageSplit, check_limit, missing_path_message, package_dir, select

NAME = "digits"
INSTALL = "pip install scikit-learn"
CLASSES = [str(i) for i in range(10)]


def default_path() -> Path | None:
    """Where scikit-learn keeps the digits CSV, or None when scikit-learn is not installed."""
    root = package_dir("sklearn")
    return None if root is None else root / "datasets" / "data" / "digits.csv.gz"


def available(path: str | Path | None = None) -> tuple[bool, str]:
    """Whether the data file exists, and a message saying where it is or how to install it."""
    p = Path(path) if path is not None else default_path()
    if p is None or not p.exists():
        return False, missing_path_message("scikit-learn's digits data", p, INSTALL)
    return True, f"found {p}"


def read_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse a digits CSV (optionally gzipped): ``(images uint8 (N, 8, 8), labels int64 (N,))``."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="ascii") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    if rows.shape[1] != 65:
        raise ValueError(f"{path}: expected 65 columns (64 pixels + label), got {rows.shape[1]}")
    return rows[:, :64].reshape(-1, 8, 8).astype(np.uint8), rows[:, 64]


def load(
    split: str = "train",
    *,
    path: str | Path | None = None,
    seed: int = 0,
    limit: int | None = None,
    cache: bool = True,
) -> ImageSplit:
    """One split of the digits as an :class:`ImageSplit` (images scaled from 0-16 to [0, 1])."""
    check_split(split)
    check_limit(limit)
    ok, message = available(path)
    if not ok:
        raise DatasetUnavailable(message)
    p = Path(path) if path is not None else default_path()

    def build() -> dict[str, torch.Tensor]:
        images, labels = read_csv(p)
        idx = select(list(range(len(labels))), split, seed, limit)
        return {"images": torch.from_numpy(images[idx]), "labels": torch.from_numpy(labels[idx])}

    key = {"source": source_signature(p), "split": split, "seed": seed, "limit": limit}
    t = cached_tensors(NAME, key, build, enabled=cache)
    return ImageSplit(t["images"].float().div(16.0).unsqueeze(1), t["labels"].long(), CLASSES)


def examples(n: int, *, seed: int = 0, split: str = "train", **options) -> list[Example]:
    """The first ``n`` images of a split as :class:`Example` records. ``options`` go to :func:`load`."""
    return load(split, seed=seed, limit=n, **options).examples()
