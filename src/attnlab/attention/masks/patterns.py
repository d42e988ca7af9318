"""The built-in mask patterns: each a factory returning a :class:`Mask` with its predicate (written in
absolute positions, lower-right aligned), its tile states (:mod:`.tiles`) and its typed structure."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .base import Mask
from .tiles import band_tiles, document_tiles, global_tiles, key_prefix_tiles, layout_tiles, same_block_tiles


def band(left: float, right: float, name: str | None = None, kind: str = "band") -> Mask:
    """Keys within ``left`` positions before and ``right`` after the query (``math.inf`` = unbounded)."""
    if left < 0 or right < 0:
        raise ValueError(f"band: left and right must be >= 0, got left={left}, right={right}")

    def fn(b, h, q, kv, off):
        d = kv - (q + off)
        return (d >= -left) & (d <= right)

    return Mask(
        fn,
        name or f"band({left}, {right})",
        blocks=band_tiles(left, right),
        kind=kind,
        params={"left": left, "right": right},
        band=(left, right),
    )


def causal() -> Mask:
    """Causal mask: query at position i sees keys j <= i (lower-right aligned when Lq != Lk)."""
    return band(math.inf, 0, name="causal", kind="causal")


_causal = causal  # for functions whose `causal` argument shadows the factory


def full() -> Mask:
    """Everything visible (the identity for ``&``)."""
    return band(math.inf, math.inf, name="full", kind="full")


def sliding_window(window: int, causal: bool = False) -> Mask:
    """Local attention: a query sees ``window`` keys on each side (only the past if ``causal``) and itself.

    Local attention as in Image Transformer (Parmar et al., 2018) and Longformer (Beltagy et al., 2020):
    key j is visible from query i iff ``i - window <= j <= i + window`` (``i - window <= j <= i`` causal).
    """
    if not isinstance(window, int) or window < 0:
        raise ValueError(f"sliding_window: window must be an int >= 0, got {window!r}")
    m = band(
        window,
        0 if causal else window,
        name=f"sliding_window({window}{', causal' if causal else ''})",
        kind="sliding_window",
    )
    m.params["causal"] = causal
    return m


def _key_prefix(lengths, name: str, kind: str) -> Mask:
    """Keys with index < lengths[b] (int or (B,) tensor)."""
    if isinstance(lengths, int):
        lengths = torch.tensor([lengths])
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.dtype.is_floating_point or (lengths < 0).any():
        raise ValueError(
            f"{kind}: lengths must be an int or a 1-D integer tensor of values >= 0, got {lengths!r}"
        )
    per_batch = lengths.numel() > 1

    def fn(b, h, q, kv, off):
        n = lengths.to(kv.device)[b.clamp(max=lengths.numel() - 1)]
        return kv < n

    return Mask(
        fn,
        name,
        blocks=key_prefix_tiles(lengths),
        uses_batch=per_batch,
        kind=kind,
        params={"lengths": lengths},
        key_lengths=lengths,
    )


def padding(lengths) -> Mask:
    """Key padding: example b has ``lengths[b]`` real tokens; keys at index >= lengths[b] are hidden."""
    return _key_prefix(lengths, "padding", "padding")


def prefix_lm(prefix_len) -> Mask:
    """Prefix-LM (UniLM / T5): bidirectional over the first ``prefix_len`` tokens, causal after them."""
    return (causal() | _key_prefix(prefix_len, f"prefix({prefix_len})", "prefix_lm")).renamed(
        f"prefix_lm({prefix_len})", "prefix_lm"
    )


def strided(stride: int, causal: bool = True) -> Mask:
    """Sparse Transformer strided pattern (Child et al., 2019): the previous ``stride`` positions plus
    every ``stride``-th earlier position: ``i - j < stride`` or ``(i - j) % stride == 0`` (both heads'
    patterns merged into one mask). Non-causal: the same in both directions."""
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"strided: stride must be an int >= 1, got {stride!r}")
    local = band(stride - 1, 0 if causal else stride - 1)
    column = Mask(lambda b, h, q, kv, off: (q + off - kv) % stride == 0, f"every {stride}th")
    direction = _causal() if causal else full()
    return (local | (column & direction)).renamed(f"strided({stride})", "strided")


def fixed(stride: int, summary: int = 1) -> Mask:
    """Sparse Transformer fixed pattern (Child et al., 2019), causal: a query sees its own block of
    ``stride`` positions (``floor(j/l) == floor(i/l)``) and the last ``summary`` positions of every
    block (``j mod l >= l - c``)."""
    if not isinstance(stride, int) or stride < 1 or not 1 <= summary <= stride:
        raise ValueError(
            f"fixed: need stride >= 1 and 1 <= summary <= stride, got stride={stride}, summary={summary}"
        )
    same_block = Mask(
        lambda b, h, q, kv, off: (q + off) // stride == kv // stride,
        "same block",
        blocks=same_block_tiles(stride),
    )
    summaries = Mask(lambda b, h, q, kv, off: kv % stride >= stride - summary, f"summary({summary})")
    return ((same_block | summaries) & causal()).renamed(f"fixed({stride}, {summary})", "fixed")


def block_sparse(layout: Tensor, block: int) -> Mask:
    """Block-sparse attention: token (i, j) is visible iff ``layout[..., i // block, j // block]``.

    ``layout`` is a bool tensor ``(n_q_blocks, n_k_blocks)`` or per head ``(H, n_q_blocks, n_k_blocks)``
    (the layouts of Sparse Transformer / BigBird / DeepSpeed sparse attention).
    """
    layout = torch.as_tensor(layout)
    if layout.dtype != torch.bool or layout.dim() not in (2, 3):
        raise ValueError(
            f"block_sparse: layout must be a 2-D or 3-D bool tensor, got {layout.dtype} {tuple(layout.shape)}"
        )
    if not isinstance(block, int) or block < 1:
        raise ValueError(f"block_sparse: block must be an int >= 1, got {block!r}")
    per_head = layout.dim() == 3
    lay = layout if per_head else layout[None]  # (H|1, nqb, nkb)
    n_q, n_k = lay.shape[1] * block, lay.shape[2] * block

    def check_covered(last_q: int, last_kv: int) -> None:
        """Both the predicate and the tile states need the layout to reach the last position."""
        if last_q >= n_q or last_kv >= n_k:
            raise ValueError(f"block_sparse: layout covers {n_q} x {n_k} tokens, smaller than the sequence")

    def fn(b, h, q, kv, off):
        pos = q + off
        if torch.is_tensor(pos) and pos.numel():
            check_covered(int(pos.max()), int(kv.max()))
        hh = h.clamp(max=lay.shape[0] - 1)
        return lay.to(q.device)[hh, pos.clamp(min=0) // block, kv // block] & (pos >= 0)

    return Mask(
        fn,
        f"block_sparse({tuple(layout.shape)}, block={block})",
        blocks=layout_tiles(lay, block, check_covered),
        uses_head=per_head,
        kind="block_sparse",
        params={"layout": layout, "block": block},
        layout=lay,
        block=block,
    )


def global_tokens(indices: Sequence[int] | Tensor) -> Mask:
    """Longformer-style global tokens: the given positions see everything and are seen by everyone."""
    idx = torch.as_tensor(indices, dtype=torch.long).flatten()  # (n_global,)
    if (idx < 0).any():
        raise ValueError(f"global_tokens: indices must be >= 0, got {idx.tolist()}")
    size = int(idx.max()) + 1 if idx.numel() else 0
    is_global = torch.zeros(size + 1, dtype=torch.bool)
    is_global[idx] = True  # the extra last slot stays False and absorbs every position >= size

    def lookup(pos):
        return is_global.to(pos.device)[pos.clamp(min=0, max=size)] & (pos >= 0)

    def fn(b, h, q, kv, off):
        return lookup(q + off) | lookup(kv)

    return Mask(
        fn,
        f"global_tokens({idx.tolist()})",
        blocks=global_tiles(lookup),
        kind="global_tokens",
        params={"indices": idx},
    )


def bigbird(
    seq_len: int,
    block: int = 64,
    window_blocks: int = 3,
    global_blocks: int = 2,
    random_blocks: int = 3,
    seed: int = 0,
) -> Mask:
    """BigBird (Zaheer et al., 2020) block-sparse pattern for sequences up to ``seq_len``: the first
    ``global_blocks`` blocks are global, each query block sees ``window_blocks`` neighbouring blocks
    (centred) and ``random_blocks`` random key blocks (fixed by ``seed``)."""
    if seq_len < 1 or block < 1 or window_blocks < 1 or global_blocks < 0 or random_blocks < 0:
        raise ValueError(
            "bigbird: need seq_len, block, window_blocks >= 1 and global_blocks, random_blocks >= 0"
        )
    n = math.ceil(seq_len / block)
    qb = torch.arange(n)[:, None]  # (n, 1) query blocks
    kb = torch.arange(n)[None, :]  # (1, n) key blocks
    layout = (qb - kb).abs() <= window_blocks // 2  # (n, n)
    layout |= (qb < global_blocks) | (kb < global_blocks)
    gen = torch.Generator().manual_seed(seed)
    for row in range(global_blocks, n):
        candidates = (~layout[row]).nonzero().flatten()  # (n_hidden,) key blocks not yet visible
        pick = candidates[torch.randperm(candidates.numel(), generator=gen)[:random_blocks]]
        layout[row, pick] = True
    m = block_sparse(layout, block)
    return m.renamed(
        f"bigbird(seq_len={seq_len}, block={block}, window={window_blocks}, global={global_blocks}, "
        f"random={random_blocks}, seed={seed})",
        "bigbird",
    )


def document(ids: Tensor) -> Mask:
    """Packed sequences: tokens attend only within their own document; ``ids`` is ``(L,)`` or ``(B, L)``
    giving each key position's document id (query positions use the same ids, lower-right aligned)."""
    ids = torch.as_tensor(ids)
    if ids.dim() not in (1, 2) or ids.dtype.is_floating_point:
        raise ValueError(
            f"document: ids must be an integer tensor (L,) or (B, L), got {ids.dtype} {tuple(ids.shape)}"
        )
    ids2 = ids if ids.dim() == 2 else ids[None]  # (B|1, L)
    length = ids2.shape[1]

    def at(b, pos):
        d = ids2.to(pos.device)
        return d[b.clamp(max=d.shape[0] - 1), pos.clamp(min=0, max=length - 1)]

    def fn(b, h, q, kv, off):
        pos = q + off
        return (at(b, pos) == at(b, kv)) & (pos >= 0) & (pos < length) & (kv < length)

    return Mask(
        fn,
        "document",
        blocks=document_tiles(ids2),
        uses_batch=ids.dim() == 2,
        kind="document",
        params={"ids": ids},
    )


ALL_MASKS = {
    "causal": causal,
    "padding": padding,
    "sliding_window": sliding_window,
    "strided": strided,
    "fixed": fixed,
    "block_sparse": block_sparse,
    "bigbird": bigbird,
    "global_tokens": global_tokens,
    "document": document,
    "prefix_lm": prefix_lm,
    "band": band,
    "full": full,
}
