"""Score modifications: functions ``score_mod(score, b, h, q_idx, kv_idx) -> score`` applied to the
scaled logits ``q·k / sqrt(d)`` before the softmax (FlexAttention's ``score_mod`` convention).

Built-in mods are :class:`ScoreMod` objects: they know whether they only *add* a bias (then a dense
backend such as SDPA can take them as an additive float mask) and, like masks, they are written in
absolute positions, lower-right aligned when ``Lq != Lk`` (``bind``). Plain callables are accepted by
``attend`` too; they receive raw indices and are treated as general (non-additive) mods.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .masks import index_grid

ModFn = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor, int], Tensor]


class ScoreMod:
    """A score modification ``fn(score, b, h, q_idx, kv_idx, offset)`` with its properties.

    Args:
        fn: the modification; ``offset = Lk - Lq`` is added to ``q_idx`` by position-aware mods.
        name: description.
        trainable: True when the mod reads tensors that may need gradients (e.g. T5's learned table);
            fast backends with a hand-written backward then defer to autograd.
        additive: True when ``fn(s, ...) == s + fn(0, ...)`` (a pure bias): dense backends may then
            materialise it as a float bias.
        uses_batch / uses_head: whether the result depends on ``b`` / ``h``.
    """

    def __init__(
        self,
        fn: ModFn,
        name: str,
        *,
        additive: bool = False,
        uses_batch: bool = False,
        uses_head: bool = True,
        trainable: bool = False,
    ) -> None:
        self._fn = fn
        self.name = name
        self.additive = additive
        self.trainable = trainable
        self.uses_batch = uses_batch
        self.uses_head = uses_head

    def __call__(self, score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        return self._fn(score, b, h, q_idx, kv_idx, 0)

    def at(self, score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor, offset: int) -> Tensor:
        """Apply at broadcastable index tensors of any rank (query ``i`` at position ``i + offset``)."""
        return self._fn(score, b, h, q_idx, kv_idx, offset)

    def bind(self, q_len: int, kv_len: int) -> Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], Tensor]:
        """The FlexAttention-style ``score_mod`` for a given ``(Lq, Lk)``."""
        offset, fn = kv_len - q_len, self._fn
        return lambda s, b, h, q, kv: fn(s, b, h, q, kv, offset)

    def apply(
        self, score: Tensor, q_range: tuple[int, int], kv_range: tuple[int, int], offset: int
    ) -> Tensor:
        """Apply to a score tile ``(B, H, q_end-q_start, kv_end-kv_start)``."""
        b, h, q, kv = index_grid(score.shape[0], score.shape[1], q_range, kv_range, device=score.device)
        return self._fn(score, b, h, q, kv, offset)

    def bias(self, batch: int, heads: int, q_len: int, kv_len: int, dtype, device) -> Tensor:
        """The additive bias ``(B|1, H|1, Lq, Lk)``; only for ``additive`` mods."""
        if not self.additive:
            raise ValueError(f"score_mod {self.name} is not a pure additive bias")
        b, h, q, kv = index_grid(
            batch, heads, (0, q_len), (0, kv_len), self.uses_batch, self.uses_head, device
        )
        zero = torch.zeros((), dtype=dtype, device=device)
        return self._fn(zero, b, h, q, kv, kv_len - q_len).to(dtype)

    def __repr__(self) -> str:
        return f"ScoreMod({self.name})"


def compose(*mods: ScoreMod) -> ScoreMod:
    """Apply several mods in order; additive when all of them are."""
    fns = [m._fn for m in mods]

    def fn(s, b, h, q, kv, off):
        for f in fns:
            s = f(s, b, h, q, kv, off)
        return s

    return ScoreMod(
        fn,
        " -> ".join(m.name for m in mods),
        additive=all(m.additive for m in mods),
        trainable=any(m.trainable for m in mods),
        uses_batch=any(m.uses_batch for m in mods),
        uses_head=any(m.uses_head for m in mods),
    )


def alibi_slopes(num_heads: int) -> Tensor:
    """ALiBi head slopes (Press et al., 2022, "Train Short, Test Long"), float64 ``(num_heads,)``.

    For ``n`` a power of two: the geometric sequence starting at ``2^(-8/n)`` with that ratio. Otherwise
    the slopes of the closest smaller power of two ``m``, followed by every other slope of ``2m``
    (the paper's reference implementation).
    """
    if not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"alibi: num_heads must be an int >= 1, got {num_heads!r}")

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    m = 2 ** math.floor(math.log2(num_heads))
    slopes = power_of_two(m)
    if m != num_heads:
        slopes += power_of_two(2 * m)[0::2][: num_heads - m]
    return torch.tensor(slopes, dtype=torch.float64)


def alibi(num_heads: int, symmetric: bool = False) -> ScoreMod:
    """ALiBi: ``score + m_h * (j - i)`` (Press et al., 2022), i.e. a linear penalty on the distance to
    past keys. ``symmetric=True`` uses ``-m_h * |i - j|`` for bidirectional encoders."""
    slopes = alibi_slopes(num_heads)

    def fn(s, b, h, q, kv, off):
        m = slopes.to(device=kv.device, dtype=s.dtype)[h.clamp(max=num_heads - 1)]  # (1|H, 1, 1) per head
        d = (kv - (q + off)).to(s.dtype)
        return s + (-m * d.abs() if symmetric else m * d)

    return ScoreMod(fn, f"alibi({num_heads}{', symmetric' if symmetric else ''})", additive=True)


def softcap(cap: float) -> ScoreMod:
    """Logit soft-capping ``cap * tanh(score / cap)`` (Gemma 2; Bello et al., 2016)."""
    if not cap > 0:
        raise ValueError(f"softcap: cap must be > 0, got {cap!r}")
    return ScoreMod(lambda s, b, h, q, kv, off: cap * torch.tanh(s / cap), f"softcap({cap})", uses_head=False)


class T5RelativeBias(nn.Module):
    """T5's bucketed relative position bias (Raffel et al., 2020, sec. 2.1): a learned scalar per head
    and bucket of the relative distance ``j - i``; half the buckets are exact small distances, the rest
    grow logarithmically up to ``max_distance``. Use :meth:`score_mod` (or ``mods.t5_bias(module)``)."""

    def __init__(
        self, num_heads: int, num_buckets: int = 32, max_distance: int = 128, bidirectional: bool = True
    ) -> None:
        super().__init__()
        if num_heads < 1 or num_buckets < 2 or max_distance < 1:
            raise ValueError("T5RelativeBias: need num_heads >= 1, num_buckets >= 2, max_distance >= 1")
        self.num_heads, self.num_buckets = num_heads, num_buckets
        self.max_distance, self.bidirectional = max_distance, bidirectional
        self.bias = nn.Embedding(num_buckets, num_heads)
        nn.init.normal_(self.bias.weight, std=0.02)

    def bucket(self, relative: Tensor) -> Tensor:
        """Bucket index of relative positions ``j - i`` (T5's ``_relative_position_bucket``)."""
        n = self.num_buckets
        out = torch.zeros_like(relative)
        if self.bidirectional:
            n //= 2
            out = out + (relative > 0).long() * n
            dist = relative.abs()
        else:
            dist = (-relative).clamp(min=0)
        exact = n // 2
        log_ratio = torch.log(dist.float().clamp(min=1) / exact) / math.log(self.max_distance / exact)
        large = (exact + (log_ratio * (n - exact)).long()).clamp(max=n - 1)
        return out + torch.where(dist < exact, dist, large)

    def score_mod(self) -> ScoreMod:
        def fn(s, b, h, q, kv, off):
            buckets = self.bucket(kv - (q + off))
            weight = self.bias.weight  # (buckets, H)
            return s + weight[buckets, h.clamp(max=self.num_heads - 1)].to(s.dtype)

        name = f"t5_bias({self.num_heads} heads, {self.num_buckets} buckets)"
        return ScoreMod(fn, name, additive=True, trainable=True)

    def forward(self, q_len: int, kv_len: int) -> Tensor:
        """The bias ``(1, H, Lq, Lk)`` (useful for inspection)."""
        return self.score_mod().bias(
            1, self.num_heads, q_len, kv_len, self.bias.weight.dtype, self.bias.weight.device
        )


def t5_bias(module: T5RelativeBias) -> ScoreMod:
    """The score mod reading a :class:`T5RelativeBias` module's learnable table."""
    if not isinstance(module, T5RelativeBias):
        raise ValueError(f"t5_bias: expected a T5RelativeBias module, got {type(module).__name__}")
    return module.score_mod()


def from_fn(
    fn: Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], Tensor],
    name: str = "custom",
    additive: bool = False,
) -> ScoreMod:
    """Wrap a FlexAttention ``score_mod(score, b, h, q_idx, kv_idx)``; it receives raw indices.

    It may close over tensors that need gradients, so it is treated as ``trainable``.
    """
    return ScoreMod(
        lambda s, b, h, q, kv, off: fn(s, b, h, q, kv),
        name,
        additive=additive,
        uses_batch=True,
        trainable=True,
    )


def as_score_mod(mod) -> ScoreMod | None:
    """Normalise ``attend``'s ``score_mod`` argument."""
    if mod is None or isinstance(mod, ScoreMod):
        return mod
    if callable(mod):
        return from_fn(mod, getattr(mod, "__name__", "custom"))
    raise ValueError(
        f"score_mod: expected None, a ScoreMod or a callable (score, b, h, q_idx, kv_idx), "
        f"got {type(mod).__name__}"
    )


ALL_MODS = {"alibi": alibi, "t5_bias": t5_bias, "softcap": softcap}
