"""Helpers shared by the dataset loaders: locating package data, splitting, limiting, image splits."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from ..base import Example, check_int, check_split, split_indices


@dataclass
class ImageSplit:
    """One split of an image classification dataset.

    Attributes:
        images: float32 ``(N, 1, H, W)`` in [0, 1].
        labels: int64 ``(N,)``.
        classes: class names, indexed by label.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def examples(self, n: int | None = None) -> list[Example]:
        """The first ``n`` images as :class:`Example` records (``src`` an image, ``tgt`` its label)."""
        count = len(self) if n is None else min(n, len(self))
        return [
            Example(self.images[i], int(self.labels[i]), {"class": self.classes[int(self.labels[i])]})
            for i in range(count)
        ]


def package_dir(package: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it (None if absent)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def check_limit(limit: int | None) -> int | None:
    """Validate a ``limit`` argument (None = everything)."""
    return None if limit is None else check_int("limit", limit, 0)


def select(items: list, split: str, seed: int, limit: int | None, fractions=(0.8, 0.1, 0.1)) -> list:
    """The items of one deterministic split, cut to ``limit``."""
    check_split(split)
    check_limit(limit)
    chosen = [items[i] for i in split_indices(len(items), seed, fractions)[split]]
    return chosen if limit is None else chosen[:limit]


def missing_path_message(what: str, path: Path | None, install: str) -> str:
    """The message for a dataset whose file is absent."""
    where = f" (looked for {path})" if path is not None else ""
    return f"{what} is not installed{where}. Install it with:  {install}"
