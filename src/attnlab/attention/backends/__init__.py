"""Attention backends: plain functions in a registry (HF AttentionInterface style, no subclasses).

Every backend has the signature ``fn(q, k, v, request) -> out`` and a ``check(request) -> str | None``
that returns why it cannot honour a request (None when it can). ``attend`` validates inputs once,
builds the :class:`Request`, and dispatches. New backends (linear, Performer, ...) register here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..masks import Mask
from ..mods import ScoreMod


@dataclass
class Request:
    """Everything a backend needs to know about one ``attend`` call (inputs already validated)."""

    batch: int
    q_heads: int
    kv_heads: int
    q_len: int
    kv_len: int
    head_dim: int
    value_dim: int
    dtype: torch.dtype
    device: torch.device
    mask: Mask | None
    score_mod: ScoreMod | None
    scale: float
    dropout_p: float
    needs_grad: bool

    @property
    def offset(self) -> int:
        """Lower-right alignment: query i sits at absolute position i + offset."""
        return self.kv_len - self.q_len

    @property
    def group(self) -> int:
        """Query heads per key/value head (GQA)."""
        return self.q_heads // self.kv_heads


@dataclass
class Backend:
    """A registered backend.

    exact: computes softmax attention exactly (up to float rounding); ``auto`` only picks exact ones.
    trains: supports autograd.
    weights: ``weights(q, k, request) -> (B, Hq, Lq, Lk)``, the weights this backend really uses, for
        ``return_weights``; None means softmax weights recomputed by the reference formula.
    """

    name: str
    fn: Callable[[Tensor, Tensor, Tensor, Request], Tensor]
    check: Callable[[Request], str | None]
    description: str
    exact: bool = True
    trains: bool = True
    weights: Callable[[Tensor, Tensor, Request], Tensor] | None = None


BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    """Add (or replace) a backend in the registry."""
    BACKENDS[backend.name] = backend
    return backend


def always(_request: Request) -> str | None:
    return None


def unmasked_only(mask_reason: str, score_what: str) -> Callable[[Request], str | None]:
    """The ``check`` of approximations that mix positions (Nyström, Linformer): no mask (``full`` is
    fine), no score mod, no dropout. ``mask_reason`` says why masks cannot apply; ``score_what`` names the
    scores a mod would have to touch."""

    def check(req: Request) -> str | None:
        if req.mask is not None and req.mask.kind != "full":
            return f"mask: {mask_reason}, so masks cannot be applied"
        if req.score_mod is not None:
            return f"score_mod cannot be applied to {score_what}"
        if req.dropout_p > 0:
            return "attention dropout is not supported"
        return None

    return check


def _register_builtin() -> None:
    from . import chunked, flex, int8, linear, linformer, nystrom, performer, reference, sdpa

    for backend in (
        Backend(
            "reference",
            reference.reference_backend,
            always,
            "einsum + masked softmax, materialises everything; float64 oracle",
        ),
        Backend(
            "sdpa",
            sdpa.sdpa_backend,
            sdpa.check,
            "torch scaled_dot_product_attention (fused flash kernel where possible)",
        ),
        Backend(
            "chunked",
            chunked.chunked_backend,
            always,
            "exact online-softmax (FlashAttention) in PyTorch; O(N) memory, skips empty tiles",
        ),
        Backend(
            "flex",
            flex.flex_backend,
            flex.check,
            "torch FlexAttention (compiled); GPU first, CPU inference only",
        ),
        Backend(
            "linear",
            linear.linear_backend,
            linear.check,
            "linear attention, phi = elu+1 (Katharopoulos et al., 2020); O(N), not softmax",
            exact=False,
            weights=linear.linear_weights,
        ),
        performer.performer(),
        nystrom.nystrom(),
        linformer.linformer(),
        Backend(
            "int8",
            int8.int8_backend,
            int8.check,
            "int8 queries and keys, integer QK^T, float softmax; inference only, approximate",
            exact=False,
            trains=False,
            weights=int8.int8_weights,
        ),
    ):
        register_backend(backend)


_register_builtin()
