"""What a backend receives and how it answers: the :class:`Request`, the backend protocol, the registry.

A backend is a plain function in a registry (HF AttentionInterface style, no subclasses):

    fn(q, k, v, request) -> out              # q (B, Hq, Lq, D), k (B, Hkv, Lk, D), v (B, Hkv, Lk, Dv)
                                             # -> out (B, Hq, Lq, Dv)
    check(request) -> str | None             # why it cannot honour the request, None when it can

``attend`` validates its arguments once, builds the :class:`Request` (keywords only), asks the
backend's :meth:`Backend.refusal` and raises a ``ValueError`` naming the backend and the reason, or
calls ``fn``. Each module of :mod:`attnlab.attention.backends` registers its backends with
:func:`register_backend` when imported; user code registers its own the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .masks import Mask
from .mods import ScoreMod


@dataclass(frozen=True, kw_only=True)
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


def expand_kv(x: Tensor, group: int) -> Tensor:
    """Repeat each key/value head ``group`` times: (B, Hkv, L, D) -> (B, Hkv*group, L, D).

    Query head h uses key/value head h // group (the GQA convention of SDPA and HF's repeat_kv).
    """
    return x if group == 1 else x.repeat_interleave(group, dim=1)


BackendFn = Callable[[Tensor, Tensor, Tensor, Request], Tensor]  # (q, k, v, request) -> out
CheckFn = Callable[[Request], str | None]  # request -> reason it cannot run, or None
WeightsFn = Callable[[Tensor, Tensor, Request], Tensor]  # (q, k, request) -> (B, Hq, Lq, Lk)


@dataclass
class Backend:
    """A registered backend.

    fn: ``fn(q, k, v, request) -> out``.
    check: ``check(request) -> str | None``, the reason this backend cannot honour a request.
    exact: computes softmax attention exactly (up to float rounding); ``auto`` only picks exact ones.
    trains: supports autograd.
    weights: ``weights(q, k, request) -> (B, Hq, Lq, Lk)``, the weights this backend really uses, for
        ``return_weights``; None means softmax weights recomputed by the reference formula.
    """

    name: str
    fn: BackendFn
    check: CheckFn
    description: str
    exact: bool = True
    trains: bool = True
    weights: WeightsFn | None = None

    def refusal(self, req: Request) -> str | None:
        """Why this backend cannot run ``req`` (its ``check``, then autograd support), None when it can."""
        reason = self.check(req)
        if reason is None and req.needs_grad and not self.trains:
            reason = "it does not support autograd"
        return reason


BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    """Add (or replace) a backend in the registry."""
    BACKENDS[backend.name] = backend
    return backend


def always(_request: Request) -> str | None:
    """The ``check`` of a backend that honours every request."""
    return None


def unmasked_only(mask_reason: str, score_what: str) -> CheckFn:
    """The ``check`` of approximations that mix positions (Nyström, Linformer): no mask (``full`` is
    fine), no score mod, no dropout. ``mask_reason`` says why masks cannot apply; ``score_what`` names the
    scores a mod would have to touch."""

    def check(req: Request) -> str | None:
        if req.mask is not None and not req.mask.is_full:
            return f"mask: {mask_reason}, so masks cannot be applied"
        if req.score_mod is not None:
            return f"score_mod cannot be applied to {score_what}"
        if req.dropout_p > 0:
            return "attention dropout is not supported"
        return None

    return check
