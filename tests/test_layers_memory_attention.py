"""MemoryAttention (MemN2N / KV-MemNN) against an explicit softmax-weighted sum in float64."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.layers import MemoryAttention, memory_read


def _oracle(layer: MemoryAttention, h, keys, values, mask):
    """Loop over examples, heads and facts: p_i = softmax(scale u·m_i) over real facts, o = Σ p_i c_i."""
    b, lq, d = h.shape
    hd, nh = layer.head_dim, layer.num_heads
    scale = layer.scale if layer.scale is not None else 1 / math.sqrt(hd)
    u = h @ layer.q_proj.weight.T + layer.q_proj.bias
    m = keys @ layer.k_proj.weight.T + layer.k_proj.bias
    c = values @ layer.v_proj.weight.T + layer.v_proj.bias
    o = torch.zeros(b, lq, d, dtype=h.dtype)
    p = torch.zeros(b, nh, lq, keys.shape[1], dtype=h.dtype)
    for bi in range(b):
        facts = [i for i in range(keys.shape[1]) if mask[bi, i]]
        for hi in range(nh):
            sl = slice(hi * hd, (hi + 1) * hd)
            for qi in range(lq):
                if not facts:
                    continue
                s = torch.stack([scale * (u[bi, qi, sl] @ m[bi, i, sl]) for i in facts])
                w = torch.exp(s - s.max()) / torch.exp(s - s.max()).sum()
                for j, i in enumerate(facts):
                    p[bi, hi, qi, i] = w[j]
                    o[bi, qi, sl] += w[j] * c[bi, i, sl]
    o = o @ layer.out_proj.weight.T + layer.out_proj.bias
    if layer.gate == "sigmoid":
        g = torch.sigmoid(torch.cat([h, o], -1) @ layer.gate_proj.weight.T + layer.gate_proj.bias)
        return h + g * o, p
    return (h + o if layer.gate == "residual" else o), p


@settings(max_examples=25, deadline=None)
@given(
    b=st.integers(1, 3),
    lq=st.integers(1, 3),
    m=st.integers(1, 6),
    heads=st.sampled_from([1, 2]),
    gate=st.sampled_from(["sigmoid", "residual", "none"]),
    seed=st.integers(0, 10_000),
)
def test_equals_explicit_weighted_sum_float64(b, lq, m, heads, gate, seed):
    torch.manual_seed(seed)
    layer = MemoryAttention(8, heads, key_dim=5, value_dim=3, gate=gate).double()
    h = torch.randn(b, lq, 8, dtype=torch.float64)
    keys, values = torch.randn(b, m, 5, dtype=torch.float64), torch.randn(b, m, 3, dtype=torch.float64)
    lengths = torch.randint(0, m + 1, (b,))
    mask = torch.arange(m)[None] < lengths[:, None]
    out, p = layer(h, keys, values, memory_lengths=lengths)
    want_out, want_p = _oracle(layer, h, keys, values, mask)
    torch.testing.assert_close(p, want_p, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out, want_out, rtol=1e-10, atol=1e-12)
    out2, p2 = layer(h, keys, values, memory_mask=mask)  # mask and lengths are the same thing
    torch.testing.assert_close(out2, out)


def test_padded_slots_get_zero_weight_and_do_not_change_the_read():
    torch.manual_seed(0)
    layer = MemoryAttention(8, 2)
    h, keys = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    lengths = torch.tensor([3, 5])
    out, p = layer(h, keys, memory_lengths=lengths)
    assert (p[0, :, :, 3:] == 0).all() and (p[0, :, :, :3] > 0).all()
    torch.testing.assert_close(p.sum(-1), torch.ones(2, 2, 3))
    garbage = keys.clone()
    garbage[0, 3:] = 1e3 * torch.randn(2, 8)  # what sits in padded slots must not matter
    out2, _ = layer(h, garbage, memory_lengths=lengths)
    torch.testing.assert_close(out2, out)


def test_empty_memory_reads_zero_and_keeps_gradients_finite():
    torch.manual_seed(0)
    layer = MemoryAttention(8, gate="residual")
    h = torch.randn(2, 3, 8, requires_grad=True)
    out, p = layer(h, torch.randn(2, 0, 8))  # M = 0: no fact at all
    assert p.shape == (2, 1, 3, 0)
    torch.testing.assert_close(out, h + layer.out_proj.bias)  # o = 0, then W_o 0 + b
    out.sum().backward()
    assert torch.isfinite(h.grad).all()
    # a row whose memory is all padding: zero weights, o = 0, no NaN
    out, p = layer(h.detach(), torch.randn(2, 4, 8), memory_lengths=torch.tensor([0, 4]))
    assert (p[0] == 0).all() and torch.isfinite(out).all()
    torch.testing.assert_close(out[0], h[0].detach() + layer.out_proj.bias)


def test_gradient_flows_to_hidden_keys_values_and_every_parameter():
    torch.manual_seed(0)
    layer = MemoryAttention(8, 2, key_dim=6, value_dim=4)
    h = torch.randn(2, 8, requires_grad=True)  # 2-d hidden: one query per example
    keys, values = torch.randn(2, 5, 6, requires_grad=True), torch.randn(2, 5, 4, requires_grad=True)
    out, p = layer(h, keys, values)
    assert out.shape == (2, 8) and p.shape == (2, 2, 5)
    out.pow(2).sum().backward()
    for t in (h, keys, values, *layer.parameters()):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_one_hot_key_match_reads_the_right_value():
    # identity projections, a large scale: the query equal to key j reads value j (MemN2N's lookup)
    layer = MemoryAttention(4, gate="none", scale=50.0)
    with torch.no_grad():
        for lin in (layer.q_proj, layer.k_proj, layer.v_proj, layer.out_proj):
            lin.weight.copy_(torch.eye(4))
            lin.bias.zero_()
    keys = torch.eye(4)[None].repeat(3, 1, 1)  # (B=3, M=4, 4) one-hot keys
    values = torch.arange(12.0).view(1, 4, 3).repeat(3, 1, 1) @ torch.ones(3, 4) / 3  # (3, 4, 4)
    targets = torch.tensor([2, 0, 3])
    out, p = layer(torch.eye(4)[targets], keys, values)
    assert p[:, 0].argmax(-1).tolist() == targets.tolist() and (p[:, 0].max(-1).values > 0.99).all()
    torch.testing.assert_close(out, values[torch.arange(3), targets], atol=1e-3, rtol=0)


def test_memory_read_function_and_bad_inputs():
    q, k, v = torch.randn(1, 1, 2, 4), torch.randn(1, 1, 3, 4), torch.randn(1, 1, 3, 5)
    o, p = memory_read(q, k, v, torch.tensor([[True, False, True]]))
    assert o.shape == (1, 1, 2, 5) and (p[..., 1] == 0).all()
    layer = MemoryAttention(8)
    with pytest.raises(ValueError, match="hidden"):
        layer(torch.randn(2, 3, 7), torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match="keys"):
        layer(torch.randn(2, 3, 8), torch.randn(3, 4, 8))
    with pytest.raises(ValueError, match="memory_lengths"):
        layer(torch.randn(2, 3, 8), torch.randn(2, 4, 8), memory_lengths=torch.tensor([5, 1]))
    with pytest.raises(ValueError, match="memory_mask"):
        layer(torch.randn(2, 3, 8), torch.randn(2, 4, 8), memory_mask=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="gate"):
        MemoryAttention(8, gate="max")
    with pytest.raises(ValueError, match="num_heads"):
        MemoryAttention(8, 3)
