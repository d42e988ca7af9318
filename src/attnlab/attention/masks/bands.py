"""Band bounds: the window of keys around its position that holds everything a query may see.

A banded backend computes attention block by block of queries, each against one window of keys, so it
needs a bound ``(left, right)`` with ``-left <= kv - q_pos <= right`` for every visible pair. Masks give
it through their typed structure, without evaluating the predicate:

- a band (causal, sliding windows, :func:`~.patterns.band`) is its own bound;
- a block layout bounds its block diagonals: if the visible blocks ``(r, c)`` all have
  ``a <= c - r <= b``, then ``kv - q_pos`` lies in ``[a·block - (block - 1), b·block + block - 1]``;
- a conjunction (``&``) is bounded by the tightest bound of its parts (a key prefix adds none).

The bound is conservative (the predicate still decides inside the window); None when the structure
proves no finite bound on both sides.
"""

from __future__ import annotations

import math

from .base import Mask


def layout_bound(mask: Mask) -> tuple[int, int] | None:
    """The band that contains every visible block of a block-sparse layout, or None without a layout."""
    if mask.layout is None or mask.block is None:
        return None
    rows, cols = mask.layout.any(0).nonzero(as_tuple=True)  # visible (query block, key block) pairs
    if rows.numel() == 0:
        return 0, 0  # nothing is visible: any window will do
    diag = cols - rows
    lo, hi, block = int(diag.min()), int(diag.max()), mask.block
    return block - 1 - lo * block, hi * block + block - 1


def band_bound(mask: Mask | None) -> tuple[int, int] | None:
    """``(left, right)`` with ``-left <= kv - q_pos <= right`` for every visible pair, from the mask's
    structure; None when it gives no finite bound on both sides (then the mask is not banded)."""
    if mask is None:
        return None
    left = right = math.inf
    for part in mask.conjuncts():
        bound = part.band if part.band is not None else layout_bound(part)
        if bound is not None:
            left, right = min(left, bound[0]), min(right, bound[1])
    if math.isinf(left) or math.isinf(right):
        return None
    return int(left), int(right)


def is_translation_invariant(mask: Mask) -> bool:
    """True when the mask is bands and key prefixes only: then ``(q_pos, kv)`` and ``(q_pos + t,
    kv + t)`` agree except where a key prefix cuts, so one block's pattern serves every block."""
    return all(part.band is not None or part.key_lengths is not None for part in mask.conjuncts())
