"""Sparse and stochastic normalisers against independent oracles (bisection on the threshold, the
simplex projection's optimality, autograd's gradcheck, sampling frequencies)."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chi2

from attnlab.attention import attend
from attnlab.attention.normalizers import (
    ALL_NORMALIZERS,
    entmax15,
    gumbel_softmax,
    hard_sample,
    softmax,
    sparsemax,
)


def bisect_tau(z: list[float], mass) -> float:
    """The τ with ``Σ mass(z_i - τ) = 1`` by bisection in float64 (mass is increasing in its argument)."""
    lo, hi = max(z) - 2.0, max(z)  # at τ = max - 1 the top entry alone has mass 1; at τ = max none
    for _ in range(200):
        mid = (lo + hi) / 2
        if sum(mass(x - mid) for x in z) > 1:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def sparsemax_oracle(z: list[float]) -> list[float]:
    tau = bisect_tau(z, lambda d: max(d, 0.0))
    return [max(x - tau, 0.0) for x in z]


def entmax15_oracle(z: list[float]) -> list[float]:
    half = [x / 2 for x in z]
    tau = bisect_tau(half, lambda d: max(d, 0.0) ** 2)
    return [max(x - tau, 0.0) ** 2 for x in half]


ORACLES = {"sparsemax": (sparsemax, sparsemax_oracle), "entmax15": (entmax15, entmax15_oracle)}


def rowwise_oracle(oracle, scores: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Apply a 1-D oracle to every row of the last dim, on the visible entries only."""
    flat_s, flat_v = scores.reshape(-1, scores.shape[-1]), visible.reshape(-1, scores.shape[-1])
    out = torch.zeros_like(flat_s, dtype=torch.float64)
    for r in range(flat_s.shape[0]):
        idx = flat_v[r].nonzero().flatten().tolist()
        if idx:
            vals = oracle([float(flat_s[r, i]) for i in idx])
            out[r, idx] = torch.tensor(vals, dtype=torch.float64)
    return out.reshape(scores.shape)


@st.composite
def scores_and_mask(draw):
    shape = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    n = math.prod(shape)
    values = draw(
        st.lists(st.sampled_from([-3.0, -1.0, 0.0, 0.5, 2.0]) | st.floats(-4, 4), min_size=n, max_size=n)
    )
    keep = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if draw(st.booleans()):  # a fully-masked row somewhere
        keep[: shape[-1]] = [False] * shape[-1]
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    scores = torch.tensor(values, dtype=torch.float64).reshape(shape)
    return scores, torch.tensor(keep).reshape(shape), dim


@pytest.mark.parametrize("name", ["sparsemax", "entmax15"])
@given(data=scores_and_mask())
def test_sparse_normalizers_match_bisection_oracle_with_masks(name, data):
    fn, oracle = ORACLES[name]
    scores, keep, dim = data
    p = fn(scores, dim=dim, mask=keep)
    moved_s, moved_k = scores.movedim(dim, -1), keep.movedim(dim, -1)
    want = rowwise_oracle(oracle, moved_s, moved_k).movedim(-1, dim)
    assert not torch.isnan(p).any()
    torch.testing.assert_close(p, want, atol=1e-9, rtol=1e-7)
    assert (p[~keep] == 0).all()  # exactly zero, not small
    live = moved_k.any(-1)
    sums = p.movedim(dim, -1).sum(-1)
    torch.testing.assert_close(sums[live], torch.ones_like(sums[live]))
    assert (sums[~live] == 0).all()
    # same answer through -inf scores instead of a mask
    torch.testing.assert_close(fn(scores.masked_fill(~keep, float("-inf")), dim=dim), p)


@pytest.mark.parametrize("fn", [sparsemax, entmax15])
def test_exact_zeros_and_softmax_ordering(fn):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(50, 9, generator=g, dtype=torch.float64) * 3
    p, s = fn(z), softmax(z)
    assert ((p == 0).sum(-1) > 0).float().mean() > 0.5  # most rows are genuinely sparse
    assert (p.argmax(-1) == s.argmax(-1)).all()
    # monotone like softmax: z_i > z_j implies p_i >= p_j
    bigger = z[:, :, None] > z[:, None, :]
    assert (p[:, :, None] >= p[:, None, :])[bigger].all()
    # a score far below the rest gets exactly zero weight
    z[:, 0] = -100.0
    assert (fn(z)[:, 0] == 0).all()


def test_sparsemax_is_the_euclidean_projection_onto_the_simplex():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(20, 6, generator=g, dtype=torch.float64) * 2
    p = sparsemax(z)
    # any other point of the simplex is at least as far from z (optimality of the projection)
    others = torch.distributions.Dirichlet(torch.ones(6, dtype=torch.float64)).sample((200,))  # (200, 6)
    d_p = ((p - z) ** 2).sum(-1)  # (20,)
    d_o = ((others[:, None] - z[None]) ** 2).sum(-1)  # (200, 20)
    assert (d_o >= d_p - 1e-12).all()
    # and sparsemax is what scipy's constrained solver finds
    from scipy.optimize import minimize

    row = z[0].numpy()
    res = minimize(
        lambda x: ((x - row) ** 2).sum(), x0=[1 / 6] * 6, method="SLSQP", bounds=[(0, 1)] * 6,
        constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}], options={"ftol": 1e-12},
    )  # fmt: skip
    torch.testing.assert_close(p[0], torch.tensor(res.x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("fn", [sparsemax, entmax15])
def test_gradients_pass_gradcheck_with_masks(fn):
    g = torch.Generator().manual_seed(2)
    z = torch.randn(4, 3, 7, generator=g, dtype=torch.float64).requires_grad_()
    keep = torch.rand(4, 3, 7, generator=g) > 0.3
    keep[0, 0] = False  # a fully-masked row
    assert torch.autograd.gradcheck(lambda x: fn(x, dim=-1, mask=keep), (z,))
    assert torch.autograd.gradcheck(lambda x: fn(x, dim=1), (z,))
    out = fn(z, mask=keep)
    (out * torch.randn_like(out)).sum().backward()
    assert (z.grad[~keep] == 0).all() and torch.isfinite(z.grad).all()


def test_gumbel_straight_through_is_one_hot_with_softmax_gradients():
    z = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    keep = torch.ones(6, 5, dtype=torch.bool)
    keep[1, 2:] = False
    keep[5] = False
    hard = gumbel_softmax(z, tau=0.7, mask=keep, generator=torch.Generator().manual_seed(3))
    assert ((hard == 0) | (hard == 1)).all() and (hard.sum(-1)[:5] == 1).all()
    assert (hard[5] == 0).all() and (hard[~keep] == 0).all()
    w = torch.randn(6, 5, dtype=torch.float64)
    (hard * w).sum().backward()
    grad_hard, z.grad = z.grad.clone(), None
    soft = gumbel_softmax(z, tau=0.7, hard=False, mask=keep, generator=torch.Generator().manual_seed(3))
    (soft * w).sum().backward()
    torch.testing.assert_close(grad_hard, z.grad)
    assert (hard.argmax(-1)[:5] == soft.argmax(-1)[:5]).all()
    # the same noise by hand: softmax((z + g) / tau)
    noise = torch.empty(6, 5, dtype=torch.float64).exponential_(generator=torch.Generator().manual_seed(3))
    want = softmax((z.detach().masked_fill(~keep, float("-inf")) - noise.log()) / 0.7)
    torch.testing.assert_close(soft.detach(), want)


@pytest.mark.parametrize("sampler", ["hard_sample", "gumbel"])
def test_samples_follow_softmax_probabilities(sampler):
    z = torch.tensor([1.0, 0.0, -0.5, 2.0, float("-inf"), 0.3], dtype=torch.float64)
    probs = softmax(z)
    n = 20000
    gen = torch.Generator().manual_seed(4)
    rows = z.expand(n, -1)
    if sampler == "hard_sample":
        one_hot, log_prob, entropy = hard_sample(rows, generator=gen)
        picked = one_hot.argmax(-1)
        torch.testing.assert_close(log_prob, torch.log(probs)[picked])
        h = -(probs[probs > 0] * probs[probs > 0].log()).sum()
        torch.testing.assert_close(entropy, h.expand(n))
    else:
        one_hot = gumbel_softmax(rows, generator=gen)
    counts = one_hot.sum(0)
    assert counts[4] == 0  # never the masked position
    live = probs > 0
    expected = probs[live] * n
    stat = float((((counts[live] - expected) ** 2) / expected).sum())
    assert stat < chi2.ppf(0.999, int(live.sum()) - 1)


def test_hard_sample_masks_and_score_function_gradient():
    z = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    keep = torch.rand(3, 4, 5) > 0.4
    keep[..., 0] = True
    keep[2, 1] = False  # the only fully-masked row
    one_hot, log_prob, entropy = hard_sample(z, mask=keep, generator=torch.Generator().manual_seed(5))
    assert one_hot.shape == z.shape and log_prob.shape == entropy.shape == (3, 4)
    assert (one_hot[~keep] == 0).all() and (one_hot[2, 1] == 0).all()
    assert log_prob[2, 1] == 0 and entropy[2, 1] == 0
    log_prob.sum().backward()
    p = softmax(z.detach().masked_fill(~keep, float("-inf")))
    torch.testing.assert_close(z.grad, one_hot - p * one_hot.sum(-1, keepdim=True))  # ∇ log π(a)
    # dim other than the last
    oh, lp, _ = hard_sample(z.detach().transpose(1, 2), dim=1, mask=keep.transpose(1, 2))
    assert oh.shape == (3, 5, 4) and lp.shape == (3, 4)
    live = keep.any(-1)
    assert (oh.sum(1)[live] == 1).all() and (oh.sum(1)[~live] == 0).all()
    logp = torch.log_softmax(z.detach().masked_fill(~keep, float("-inf")), -1).transpose(1, 2)
    torch.testing.assert_close(lp[live], (logp * oh).nan_to_num(0.0).sum(1)[live])


def test_attend_accepts_weight_normalizers_on_the_reference_backend():
    g = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(2, 4, 5, 8, generator=g, dtype=torch.float64) for _ in range(3))
    k, v = k[:, :2], v[:, :2]  # GQA
    keep = torch.rand(2, 1, 5, 5, generator=g) > 0.3
    keep[0, 0, 1] = False
    for name in ("sparsemax", "entmax15"):
        out, w = attend(q, k, v, mask=keep, normalizer=name, return_weights=True)
        scores = q @ k.repeat_interleave(2, 1).transpose(-1, -2) / math.sqrt(8)
        want_w = ALL_NORMALIZERS[name](scores, mask=keep)
        torch.testing.assert_close(w, want_w)
        torch.testing.assert_close(out, want_w @ v.repeat_interleave(2, 1))
        torch.testing.assert_close(attend(q, k, v, mask=keep, normalizer=name, backend="reference"), out)
        assert (w[0, :, 1] == 0).all() and (w == 0).any()
        with pytest.raises(ValueError, match="normalizer.*reference"):
            attend(q, k, v, normalizer=name, backend="sdpa")
    torch.testing.assert_close(attend(q, k, v, normalizer="softmax"), attend(q, k, v))
    with pytest.raises(ValueError, match="normalizer"):
        attend(q, k, v, normalizer="hard_sample")
    with pytest.raises(ValueError, match="normalizer"):
        attend(q, k, v, normalizer=3)


def test_bad_inputs_raise_clear_errors():
    z = torch.randn(2, 3)
    with pytest.raises(ValueError, match="tau"):
        gumbel_softmax(z, tau=0)
    with pytest.raises(ValueError, match="mask"):
        sparsemax(z, mask=torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        entmax15(z, mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="dim"):
        hard_sample(z, dim=2)
    with pytest.raises(ValueError, match="scores"):
        sparsemax(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="scores"):
        sparsemax(torch.arange(3))
