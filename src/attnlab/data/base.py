"""The common record every task and dataset yields, the error for missing data, and split helpers."""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any

SPLITS = ("train", "valid", "test")


class DatasetUnavailable(RuntimeError):
    """An optional dataset (or the package that ships it) is not installed.

    The message names the exact command that installs it.
    """


@dataclass(frozen=True)
class Example:
    """One example: an input, a target and everything else worth knowing about it.

    Attributes:
        src: the input (a string for text tasks, a list of ints or floats for synthetic probes, a tensor
            for images).
        tgt: the target (a string, a list of ints, an int class label or a float).
        meta: task-specific facts: parameters used, evidence spans ``[start, end)`` in character offsets
            of ``src``, gold alignments, the independent answer value, ...
    """

    src: Any
    tgt: Any
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (tensors become nested lists)."""
        d = asdict(self)
        for key in ("src", "tgt"):
            if hasattr(d[key], "tolist"):
                d[key] = d[key].tolist()
        return d

    def to_json(self) -> str:
        """The example as one line of JSON (non-ASCII text kept readable)."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


def task_rng(seed: int | str, split: str = "train") -> random.Random:
    """A private RNG for one (seed, split) pair; splits draw disjoint streams, global state is untouched."""
    check_split(split)
    return random.Random(f"attnlab/{split}/{seed}")


def check_split(split: str) -> str:
    """Validate a split name."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """Validate an integer argument in ``[low, high]`` (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def check_range(name: str, value: Any, low: int = 0) -> tuple[int, int]:
    """Validate an int or an inclusive ``(min, max)`` pair; return the pair."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if not (isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise ValueError(f"{name} must be an int or a (min, max) pair of ints, got {value!r}")
    lo, hi = value
    if lo < low or hi < lo:
        raise ValueError(f"{name} must satisfy {low} <= min <= max, got {value!r}")
    return int(lo), int(hi)


def check_choice(name: str, value: Any, choices: tuple) -> Any:
    """Validate that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def split_indices(
    n: int, seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> dict[str, list[int]]:
    """A deterministic train/valid/test partition of ``range(n)`` from a seeded permutation."""
    check_int("n", n, 0)
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions!r}")
    order = list(range(n))
    random.Random(f"attnlab/split/{seed}").shuffle(order)
    n_train = round(n * fractions[0])
    n_valid = round(n * fractions[1])
    return {
        "train": order[:n_train],
        "valid": order[n_train : n_train + n_valid],
        "test": order[n_train + n_valid :],
    }
