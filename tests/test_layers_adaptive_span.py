"""Adaptive attention span: the soft mask, log-mask bias == multiply-and-renormalise, gradients, penalty,
and skipping keys beyond the span."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.attention import attend, masks
from attnlab.attention.masks import EMPTY
from attnlab.layers import AdaptiveSpan, AdaptiveSpanAttention
from attnlab.layers.adaptive_span import soft_mask, visible_pairs


def multiply_renormalise(q, k, v, spans, ramp):
    """The paper's eq. 4 written out: causal softmax, times m_z(t - r) per head, renormalised."""
    lq, lk = q.shape[2], k.shape[2]
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, H, Lq, Lk)
    t = torch.arange(lq)[:, None] + (lk - lq)
    r = torch.arange(lk)[None, :]
    s = s.masked_fill(r > t, float("-inf"))
    p = torch.softmax(s, dim=-1)
    x = (t - r).to(q.dtype)  # (Lq, Lk)
    m = torch.clamp((ramp + spans.view(-1, 1, 1) - x) / ramp, 0, 1)  # (H, Lq, Lk)
    w = p * m
    w = w / w.sum(-1, keepdim=True)
    return w @ v, w


def test_soft_mask_values():
    # R = 4, z = 2: m(x) = clamp((6 - x) / 4, 0, 1)
    x = torch.arange(8.0)
    got = soft_mask(x, torch.tensor(2.0), 4.0)
    assert torch.allclose(got, torch.tensor([1, 1, 1, 0.75, 0.5, 0.25, 0, 0]))
    span = AdaptiveSpan(2, max_span=10, ramp=4, init=0.2)  # z = 2 for both heads
    assert span.soft_mask(x).shape == (2, 8)
    assert torch.allclose(span.soft_mask(x)[1], got)
    assert span.window() == 5  # m > 0 up to x = 5


@settings(max_examples=40, deadline=None)
@given(
    heads=st.integers(1, 3),
    lq=st.integers(1, 10),
    extra=st.integers(0, 4),
    ramp=st.floats(0.5, 8.0),
    max_span=st.integers(1, 12),
    fractions=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
    backend=st.sampled_from(["reference", "chunked", "sdpa"]),
    seed=st.integers(0, 2**16),
)
def test_log_mask_bias_equals_multiply_and_renormalise(
    heads, lq, extra, ramp, max_span, fractions, backend, seed
):
    g = torch.Generator().manual_seed(seed)
    lk = lq + extra  # Lq < Lk: KV-cache decoding, lower-right aligned
    q, k, v = (torch.randn(2, heads, n, 4, generator=g, dtype=torch.float64) for n in (lq, lk, lk))
    span = AdaptiveSpan(heads, max_span, ramp).double()
    with torch.no_grad():
        span.fraction.copy_(torch.tensor(fractions[:heads], dtype=torch.float64))
    want_out, want_w = multiply_renormalise(q, k, v, span.spans().detach(), ramp)
    out, w = attend(
        q, k, v, mask=masks.causal(), score_mod=span.score_mod(), backend=backend, return_weights=True
    )
    assert torch.allclose(w, want_w, atol=1e-12)
    assert torch.allclose(out, want_out, atol=1e-10)
    assert not torch.isnan(out).any()


def test_gradient_wrt_span_is_nonzero_inside_the_ramp_only():
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 12, 4, dtype=torch.float64) for _ in range(3))
    span = AdaptiveSpan(2, max_span=20, ramp=4).double()
    with torch.no_grad():  # head 0: z = 3, ramp covers x in (3, 7) inside the sequence
        span.fraction.copy_(torch.tensor([0.15, 1.0], dtype=torch.float64))  # head 1: z = 20 > L
    out = attend(q, k, v, mask=masks.causal(), score_mod=span.score_mod(), backend="reference")
    (out * torch.randn_like(out)).sum().backward()
    grad = span.fraction.grad
    assert torch.isfinite(grad).all()
    assert grad[0].abs() > 1e-6  # keys at x = 4..6 sit on the ramp
    assert grad[1] == 0  # every key has m = 1: the span does not touch the output


def test_penalty_value_and_current_spans():
    span = AdaptiveSpan(4, max_span=100, ramp=8, penalty=0.5)
    with torch.no_grad():
        span.fraction.copy_(torch.tensor([0.1, 0.2, 1.5, -0.3]))  # clamped to [0, 1]
    assert span.current_spans() == [10.0, 20.0, 100.0, 0.0]
    assert math.isclose(span.penalty().item(), 0.5 * (10 + 20 + 100 + 0) / 4, rel_tol=1e-6)
    span.penalty().backward()
    assert torch.allclose(span.fraction.grad, torch.tensor([12.5, 12.5, 0.0, 0.0]))
    span.clamp_()
    assert span.fraction.min() >= 0 and span.fraction.max() <= 1


def test_skipping_keys_beyond_the_span_changes_nothing():
    torch.manual_seed(1)
    n = 640
    span = AdaptiveSpan(2, max_span=n, ramp=16)
    with torch.no_grad():
        span.fraction.copy_(torch.tensor([0.01, 0.05]))  # z = 6.4, 32 -> window 47
    q, k, v = (torch.randn(1, 2, n, 8) for _ in range(3))
    window = span.mask()
    assert window.params["left"] == span.window() == math.ceil(32 + 16) - 1
    assert (window.block_states(n, n, 256, 256) == EMPTY).any()  # tiles the chunked backend skips
    dense = attend(q, k, v, mask=masks.causal(), score_mod=span.score_mod(), backend="reference")
    skipped = attend(q, k, v, mask=window, score_mod=span.score_mod(), backend="chunked")
    assert torch.allclose(skipped, dense, atol=1e-5)
    frac = span.flop_fraction(n)
    assert frac["layer"] == pytest.approx(1 - visible_pairs(n, 47) / (n * (n + 1) / 2))
    assert frac["per_head"] > frac["layer"] > 0.8


@pytest.mark.parametrize("n,w", [(1, 0), (5, 0), (5, 2), (7, 6), (7, 100), (9, None)])
def test_visible_pairs_counts_the_band(n, w):
    brute = sum(1 for i in range(n) for j in range(i + 1) if w is None or i - j <= w)
    assert visible_pairs(n, w) == brute


def test_layer_skip_equals_no_skip_and_trains_the_span():
    torch.manual_seed(2)
    layer = AdaptiveSpanAttention(16, 2, max_span=64, ramp=8, init=0.1, penalty=0.01)
    x = torch.randn(2, 40, 16)
    out, w = layer(x, need_weights=True)
    assert out.shape == (2, 40, 16) and w.shape == (2, 2, 40, 40)
    assert torch.allclose(w.sum(-1), torch.ones(2, 2, 40), atol=1e-5)
    assert (w[..., 30, : 30 - layer.span.window() - 1] == 0).all()  # nothing beyond the window
    layer.skip = False
    assert torch.allclose(layer(x)[0], out, atol=1e-5)
    (layer(x)[0].pow(2).mean() + layer.span.penalty()).backward()
    assert layer.span.fraction.grad.abs().sum() > 0


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="num_heads"):
        AdaptiveSpan(0, 10)
    with pytest.raises(ValueError, match="max_span"):
        AdaptiveSpan(2, 0)
    with pytest.raises(ValueError, match="ramp"):
        AdaptiveSpan(2, 10, ramp=0)
    with pytest.raises(ValueError, match="init"):
        AdaptiveSpan(2, 10, init=1.5)
    with pytest.raises(ValueError, match="penalty"):
        AdaptiveSpan(2, 10, penalty=-1)
