"""Cross-modal attention (text <-> image), ViLBERT co-attention and Lu et al. (2016) parallel
co-attention, against einsum oracles in float64."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.layers import CoAttentionLayer, CrossModalAttention, ParallelCoAttention


def _ln(x, norm):
    mu, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    return (x - mu) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def _cross_oracle(layer: CrossModalAttention, x, ctx, ctx_mask):
    a = layer.attn
    h, d = a.num_heads, a.head_dim
    lin = lambda t, m: t @ m.weight.T + m.bias  # noqa: E731
    xn, cn = _ln(x, layer.norm_x), _ln(ctx, layer.norm_c)
    q = lin(xn, a.q_proj).unflatten(-1, (h, d))  # (B, Lx, H, D)
    k = lin(cn, a.k_proj).unflatten(-1, (h, d))
    v = lin(cn, a.v_proj).unflatten(-1, (h, d))
    s = torch.einsum("bqhd,bkhd->bhqk", q, k) / d**0.5
    if ctx_mask is not None:
        s = s.masked_fill(~ctx_mask[:, None, None, :], float("-inf"))
    w = torch.softmax(s, -1).nan_to_num(0.0)
    o = torch.einsum("bhqk,bkhd->bqhd", w, v).flatten(2)
    return x + lin(o, a.out_proj), w


@settings(max_examples=20, deadline=None)
@given(
    b=st.integers(1, 3),
    lt=st.integers(1, 5),
    n=st.integers(1, 9),
    heads=st.sampled_from([1, 2, 4]),
    seed=st.integers(0, 10_000),
)
def test_text_to_image_and_image_to_text_equal_einsum_oracle(b, lt, n, heads, seed):
    torch.manual_seed(seed)
    text, image = torch.randn(b, lt, 8, dtype=torch.float64), torch.randn(b, n, 6, dtype=torch.float64)
    image_mask = torch.arange(n)[None] < torch.randint(1, n + 1, (b,))[:, None]
    t2i = CrossModalAttention(8, heads, context_dim=6).double()
    out, w = t2i(text, image, image_mask)
    assert out.shape == (b, lt, 8) and w.shape == (b, heads, lt, n)
    want, want_w = _cross_oracle(t2i, text, image, image_mask)
    torch.testing.assert_close(w, want_w, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out, want, rtol=1e-10, atol=1e-12)
    assert (w.masked_select(~image_mask[:, None, None, :].expand_as(w)) == 0).all()
    # the other direction: image patches over (padded) text
    text_mask = torch.arange(lt)[None] < torch.randint(1, lt + 1, (b,))[:, None]
    i2t = CrossModalAttention(6, 2, context_dim=8).double()
    out, w = i2t(image, text, text_mask)
    assert out.shape == (b, n, 6) and w.shape == (b, 2, n, lt)
    want, want_w = _cross_oracle(i2t, image, text, text_mask)
    torch.testing.assert_close(out, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(w, want_w, rtol=1e-10, atol=1e-12)


def test_co_attention_layer_runs_both_directions_from_the_layer_inputs():
    torch.manual_seed(0)
    layer = CoAttentionLayer(8, 2).double()
    text, image = torch.randn(2, 4, 8, dtype=torch.float64), torch.randn(2, 6, 8, dtype=torch.float64)
    tm = torch.tensor([[True] * 4, [True, True, False, False]])
    im = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    t, v, w = layer(text, image, tm, im)
    assert t.shape == text.shape and v.shape == image.shape
    assert w["text_to_image"].shape == (2, 2, 4, 6) and w["image_to_text"].shape == (2, 2, 6, 4)
    assert (w["text_to_image"][1, ..., 3:] == 0).all() and (w["image_to_text"][1, ..., 2:] == 0).all()
    t_ref, _ = _cross_oracle(layer.text_to_image, text, image, im)  # reads the *input* image
    t_ref = t_ref + layer.ff_t(_ln(t_ref, layer.norm_t))
    torch.testing.assert_close(t, t_ref)
    # padded text must not influence the image stream
    noisy = text.clone()
    noisy[1, 2:] = 100 * torch.randn(2, 8, dtype=torch.float64)
    _, v2, _ = layer(noisy, image, tm, im)
    torch.testing.assert_close(v2[1], v[1])


def test_parallel_co_attention_equals_the_formulas_of_lu_2016():
    torch.manual_seed(1)
    layer = ParallelCoAttention(6, 5).double()
    q, v = torch.randn(2, 4, 6, dtype=torch.float64), torch.randn(2, 7, 6, dtype=torch.float64)
    tm = torch.tensor([[True] * 4, [True] * 3 + [False]])
    im = torch.tensor([[True] * 7, [True] * 5 + [False] * 2])
    v_hat, q_hat, a_v, a_q = layer(q, v, tm, im)
    for bi in range(2):
        qb, vb = q[bi, tm[bi]], v[bi, im[bi]]  # drop the padding, then the plain formulas
        c = torch.tanh(qb @ layer.w_b @ vb.T)  # (T, N)
        wq, wv = qb @ layer.w_q.weight.T, vb @ layer.w_v.weight.T
        hv = torch.tanh(wv + c.T @ wq)
        hq = torch.tanh(wq + c @ wv)
        av = torch.softmax((hv @ layer.w_hv.weight.T).squeeze(-1), 0)
        aq = torch.softmax((hq @ layer.w_hq.weight.T).squeeze(-1), 0)
        torch.testing.assert_close(a_v[bi, im[bi]], av)
        torch.testing.assert_close(a_q[bi, tm[bi]], aq)
        assert (a_v[bi, ~im[bi]] == 0).all() and (a_q[bi, ~tm[bi]] == 0).all()
        torch.testing.assert_close(v_hat[bi], av @ vb)
        torch.testing.assert_close(q_hat[bi], aq @ qb)


def test_gradients_and_bad_inputs():
    torch.manual_seed(0)
    layer = CrossModalAttention(8, 2)
    x, c = torch.randn(2, 3, 8, requires_grad=True), torch.randn(2, 5, 8, requires_grad=True)
    out, _ = layer(x, c)
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and c.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="context_mask"):
        layer(x, c, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="x, context"):
        layer(x, torch.randn(3, 5, 8))
    with pytest.raises(ValueError, match="q, v"):
        ParallelCoAttention(8)(torch.randn(2, 3, 8), torch.randn(2, 5, 7))
