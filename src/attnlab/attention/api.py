"""``attend``: the one entry point of the attention engine.

    out = attend(q, k, v, mask=None, score_mod=None, scale=None, dropout_p=0.0, backend="auto",
                 return_weights=False)

computes ``softmax(score_mod(q k^T * scale) masked) v`` (Vaswani et al., 2017, eq. 1) with the chosen
backend. Shapes: q ``(B, Hq, Lq, D)``, k ``(B, Hkv, Lk, D)``, v ``(B, Hkv, Lk, Dv)``, ``Hq % Hkv == 0``
(grouped-query attention when ``Hkv < Hq``; query head h uses key head ``h // (Hq // Hkv)``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Importing attnlab.attention.backends registers the built-in backends in BACKENDS.
from .backends.band_blocks import make_windows
from .backends.chunked import default_blocks
from .backends.reference import attention_weights
from .masks import EMPTY, Mask
from .mods import ScoreMod, as_score_mod
from .normalizers import Normalizer, weight_normalizer
from .request import BACKENDS, Backend, Request

# auto prefers skipping tiles over a dense kernel once a structured mask hides at least this share of
# the (query block, key block) tiles and the problem is large enough for the skipping to pay off.
SPARSE_TILE_SHARE = 0.5
SPARSE_MIN_KEYS = 1024
# Largest dense float bias (elements) auto lets SDPA materialise for an additive score mod (64 MiB fp32).
DENSE_BIAS_LIMIT = 2**24


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Mask | Tensor | None = None,
    score_mod: ScoreMod | None = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
    backend: str | Backend = "auto",
    return_weights: bool = False,
    normalizer: str | Normalizer | None = None,
):
    """Scaled dot-product attention through a chosen backend.

    Args:
        q, k, v: ``(B, Hq, Lq, D)``, ``(B, Hkv, Lk, D)``, ``(B, Hkv, Lk, Dv)``.
        mask: a :class:`~attnlab.attention.masks.Mask`, a bool tensor broadcastable to
            ``(B, Hq, Lq, Lk)`` (True = may attend), or None. Fully-masked query rows give zeros.
        score_mod: a :class:`~attnlab.attention.mods.ScoreMod` or a callable
            ``(score, b, h, q_idx, kv_idx) -> score`` applied to the scaled scores.
        scale: multiplier of ``q·k``; default ``1/sqrt(D)``.
        dropout_p: dropout on the attention weights (apply only in training).
        backend: ``"auto"``, a registered backend name (``attnlab list`` shows them), or a
            :class:`~attnlab.attention.request.Backend` (e.g. ``performer(num_features=128)``).
        return_weights: also return the softmax weights ``(B, Hq, Lq, Lk)`` (before dropout); backends
            that never form them recompute them with the reference formula.
        normalizer: None or ``"softmax"`` (default), ``"sparsemax"``, ``"entmax15"``,
            ``"gumbel_softmax"`` or a callable ``f(scores, dim=-1) -> weights``; anything but softmax
            runs on ``backend="reference"`` only (``auto`` picks it; other backends raise ValueError).

    Returns:
        ``out (B, Hq, Lq, Dv)``, or ``(out, weights)`` when ``return_weights``.

    Raises:
        ValueError: naming the argument, for bad shapes, dtypes, options, or a backend that cannot
            honour the request.
    """
    req = make_request(q, k, v, mask, score_mod, scale, dropout_p)
    norm = weight_normalizer(normalizer)
    if norm is not None and backend == "auto":
        backend = "reference"
    if isinstance(backend, Backend):
        spec = backend
    else:
        spec = BACKENDS.get(choose_backend(req) if backend == "auto" else backend)
        if spec is None:
            raise ValueError(
                f"backend: unknown backend {backend!r}; "
                f"expected 'auto', a Backend or one of {sorted(BACKENDS)}"
            )
    name = spec.name
    if norm is not None and name != "reference":
        raise ValueError(
            f"normalizer: {normalizer!r} needs backend='reference' (backend={name!r} computes softmax only)"
        )
    reason = spec.refusal(req)
    if reason is not None:
        raise ValueError(f"backend={name!r} cannot run this request: {reason}")
    if norm is not None:
        return spec.fn(q, k, v, req, return_weights=return_weights, normalizer=norm)
    if return_weights and name == "reference":
        return spec.fn(q, k, v, req, return_weights=True)
    out = spec.fn(q, k, v, req)
    if return_weights:
        return out, (spec.weights or attention_weights)(q, k, req)
    return out


def choose_backend(req: Request) -> str:
    """The fastest exact backend that supports ``req`` (the rule ``backend="auto"`` follows)."""
    # SDPA takes an additive mod only as a dense float bias (B|1, H, Lq, Lk): past a size, building it
    # costs more than the tiles that compute the mod on the fly, and it is quadratic memory.
    general_mod = req.score_mod is not None and (
        not req.score_mod.additive or req.q_heads * req.q_len * req.kv_len > DENSE_BIAS_LIMIT
    )
    if req.device.type == "cuda":
        if (general_mod or _mostly_empty(req)) and BACKENDS["flex"].check(req) is None:
            return "flex"
        return "chunked" if general_mod else "sdpa"
    if _narrow_band(req) and BACKENDS["banded"].check(req) is None:
        return "banded"
    if general_mod or _mostly_empty(req):
        return "chunked"
    return "sdpa"


def _narrow_band(req: Request) -> bool:
    """A band whose windows hold at most half of the keys, on a problem large enough to pay off."""
    if req.mask is None or req.kv_len < SPARSE_MIN_KEYS:
        return False
    geo = make_windows(req)
    return geo is not None and geo.width <= SPARSE_TILE_SHARE * req.kv_len


def _mostly_empty(req: Request) -> bool:
    mask = req.mask
    if mask is None or not mask.has_structure or req.kv_len < SPARSE_MIN_KEYS:
        return False
    if mask.dense is not None:  # a wrapped tensor's tile states cost a pass over all Lq x Lk entries
        return False
    bq, bk = default_blocks(req)
    states = mask.block_states(req.q_len, req.kv_len, bq, bk)
    return float((states == EMPTY).float().mean()) >= SPARSE_TILE_SHARE


def make_request(q, k, v, mask, score_mod, scale, dropout_p) -> Request:
    """Validate ``attend``'s arguments and bundle them; every error names the argument."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, Tensor):
            raise ValueError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            want = {"q": "(B, Hq, Lq, D)", "k": "(B, Hkv, Lk, D)", "v": "(B, Hkv, Lk, Dv)"}[name]
            raise ValueError(f"{name}: expected 4 dims {want}, got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError(f"{name}: expected a floating-point tensor, got {t.dtype}")
    (b, hq, lq, d), (bk, hkv, lk, dk), (bv, hv, lv, dv) = q.shape, k.shape, v.shape
    if not b == bk == bv:
        raise ValueError(f"k, v: batch size must match q's {b}, got k {bk} and v {bv}")
    if hkv != hv:
        raise ValueError(f"v: expected {hkv} heads like k (B, Hkv, Lk, Dv), got {hv}")
    if hkv == 0 or hq % hkv:
        raise ValueError(f"k: query heads Hq={hq} must be a multiple of key/value heads Hkv={hkv}")
    if dk != d:
        raise ValueError(f"k: head dim must equal q's D={d}, got {dk}")
    if lv != lk:
        raise ValueError(f"v: sequence length must equal k's Lk={lk}, got {lv}")
    if not q.dtype == k.dtype == v.dtype:
        raise ValueError(f"q, k, v: dtypes must match, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not q.device == k.device == v.device:
        raise ValueError(f"q, k, v: devices must match, got {q.device}, {k.device}, {v.device}")
    if not isinstance(dropout_p, (int, float)) or not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p: expected a float in [0, 1), got {dropout_p!r}")
    if scale is None:
        scale = 1.0 / math.sqrt(d) if d else 1.0
    elif not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"scale: expected a finite number or None, got {scale!r}")
    mask = _check_mask(mask, b, hq, lq, lk)
    score_mod = as_score_mod(score_mod)
    trainable_mod = score_mod is not None and score_mod.trainable
    needs_grad = torch.is_grad_enabled() and (
        q.requires_grad or k.requires_grad or v.requires_grad or trainable_mod
    )
    return Request(
        batch=b,
        q_heads=hq,
        kv_heads=hkv,
        q_len=lq,
        kv_len=lk,
        head_dim=d,
        value_dim=dv,
        dtype=q.dtype,
        device=q.device,
        mask=mask,
        score_mod=score_mod,
        scale=float(scale),
        dropout_p=float(dropout_p),
        needs_grad=needs_grad,
    )


def _check_mask(mask, b: int, h: int, lq: int, lk: int) -> Mask | None:
    if mask is None or isinstance(mask, Mask):
        return mask
    if not isinstance(mask, Tensor):
        raise ValueError(f"mask: expected a Mask, a bool tensor or None, got {type(mask).__name__}")
    target = (b, h, lq, lk)
    shape = tuple(mask.shape)
    padded = (1,) * (4 - len(shape)) + shape
    if mask.dtype != torch.bool or len(shape) > 4 or any(s not in (1, t) for s, t in zip(padded, target)):
        raise ValueError(
            f"mask: expected a bool tensor broadcastable to (B, H, Lq, Lk) = {target}, "
            f"got {mask.dtype} of shape {shape}"
        )
    return Mask.from_tensor(mask)
