"""The attention calls the benchmarks time, by name: each builds inputs and returns a zero-argument step.

Both suites (``attention``: dense backends; ``efficient``: sparse, local and linear-complexity ones) and
the peak-memory subprocess look cases up here, so a number in a table always means the same call.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from attnlab.attention import attend, masks
from attnlab.attention.backends.performer import performer
from attnlab.bench.peers import peer_cases

LOCAL_WINDOW = 256
BLOCK = 128
PERFORMER_256 = performer(num_features=256)  # the features the peer uses too


def _block_layout(n: int, columns: bool) -> torch.Tensor:
    """A band of blocks (each query block sees its neighbours), plus every 8th block column if
    ``columns`` (a Sparse-Transformer-like layout); ``(nb, nb)`` bool."""
    nb = (n + BLOCK - 1) // BLOCK
    qb, kb = torch.arange(nb)[:, None], torch.arange(nb)[None, :]
    return ((qb - kb).abs() <= 1) | ((kb % 8 == 0) if columns else False)


def _block_sparse(n: int):
    return masks.block_sparse(_block_layout(n, columns=True), BLOCK)


def _window_pairs(n: int, w: int, causal: bool) -> int:
    """Visible (query, key) pairs of ``sliding_window(w, causal)`` over N positions."""
    i = torch.arange(n)
    hi = i if causal else (i + w).clamp(max=n - 1)
    return int((hi - (i - w).clamp(min=0) + 1).sum())


def visible_pairs(case: str, n: int) -> int:
    """The (query, key) pairs a case's attention lets through: its useful work is 4·B·H·d per pair.
    Approximations (linear, Performer, ...) stand in for all N² pairs."""
    if case in ("local", "sdpa-local"):
        return _window_pairs(n, LOCAL_WINDOW, causal=False)
    if case.startswith("local-causal") or case == "peer-local-attention":
        return _window_pairs(n, LOCAL_WINDOW, causal=True)
    if case in ("block-sparse", "block-band"):
        return int(_block_layout(n, columns=case == "block-sparse").sum()) * BLOCK * BLOCK
    return n * n


# name -> (description, function(q, k, v) -> output)
CASES: dict[str, tuple[str, Callable]] = {
    "torch-sdpa": (
        "torch.nn.functional.scaled_dot_product_attention, no mask",
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
    ),
    "auto": ("attend(backend='auto'), no mask", lambda q, k, v: attend(q, k, v)),
    "reference": ("attend(backend='reference')", lambda q, k, v: attend(q, k, v, backend="reference")),
    "chunked": ("attend(backend='chunked'), no mask", lambda q, k, v: attend(q, k, v, backend="chunked")),
    "sdpa-local": (
        f"SDPA with a dense sliding-window mask (w={LOCAL_WINDOW})",
        lambda q, k, v: attend(q, k, v, mask=masks.sliding_window(LOCAL_WINDOW), backend="sdpa"),
    ),
    "local": (
        f"banded with sliding_window({LOCAL_WINDOW}) (2w+1 keys)",
        lambda q, k, v: attend(q, k, v, mask=masks.sliding_window(LOCAL_WINDOW), backend="banded"),
    ),
    "local-causal": (
        f"banded with sliding_window({LOCAL_WINDOW}, causal=True) (w+1 keys)",
        lambda q, k, v: attend(
            q, k, v, mask=masks.sliding_window(LOCAL_WINDOW, causal=True), backend="banded"
        ),
    ),
    "local-causal-tiles": (
        f"chunked (tile loop) with sliding_window({LOCAL_WINDOW}, causal=True): empty tiles skipped",
        lambda q, k, v: attend(
            q, k, v, mask=masks.sliding_window(LOCAL_WINDOW, causal=True), backend="chunked"
        ),
    ),
    "block-band": (
        f"banded with a block-sparse band (block {BLOCK}: each block and its two neighbours)",
        lambda q, k, v: attend(
            q,
            k,
            v,
            mask=masks.block_sparse(_block_layout(q.shape[2], columns=False), BLOCK),
            backend="banded",
        ),
    ),
    "block-sparse": (
        f"chunked with a block-sparse layout (block {BLOCK}: band + every 8th column)",
        lambda q, k, v: attend(q, k, v, mask=_block_sparse(q.shape[2]), backend="chunked"),
    ),
    "linear": ("linear attention (elu+1)", lambda q, k, v: attend(q, k, v, backend="linear")),
    "performer": (
        "Performer FAVOR+, 256 orthogonal positive features",
        lambda q, k, v: attend(q, k, v, backend=PERFORMER_256),
    ),
    "nystrom": ("Nyström attention, 64 landmarks", lambda q, k, v: attend(q, k, v, backend="nystrom")),
    "linformer": (
        "Linformer, keys/values mean-pooled to 256 rows",
        lambda q, k, v: attend(q, k, v, backend="linformer"),
    ),
    "int8": (
        "int8 queries/keys, integer QK^T (torch._int_mm), float softmax and PV",
        lambda q, k, v: attend(q, k, v, backend="int8"),
    ),
}
CASES.update(peer_cases(LOCAL_WINDOW))
# Cases that approximate softmax attention (their "useful work" is the exact attention they replace).
APPROXIMATE = {"linear", "performer", "nystrom", "linformer", "int8", "peer-performer"}


def make_step(case: str, n: int, heads: int, dim: int, grad: bool) -> Callable[[], None]:
    """Inputs (B=1, H, N, d) float32 and one call of ``case`` (with backward when ``grad``)."""
    if case not in CASES:
        raise ValueError(f"case: unknown benchmark case {case!r}; expected one of {sorted(CASES)}")
    fn = CASES[case][1]
    q, k, v = (torch.randn(1, heads, n, dim, requires_grad=grad) for _ in range(3))

    def step() -> None:
        with torch.set_grad_enabled(grad):
            out = fn(q, k, v)
            if grad:
                out.sum().backward()

    return step
