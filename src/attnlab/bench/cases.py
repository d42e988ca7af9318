"""The attention calls the benchmarks time, by name: each builds inputs and returns a zero-argument step.

Both suites (``attention``: dense backends; ``efficient``: sparse, local and linear-complexity ones) and
the peak-memory subprocess look cases up here, so a number in a table always means the same call.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from attnlab.attention import attend, masks

LOCAL_WINDOW = 256
BLOCK = 128


def _block_sparse(n: int):
    """A Sparse-Transformer-like layout: local band of blocks plus every 8th block column."""
    nb = (n + BLOCK - 1) // BLOCK
    qb, kb = torch.arange(nb)[:, None], torch.arange(nb)[None, :]
    return masks.block_sparse(((qb - kb).abs() <= 1) | (kb % 8 == 0), BLOCK)


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
        f"chunked with sliding_window({LOCAL_WINDOW}): empty tiles skipped",
        lambda q, k, v: attend(q, k, v, mask=masks.sliding_window(LOCAL_WINDOW), backend="chunked"),
    ),
    "block-sparse": (
        f"chunked with a block-sparse layout (block {BLOCK}: band + every 8th column)",
        lambda q, k, v: attend(q, k, v, mask=_block_sparse(q.shape[2]), backend="chunked"),
    ),
    "linear": ("linear attention (elu+1)", lambda q, k, v: attend(q, k, v, backend="linear")),
    "performer": (
        "Performer FAVOR+, 256 orthogonal positive features",
        lambda q, k, v: attend(q, k, v, backend="performer"),
    ),
    "nystrom": ("Nyström attention, 64 landmarks", lambda q, k, v: attend(q, k, v, backend="nystrom")),
    "linformer": (
        "Linformer, keys/values mean-pooled to 256 rows",
        lambda q, k, v: attend(q, k, v, backend="linformer"),
    ),
    "int8": ("int8 queries/keys, integer QK^T (dense)", lambda q, k, v: attend(q, k, v, backend="int8")),
}


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
