"""Hypothesis strategies shared by the engine tests: random shapes, masks and score mods."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from attnlab.attention import masks, mods

LENGTHS = st.sampled_from([1, 2, 3, 5, 7, 8, 13, 16, 31, 37, 64, 97, 128, 131])


@st.composite
def shapes(draw, max_len_choices=LENGTHS):
    batch = draw(st.integers(1, 2))
    kv_heads = draw(st.integers(1, 3))
    group = draw(st.integers(1, 3))
    q_len = draw(max_len_choices)
    kv_len = draw(st.one_of(st.just(q_len), max_len_choices))
    dim = draw(st.sampled_from([1, 4, 8, 16]))
    value_dim = draw(st.sampled_from([dim, 3, 8]))
    return batch, kv_heads * group, kv_heads, q_len, kv_len, dim, value_dim


def make_qkv(shape, dtype=torch.float64, seed=0, requires_grad=False):
    b, hq, hkv, lq, lk, d, dv = shape
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, hq, lq, d, generator=g, dtype=dtype)
    k = torch.randn(b, hkv, lk, d, generator=g, dtype=dtype)
    v = torch.randn(b, hkv, lk, dv, generator=g, dtype=dtype)
    return [t.requires_grad_(requires_grad) for t in (q, k, v)]


@st.composite
def primitive_masks(draw, batch, heads, q_len, kv_len):
    n = max(q_len, kv_len)
    kind = draw(
        st.sampled_from(
            [
                "causal",
                "window",
                "cwindow",
                "padding",
                "strided",
                "fixed",
                "block_sparse",
                "bigbird",
                "global",
                "document",
                "prefix",
                "tensor",
                "fn",
                "full",
            ]
        )
    )
    if kind == "causal":
        return masks.causal()
    if kind in ("window", "cwindow"):
        return masks.sliding_window(draw(st.integers(0, 12)), causal=kind == "cwindow")
    if kind == "padding":
        lengths = draw(st.lists(st.integers(0, kv_len), min_size=batch, max_size=batch))
        return masks.padding(torch.tensor(lengths))
    if kind == "strided":
        return masks.strided(draw(st.integers(1, 9)), causal=draw(st.booleans()))
    if kind == "fixed":
        stride = draw(st.integers(1, 9))
        return masks.fixed(stride, draw(st.integers(1, stride)))
    if kind == "block_sparse":
        block = draw(st.integers(1, 16))
        nb = math.ceil(n / block)
        per_head = draw(st.booleans())
        seed = draw(st.integers(0, 1000))
        shape = (heads, nb, nb) if per_head else (nb, nb)
        layout = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < 0.4
        return masks.block_sparse(layout, block)
    if kind == "bigbird":
        return masks.bigbird(
            n,
            block=draw(st.integers(1, 8)),
            random_blocks=draw(st.integers(0, 2)),
            seed=draw(st.integers(0, 99)),
        )
    if kind == "global":
        return masks.global_tokens(draw(st.lists(st.integers(0, n - 1), min_size=0, max_size=3)))
    if kind == "document":
        cuts = sorted(draw(st.lists(st.integers(0, kv_len), max_size=4)))
        ids = torch.zeros(kv_len, dtype=torch.long)
        for c in cuts:
            ids[c:] += 1
        if draw(st.booleans()) and batch > 1:
            ids = torch.stack([ids, ids.flip(0)])
        return masks.document(ids)
    if kind == "prefix":
        return masks.prefix_lm(draw(st.integers(0, kv_len)))
    if kind == "tensor":
        seed = draw(st.integers(0, 1000))
        shape = draw(st.sampled_from([(q_len, kv_len), (batch, 1, q_len, kv_len), (1, heads, 1, kv_len)]))
        return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < 0.6
    if kind == "fn":
        return masks.Mask.from_fn(lambda b, h, q, kv: (q + kv + h) % 3 != 0, "mod3")
    return masks.full()


@st.composite
def any_masks(draw, batch, heads, q_len, kv_len):
    """None, a primitive mask, or a composition of two with &, | or ~."""
    choice = draw(st.sampled_from(["none", "one", "and", "or", "not"]))
    if choice == "none":
        return None
    a = draw(primitive_masks(batch, heads, q_len, kv_len))
    if choice == "one":
        return a
    a = a if isinstance(a, masks.Mask) else masks.Mask.from_tensor(a)
    if choice == "not":
        return ~a
    b = draw(primitive_masks(batch, heads, q_len, kv_len))
    return (a & b) if choice == "and" else (a | b)


@st.composite
def score_mods(draw, heads):
    kind = draw(st.sampled_from(["none", "none", "alibi", "alibi_sym", "softcap", "t5", "fn", "compose"]))
    if kind == "none":
        return None
    if kind == "alibi":
        return mods.alibi(heads)
    if kind == "alibi_sym":
        return mods.alibi(heads, symmetric=True)
    if kind == "softcap":
        return mods.softcap(draw(st.sampled_from([0.5, 2.0, 30.0])))
    if kind == "t5":
        torch.manual_seed(draw(st.integers(0, 100)))
        module = mods.T5RelativeBias(heads, num_buckets=8, max_distance=20, bidirectional=draw(st.booleans()))
        module.bias.weight.data.normal_()
        return mods.t5_bias(module.double())
    if kind == "fn":
        return lambda s, b, h, q, kv: s * (1.0 + 0.1 * h) - 0.05 * (q - kv).abs()
    return mods.compose(mods.alibi(heads), mods.softcap(3.0))
