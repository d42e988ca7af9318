"""Alignment score modules, the masked align step, feed-forward networks and residual blocks."""

import math

import pytest
import torch

from attnlab.attention import masks
from attnlab.layers import (
    SCORES,
    AdditiveScore,
    ConcatScore,
    CosineScore,
    DotScore,
    FeedForward,
    GeneralScore,
    LayerCache,
    LocationScore,
    Residual,
    ScaledDotScore,
    TransformerBlock,
    align,
    make_score,
)


@pytest.fixture
def qk():
    torch.manual_seed(0)
    return torch.randn(2, 3, 8, dtype=torch.float64), torch.randn(2, 5, 8, dtype=torch.float64)


def test_score_formulas(qk):
    q, k = qk
    i, j, b = 1, 3, 1
    assert DotScore()(q, k)[b, i, j].item() == pytest.approx((q[b, i] @ k[b, j]).item())
    assert ScaledDotScore()(q, k)[b, i, j].item() == pytest.approx((q[b, i] @ k[b, j]).item() / math.sqrt(8))
    general = GeneralScore(8).double()
    w = general.proj.weight
    assert general(q, k)[b, i, j].item() == pytest.approx((q[b, i] @ w @ k[b, j]).item())
    add = AdditiveScore(8, hidden=6).double()
    expected = add.v.weight[0] @ torch.tanh(add.query_proj(q[b, i]) + add.key_proj(k[b, j]))
    assert add(q, k)[b, i, j].item() == pytest.approx(expected.item())
    cos = CosineScore(scale=2.0, learn_scale=False)
    expected = 2.0 * torch.nn.functional.cosine_similarity(q[b, i], k[b, j], dim=0)
    assert cos(q, k)[b, i, j].item() == pytest.approx(expected.item())
    loc = LocationScore(8, max_len=7).double()
    torch.testing.assert_close(loc(q, k), loc.proj(q)[..., :5])
    assert isinstance(ConcatScore(8), AdditiveScore)


@pytest.mark.parametrize("name", SCORES)
def test_every_score_gives_b_lq_lk(name):
    q, k = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    s = make_score(name, 8, 8, hidden=4, max_len=5)(q, k)
    assert s.shape == (2, 3, 5)
    s.sum().backward() if s.requires_grad else None


def test_score_errors():
    with pytest.raises(ValueError, match="score: unknown alignment function"):
        make_score("bilinearish", 8)
    with pytest.raises(ValueError, match="query_dim == key_dim"):
        make_score("dot", 8, 6)
    with pytest.raises(ValueError, match="max_len=4"):
        LocationScore(8, 4)(torch.randn(1, 1, 8), torch.randn(1, 5, 8))
    with pytest.raises(ValueError, match=r"query, keys: expected \(B, Lq, Dq\)"):
        DotScore()(torch.randn(3, 8), torch.randn(1, 5, 8))


def test_align_masks_padding_and_windows():
    scores = torch.randn(2, 3, 4)
    values = torch.randn(2, 4, 5)
    ctx, w = align(scores, values, lengths=torch.tensor([4, 2]))
    assert torch.all(w[1, :, 2:] == 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3))
    torch.testing.assert_close(ctx, w @ values)
    nothing = torch.zeros(2, 3, 4, dtype=torch.bool)
    ctx, w = align(scores, values, window=nothing)
    assert torch.all(w == 0) and torch.all(ctx == 0)


@pytest.mark.parametrize("activation", ["relu", "gelu", "swiglu"])
def test_feedforward_is_positionwise(activation):
    ff = FeedForward(8, 16, activation)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(ff(x)[:, 2], ff(x[:, 2:3])[:, 0])
    with pytest.raises(ValueError, match="activation"):
        FeedForward(8, activation="tanh")


def test_residual_pre_and_post_norm():
    x = torch.randn(2, 3, 8)
    pre, post = Residual(8, norm_first=True), Residual(8, norm_first=False)

    def f(h):
        return 2 * h, None

    torch.testing.assert_close(pre(x, f)[0], x + 2 * pre.norm(x))
    torch.testing.assert_close(post(x, f)[0], post.norm(3 * x))


@pytest.mark.parametrize("norm_first", [True, False])
def test_decoder_block_with_cache_equals_full(norm_first):
    torch.manual_seed(0)
    block = TransformerBlock(16, 2, 32, norm_first=norm_first, cross_attention=True).eval()
    x, memory = torch.randn(2, 4, 16), torch.randn(2, 6, 16)
    full, w = block(x, mask=masks.causal(), memory=memory, need_weights=True)
    assert w["self"].shape == (2, 2, 4, 4) and w["cross"].shape == (2, 2, 4, 6)
    cache = LayerCache()
    steps = [block(x[:, t : t + 1], mask=masks.causal(), memory=memory, cache=cache)[0] for t in range(4)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="memory"):
        block(x)
