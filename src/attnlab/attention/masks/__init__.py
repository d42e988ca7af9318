"""Attention masks as composable predicates with structure.

A :class:`Mask` is a pure predicate ``(b, h, q_idx, kv_idx) -> bool`` (FlexAttention's ``mask_mod``
convention; True means "query may attend to this key") plus, where the pattern has one, a cheap
description of which ``(query block, key block)`` tiles are empty, full or partial. Fast backends use
that structure to skip empty tiles and to skip evaluating the predicate on full ones; the reference
backend only ever evaluates the predicate. Masks that are exactly a band (causal, windows), a key
prefix (padding), a block layout, a conjunction or a wrapped tensor also say so through typed
attributes (:attr:`Mask.band`, :attr:`Mask.key_lengths`, ...), which backends read instead of names.

Positions are aligned lower-right: when ``Lq != Lk`` (KV-cache decoding) query ``i`` sits at absolute
position ``i + (Lk - Lq)``. Built-in position-dependent masks (causal, windows, strided, prefix-LM...)
are written in absolute positions; :meth:`Mask.bind` applies the offset for a given ``(Lq, Lk)``.
Calling a mask directly uses offset 0. Masks made from a user function or a bool tensor receive raw
indices.

Masks compose with ``&`` (both allow), ``|`` (either allows) and ``~`` (negation).

Modules: :mod:`.base` (the :class:`Mask` and its composition), :mod:`.patterns` (the built-in
patterns), :mod:`.tiles` (tile states of each structure).
"""

from .base import Mask, PredicateFn, index_grid
from .patterns import (
    ALL_MASKS,
    band,
    bigbird,
    block_sparse,
    causal,
    document,
    fixed,
    full,
    global_tokens,
    padding,
    prefix_lm,
    sliding_window,
    strided,
)
from .tiles import EMPTY, FULL, PARTIAL, BlocksFn

__all__ = [
    "ALL_MASKS",
    "EMPTY",
    "FULL",
    "PARTIAL",
    "BlocksFn",
    "Mask",
    "PredicateFn",
    "band",
    "bigbird",
    "block_sparse",
    "causal",
    "document",
    "fixed",
    "full",
    "global_tokens",
    "index_grid",
    "padding",
    "prefix_lm",
    "sliding_window",
    "strided",
]
